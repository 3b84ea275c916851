"""Run a translation study on a tiny model locally and "on NDIF", here: print how far apart they are.

Used by ``tests/test_remote.py`` in a fresh interpreter (the suite's run-time type checks wrap
functions in objects that do not pickle). ``NdifHere`` does what NDIF does with a request:
rebuild it from the bytes nnsight sends, with latentlang, jaxtyping and beartype uninstalled as
far as the rebuilt code can tell, run it, and send back what it saved through ``torch.save``.

Usage: ``python ndif_here.py MODEL_DIR WORDS_CSV OUT_DIR``
"""

import importlib.abc
import io
import json
import linecache
import sys

import numpy as np
import torch
from nnsight.intervention.backends import local as simulation
from nnsight.intervention.backends.remote import RemoteBackend
from nnsight.ndif import pull_env
from nnsight.schema.request import RequestModel
from nnsight.tracing import globals as nnsight_globals
from nnsight.tracing.tracer import _saves, dec, inc

import latentlang
from latentlang.studies.latent import TranslationConfig, run_task

NOT_ON_NDIF = ("latentlang", "jaxtyping", "beartype")


class NotOnNdif(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in NOT_ON_NDIF:
            raise ModuleNotFoundError(f"{name} is not installed on NDIF")


class NdifHere(simulation.LocalSimulationBackend):
    """nnsight's simulation rebuilds a request but then reruns the caller's own objects; this one
    runs the rebuilt request with the local packages hidden, so only what travelled runs."""

    def __call__(self, tracer):
        pull_env()
        blob = RequestModel.serialize(tracer, compress=False)
        if not self.model.dispatched:
            self.model.dispatch()  # NDIF's copy has its weights loaded
        persistent = self.model._remoteable_persistent_objects()
        caches = (linecache.cache, nnsight_globals.SOURCES, nnsight_globals.BLOCKS)
        snapshots = [dict(cache) for cache in caches]
        hidden = self._hide_local_modules()
        finder = NotOnNdif()
        sys.meta_path.insert(0, finder)
        hidden["modules"].update(
            {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] in NOT_ON_NDIF}
        )
        try:
            restored = RequestModel.deserialize(blob, persistent, compress=False)
            inc()
            try:
                restored.execute(restored.info.code)
                saves = _saves()
                saved = {k: v for k, v in restored.info.frame.f_locals.items() if id(v) in saves}
            finally:
                dec()
            buffer = io.BytesIO()
            torch.save(saved, buffer)
        finally:
            sys.meta_path.remove(finder)
            self._restore(hidden)
            for cache, snapshot in zip(caches, snapshots):
                cache.clear()
                cache.update(snapshot)
        buffer.seek(0)
        RemoteBackend._push(self, torch.load(buffer, weights_only=False), tracer)


def gap(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).max())


def main(model_dir: str, words: str, out: str) -> dict:
    simulation.LocalSimulationBackend = NdifHere  # what remote="local" runs
    local = latentlang.load_model(model_dir, device="cpu", dtype="float32")
    remote = latentlang.load_model(model_dir, remote="local")
    results = [
        run_task(
            TranslationConfig(model=model_dir, src="fr", tgt="zh", words=words, out=f"{out}/{name}"),
            lm,
            False,
        )
        for name, lm in (("local", local), ("remote", remote))
    ]
    fields = ("probs", "control", "entropy", "energy", "top_probs", "mass", "from_source")
    report = {name: gap(getattr(results[0], name), getattr(results[1], name)) for name in fields}
    # The notebooks' protocol: its energy probes the final norm's gain inside the request.
    wendler = [
        run_task(
            TranslationConfig(
                model=model_dir,
                src="fr",
                tgt="zh",
                words=words,
                protocol="wendler2024",
                out=f"{out}/w-{name}",
            ),
            lm,
            False,
        )
        for name, lm in (("local", local), ("remote", remote))
    ]
    for name in ("probs", "energy"):
        report[f"wendler_{name}"] = gap(getattr(wendler[0], name), getattr(wendler[1], name))
    report["same_top_ids"] = bool((results[0].top_ids == results[1].top_ids).mean() > 0.99)
    grids = [latentlang.explore("chien et chat", lm) for lm in (local, remote)]
    report["grid_tokens_equal"] = bool((grids[0].top_tokens == grids[1].top_tokens).all())
    report["grid_probs"] = gap(grids[0].top_probs, grids[1].top_probs)
    batch = local.tokenize(["chien", "un chat noir"])
    captured = [lm.capture(batch) for lm in (local, remote)]
    report["residuals"] = gap(captured[0].residuals, captured[1].residuals)
    report["final_logits"] = gap(captured[0].final_logits, captured[1].final_logits)
    report["backend"] = remote.backend.name
    report["repr"] = repr(remote)
    report["n_prompts"] = len(results[1].probs)
    return report


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
