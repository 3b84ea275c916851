"""Run latentlang on NDIF (the National Deep Inference Fabric) through nnsight's remote execution.

A 70B model does not fit on most machines; NDIF hosts such models and runs nnsight requests on
them. ``load_model(spec, remote=True)`` builds the model here on the meta device (its config and
tokenizer, no weights), and each batch becomes one request that runs the forward pass *and* the
lens reductions on NDIF's GPUs (:meth:`RemoteReader.read`). Only the reductions come back
(kilobytes per batch); nothing of size vocabulary x layers leaves the server. NDIF does not have
latentlang installed, so :mod:`latentlang.core.lens` travels with each request by value
(``nnsight.register``); on the server it needs only torch.

Without weights here, the final norm cannot be found by running the model, so it is read from the
structure (:func:`~latentlang.core.parts.guess_final_norm`) and then confirmed by one remote request
that compares the lens at the last layer with the model's own logits (``check=True``).

``remote="local"`` runs nnsight's serverless simulation instead: each request is serialised,
deserialised with local packages hidden, and run here on real weights. The tests use it to check,
offline, that the remote path gives the local path's numbers.

Real runs need ``NDIF_API_KEY`` in the environment (from https://login.ndif.us) and a Hub id of a
model NDIF hosts (``nnsight.ndif.status()`` lists them).
"""

from __future__ import annotations

import os
from functools import reduce

import nnsight
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from latentlang.core.backends import Captured, trace_residuals, unplain_error
from latentlang.core.batch import Batch, final_logits, forward_kwargs
from latentlang.core.lens import LensReadout, LogitLens, TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.core.parts import LensParts, find_layers, find_unembed, guess_final_norm, output_transform
from latentlang.errors import LatentLangError, first_line


def load_remote(spec: str, remote: bool | str = True, check: bool = True) -> LensModel:
    """A :class:`LensModel` whose forward passes and lens reductions run on NDIF.

    Args:
        spec: A Hugging Face Hub id of a model NDIF hosts (for ``remote="local"``, also a local
            model directory).
        remote: ``True`` for NDIF, ``"local"`` for nnsight's local simulation of a remote run.
        check: Confirm with one request that the lens at the last layer gives the model's logits.

    Raises:
        LatentLangError: No API key, a spec NDIF cannot serve, or a model latentlang cannot read.
    """
    if remote not in (True, "local"):
        raise LatentLangError(f"remote must be True (NDIF) or 'local' (a simulation), not {remote!r}")
    if remote is True:
        from nnsight import CONFIG

        if not (os.environ.get("NDIF_API_KEY") or CONFIG.API.APIKEY):
            raise LatentLangError(
                "remote runs need an NDIF API key: get one at https://login.ndif.us and set NDIF_API_KEY"
            )
        if os.path.exists(os.path.expanduser(spec)) or spec.endswith(".gguf"):
            raise LatentLangError(
                f"NDIF serves models by Hub id, not local files ({spec!r}); give a Hub id such as "
                "meta-llama/Llama-3.1-70B (nnsight.ndif.status() lists the hosted models)"
            )
    from nnsight import TransformersModel
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec)
        wrapped = TransformersModel(spec, task="text-generation", tokenizer=tokenizer)
    except (OSError, ValueError) as err:
        raise LatentLangError(f"could not read model {spec!r} for a remote run: {first_line(err)}") from None
    model = wrapped._module
    layers, unembed = find_layers(model), find_unembed(model)
    softcap, scale = output_transform(model)
    parts = LensParts(layers, guess_final_norm(model, layers, unembed), unembed, softcap, scale)
    lm = LensModel(
        model=model, tokenizer=tokenizer, parts=parts, backend=RemoteReader(wrapped, remote), name=spec
    )
    if check:
        lm.check_lens()
    return lm


