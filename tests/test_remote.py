"""Remote runs (NDIF through nnsight), checked offline with nnsight's local simulation.

``remote="local"`` serialises each request as for NDIF, deserialises it with local packages
hidden and runs it here. The end-to-end check runs in a fresh interpreter, without the test
suite's run-time type checking (its wrappers do not pickle), and also hides latentlang, jaxtyping
and beartype while the request is rebuilt: NDIF has none of them installed.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_CONFIGS, tiny_model
from transformers import AutoModelForCausalLM

import latentlang
from latentlang.cli import main
from latentlang.core.model import LensModel
from latentlang.core.parts import find_layers, find_parts, find_unembed, guess_final_norm
from latentlang.errors import LatentLangError
from latentlang.studies.leakage import LeakageConfig, run_leakage

SIMULATION = Path(__file__).with_name("ndif_here.py")


@pytest.mark.slow
def test_remote_simulation_gives_the_local_numbers(tiny_dir, words_csv, tmp_path):
    env = {"LATENTLANG_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(SIMULATION), str(tiny_dir), str(words_csv), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "ndif" and report["n_prompts"] > 0
    assert "float32 on NDIF, simulated here" in report["repr"]  # the dtype the server's logits had
    # The local run shares the few-shot prefix's KV cache and the remote one runs whole prompts,
    # so float32 rounding differs slightly; a wrong layer, position or norm would differ by far more.
    names = ("probs", "control", "entropy", "energy", "top_probs", "mass", "grid_probs", "from_source")
    for name in (*names, "wendler_probs", "wendler_energy"):
        assert report[name] < 1e-4, (name, report[name])
    assert report["residuals"] < 1e-5 and report["final_logits"] < 1e-4
    assert report["same_top_ids"] and report["grid_tokens_equal"]


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_final_norm_read_from_structure_is_the_one_found_by_running(arch):
    model = tiny_model(arch)
    found = find_parts(model, torch.arange(1, 9)[None]).final_norm
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(TINY_CONFIGS[arch]())
    guess = guess_final_norm(skeleton, find_layers(skeleton), find_unembed(skeleton))
    name_of = lambda root, module: next(n for n, m in root.named_modules() if m is module)  # noqa: E731
    assert name_of(skeleton, guess) == name_of(model, found)


def test_several_norm_shaped_modules_are_refused():
    model = tiny_model("llama")
    model.model.extra_norm = torch.nn.LayerNorm(model.config.hidden_size)
    with pytest.raises(LatentLangError, match="could each be the final norm"):
        guess_final_norm(model, find_layers(model), find_unembed(model))


def test_remote_needs_an_api_key(monkeypatch):
    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    monkeypatch.setattr("nnsight.CONFIG.API.APIKEY", None)
    with pytest.raises(LatentLangError, match="NDIF_API_KEY"):
        latentlang.load_model("meta-llama/Llama-3.1-70B", remote=True)


def test_remote_refuses_local_files(monkeypatch, tiny_dir):
    monkeypatch.setenv("NDIF_API_KEY", "not-a-real-key")
    with pytest.raises(LatentLangError, match="by Hub id"):
        latentlang.load_model(str(tiny_dir), remote=True)


def test_cli_remote_flag_reports_a_missing_key_in_one_line(monkeypatch, capsys):
    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    monkeypatch.setattr("nnsight.CONFIG.API.APIKEY", None)
    code = main(["translate", "--quiet", "--src", "fr", "--tgt", "zh", "--model", "some/model", "--remote"])
    err = capsys.readouterr().err
    assert code == 2 and "NDIF_API_KEY" in err and err.count("\n") == 1


class _RemoteLike:
    """Any backend whose model does not run here, like :class:`latentlang.core.remote.RemoteReader`."""

    name, local, shares_prefix, dtype, where, edits = "ndif", False, False, None, "NDIF", False

    def capture(self, model, parts, batch, positions): ...

    def read(self, model, parts, lens, batch, positions, token_sets, top_k, energy): ...

    def last_layer_logits(self, model, parts, lens, batch): ...


def test_leakage_refuses_a_remote_model():
    lm = LensModel.from_hf(tiny_model("llama"), None, backend=_RemoteLike(), check=False)
    with pytest.raises(LatentLangError, match="does not generate on NDIF"):
        run_leakage(LeakageConfig(), lm)