class RemoteReader:
    """A :class:`~latentlang.core.backends.Backend` whose capture and lens reductions are nnsight
    requests to NDIF (or its local simulation).

    Args:
        wrapped: The ``nnsight`` model (weights on the meta device for NDIF).
        remote: ``True`` for NDIF, ``"local"`` for the simulation.
    """

    name = "ndif"
    #: The weights are on NDIF: nothing is generated or computed here.
    local = False
    #: The shared-prefix KV cache is computed here, where there are no weights.
    shares_prefix = False
    #: Edits are hooks on local modules; the forward pass runs on NDIF.
    edits = False

    def __init__(self, wrapped, remote: bool | str = True) -> None:
        nnsight.register("latentlang")  # the lens code the requests call ships with them
        self.wrapped = wrapped
        self.remote = remote
        # The modules latentlang found its parts in; a local run may swap the wrapped ones for
        # loaded copies, so envoys are looked up by path, not by the module objects.
        self.root: nn.Module = wrapped._module
        #: The dtype the server computes in, as its logits show (set by :meth:`last_layer_logits`).
        self.dtype: torch.dtype | None = None

    @property
    def where(self) -> str:
        """Where the model runs, for its repr."""
        return "NDIF" if self.remote is True else "NDIF, simulated here"

    def _envoy(self, module: nn.Module):
        """The nnsight envoy of one of the model's modules (resolved to the live one on NDIF)."""
        path = next((name for name, m in self.root.named_modules() if m is module), None)
        if path is None:
            return module  # not part of the model, e.g. nn.Identity() for a model with no final norm
        return reduce(getattr, path.split("."), self.wrapped) if path else self.wrapped

    def _lens(self, parts: LensParts) -> tuple[object, object, float | None, float]:
        return self._envoy(parts.final_norm), self._envoy(parts.unembed), parts.softcap, parts.logit_scale

    @torch.no_grad()
    def capture(
        self, model: nn.Module, parts: LensParts, batch: Batch, positions: Int[Tensor, "batch pos"]
    ) -> Captured:
        """Download the residuals at ``positions`` (for a few prompts; studies use :meth:`read`)."""
        if not parts.reading.plain:
            raise unplain_error(model, parts)
        layer_envoys = [self._envoy(layer) for layer in parts.layers]
        kwargs, keep = forward_kwargs(model, batch)
        rows = torch.arange(positions.shape[0])[:, None]
        wrapped = self.wrapped
        with wrapped.trace(**kwargs, remote=self.remote):
            residuals = nnsight.save(trace_residuals(layer_envoys, rows, positions).cpu())
            logits = nnsight.save(wrapped.output.logits.cpu())
        return Captured(residuals, final_logits(logits, batch, keep))

    @torch.no_grad()
    def read(
        self,
        model: nn.Module,
        parts: LensParts,
        lens: LogitLens,
        batch: Batch,
        positions: Int[Tensor, "batch pos"],
        token_sets: TokenSetIndex | None,
        top_k: int,
        energy: str = "latentlang",
    ) -> LensReadout:
        """One request: the forward pass, then :meth:`LogitLens.readout` on the server's GPU (with
        the server's final norm and unembedding, not ``lens``, whose weights are not here).

        Rows of the readout are (prompt, position) pairs, prompt-major, as in
        :meth:`LensModel.read`.
        """
        if not parts.reading.plain:
            raise unplain_error(model, parts)
        layer_envoys = [self._envoy(layer) for layer in parts.layers]
        norm, unembed, softcap, scale = self._lens(parts)
        kwargs, _ = forward_kwargs(model, batch)
        rows = torch.arange(positions.shape[0])[:, None]
        set_ids, set_mask = (None, None) if token_sets is None else (token_sets.ids, token_sets.mask)
        with self.wrapped.trace(**kwargs, remote=self.remote):
            h = trace_residuals(layer_envoys, rows, positions).transpose(1, 2).flatten(0, 1)
            remote_lens = LogitLens(norm, unembed.weight, unembed.bias, softcap, scale)
            if set_ids is not None:
                set_ids, set_mask = set_ids.to(h.device), set_mask.to(h.device)
            reduced = nnsight.save(
                [t if t is None else t.cpu() for t in remote_lens.reduce(h, set_ids, set_mask, top_k, energy)]
            )
        return LensReadout(*reduced)

    @torch.no_grad()
    def last_layer_logits(
        self, model: nn.Module, parts: LensParts, lens: LogitLens, batch: Batch
    ) -> tuple[Float[Tensor, "batch vocab"], Float[Tensor, "batch vocab"]]:
        """The lens's logits at the last layer and the model's own, at each prompt's last token."""
        last = self._envoy(parts.layers[-1])
        norm, unembed, softcap, scale = self._lens(parts)
        kwargs, keep = forward_kwargs(model, batch)
        rows = torch.arange(len(batch.input_ids))[:, None]
        positions = batch.last_positions().cpu()
        wrapped = self.wrapped
        with wrapped.trace(**kwargs, remote=self.remote):
            h = trace_residuals([last], rows, positions, embeddings=False)[:, -1, -1]
            remote_lens = LogitLens(norm, unembed.weight, unembed.bias, softcap, scale)
            lens_logits = nnsight.save(remote_lens.logits(h).cpu())
            logits = nnsight.save(wrapped.output.logits.cpu())
        self.dtype = logits.dtype
        return lens_logits, final_logits(logits, batch, keep)
