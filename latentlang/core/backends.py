"""Backends: how a model is run and its residual stream read, at chosen positions, at every layer.

"Layer" ``0`` is the input to the first decoder block (token embeddings, scaled as the model scales
them, plus learned positions where the model has them); layer ``i`` is the output of block ``i``.
So a model with ``n`` blocks gives ``n + 1`` residuals per position, and none of them has been
through the final norm (the logit lens applies it).

Every backend implements :class:`Backend`, the whole of what :class:`~latentlang.core.model.LensModel`
asks of one, and gives the same numbers:

* :class:`HFCapture` registers forward hooks on the decoder blocks (removed in ``finally``);
* :class:`NNsightCapture` runs the same read-out inside ``nnsight``'s ``model.trace``, through
  :func:`trace_residuals`, which :class:`latentlang.core.remote.RemoteReader` also runs on NDIF;
* :class:`TransformerLensCapture` reads TransformerLens hook points (``blocks.{i}.hook_resid_post``)
  of a ``TransformerBridge`` around the same model;
* :class:`~latentlang.core.remote.RemoteReader` runs the forward pass and the lens on NDIF.

The local ones share :class:`LocalBackend`: ``read`` is capture then the lens, and the lens check
compares the lens at the last layer with the logits of the same forward pass. Only the chosen
positions are kept, inside the hooks, so memory does not grow with prompt length.
"""

from __future__ import annotations

from functools import reduce
from typing import NamedTuple, Protocol, runtime_checkable

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from latentlang.core.batch import Batch, final_logits, forward_kwargs, renumbered_positions
from latentlang.core.lens import LensReadout, LogitLens, TokenSetIndex
from latentlang.core.parts import LensParts
from latentlang.core.reading import PLAIN, Reading, first_tensor
from latentlang.errors import LatentLangError


class Captured(NamedTuple):
    """What a backend's capture returns.

    Attributes:
        residuals: The residual stream at the chosen positions; layer 0 is the embedding output.
        final_logits: The model's own logits at each prompt's last token (for checks and for
            comparing the lens with what the model actually says).
    """

    residuals: Float[Tensor, "batch layer pos d_model"]
    final_logits: Float[Tensor, "batch vocab"]


@runtime_checkable
class Backend(Protocol):
    """Everything :class:`~latentlang.core.model.LensModel` asks of a backend.

    Attributes:
        name: Recorded in results (``hf``, ``nnsight``, ``transformer_lens``, ``ndif``).
        local: The model runs here, on its loaded weights (it can generate; batch sizes follow
            the device its weights are on).
        shares_prefix: It can run suffixes behind a shared-prefix KV cache.
        dtype: The dtype the model computes in where that is not its weights' (a remote model's,
            once known), else ``None``.
        where: Where the model runs where that is not its weights' device (for its repr), else
            ``None``.
        edits: What it reads follows edits made by forward hooks on the blocks
            (:mod:`latentlang.core.edits`).
    """

    name: str
    local: bool
    shares_prefix: bool
    edits: bool
    dtype: torch.dtype | None
    where: str | None

    def capture(
        self, model: nn.Module, parts: LensParts, batch: Batch, positions: Int[Tensor, "batch pos"]
    ) -> Captured:
        """The residuals at ``positions`` after every layer, and the model's last-token logits."""
        ...

    def read(
        self,
        model: nn.Module,
        parts: LensParts,
        lens: LogitLens,
        batch: Batch,
        positions: Int[Tensor, "batch pos"],
        token_sets: TokenSetIndex | None,
        top_k: int,
        energy: str,
    ) -> LensReadout:
        """The lens's reductions of those residuals (rows: (prompt, position) pairs, prompt-major)."""
        ...

    def last_layer_logits(
        self, model: nn.Module, parts: LensParts, lens: LogitLens, batch: Batch
    ) -> tuple[Float[Tensor, "batch vocab"], Float[Tensor, "batch vocab"]]:
        """The lens's logits at the last layer and the model's own, at each prompt's last token."""
        ...


class LocalBackend:
    """What every backend that runs the model here shares: the checks around a capture, and
    ``read`` and the lens check as capture followed by the lens (one code path for both).

    Subclasses implement :meth:`_capture` for a plain reading (and a block-by-block one if
    ``reads_any``)."""

    name = "local"
    local = True
    shares_prefix = True
    edits = True
    dtype = None
    where = None
    #: Reads any :class:`~latentlang.core.reading.Reading`, not only the plain one.
    reads_any = False

    def capture(
        self, model: nn.Module, parts: LensParts, batch: Batch, positions: Int[Tensor, "batch pos"]
    ) -> Captured:
        if not (parts.reading.plain or self.reads_any):
            raise unplain_error(model, parts)
        with renumbered_positions(parts.position_tables, batch):
            return self._capture(model, parts.layers, batch, positions, parts.reading)

    def _capture(
        self,
        model: nn.Module,
        layers: nn.ModuleList,
        batch: Batch,
        positions: Int[Tensor, "batch pos"],
        reading: Reading,
    ) -> Captured:
        raise NotImplementedError

    def read(
        self,
        model: nn.Module,
        parts: LensParts,
        lens: LogitLens,
        batch: Batch,
        positions: Int[Tensor, "batch pos"],
        token_sets: TokenSetIndex | None,
        top_k: int,
        energy: str,
    ) -> LensReadout:
        residuals = self.capture(model, parts, batch, positions).residuals  # [batch, layer, pos, d_model]
        return lens.readout(residuals.transpose(1, 2).flatten(0, 1), token_sets, top_k, energy)

    def last_layer_logits(
        self, model: nn.Module, parts: LensParts, lens: LogitLens, batch: Batch
    ) -> tuple[Float[Tensor, "batch vocab"], Float[Tensor, "batch vocab"]]:
        captured = self.capture(model, parts, batch, batch.last_positions())
        return lens.logits(captured.residuals[:, -1, -1]), captured.final_logits


def unplain_error(model: nn.Module, parts: LensParts) -> LatentLangError:
    """The error for a model whose residual only the hf backend reads (looped blocks, prepended
    positions, ...), run on a backend that reads only the plain way."""
    return LatentLangError(
        f"{type(model).__name__}: its residual is read off its blocks in a way only the hf backend "
        f"supports ({parts.reading}); load it with backend='hf'"
    )


class HFCapture(LocalBackend):
    """Capture with plain PyTorch forward hooks on the Hugging Face model's decoder blocks.

    It reads any :class:`~latentlang.core.reading.Reading`: each block call's output, in the order the
    calls finish (a looped model's block gives one layer per call)."""

    name = "hf"
    reads_any = True

    @torch.no_grad()
    def _capture(
        self,
        model: nn.Module,
        layers: nn.ModuleList,
        batch: Batch,
        positions: Int[Tensor, "batch pos"],
        reading: Reading = PLAIN,
    ) -> Captured:
        rows = torch.arange(positions.shape[0], device=positions.device)[:, None]
        grabbed: list[Tensor] = []
        target = positions.device

        def grab_input(_module, args, kwargs):
            if not grabbed:  # a looped model's first block runs again later
                grabbed.append(_gather(reading.input(args, kwargs), rows, positions, target))

        def grab_output(_module, _args, output):
            grabbed.append(_gather(reading.output(output), rows, positions, target))

        first = (
            reading.entry if reading.entry is not None else layers[reading.calls[0] if reading.calls else 0]
        )
        handles = [first.register_forward_pre_hook(grab_input, with_kwargs=True)]
        handles += [layer.register_forward_hook(grab_output) for layer in layers]
        kwargs, keep = forward_kwargs(model, batch)
        try:
            output = model(**kwargs)
        finally:
            for handle in handles:
                handle.remove()
        calls = len(reading.calls) if reading.calls else len(layers)
        if len(grabbed) != calls + 1:
            raise LatentLangError(
                f"{type(model).__name__}: its decoder blocks ran {len(grabbed) - 1} times in this forward "
                f"pass but {calls} in the probe pass; latentlang reads a fixed number of layers"
            )
        return Captured(torch.stack(grabbed, dim=1), final_logits(output.logits, batch, keep))


class NNsightCapture(LocalBackend):
    """Capture inside ``nnsight``'s ``model.trace``: the same read-out as :class:`HFCapture`."""

    name = "nnsight"
    #: nnsight reads a block's output inside its forward, before forward hooks edit it.
    edits = False

    def __init__(self) -> None:
        self._wrapped: dict[int, tuple[object, object]] = {}

    def _envoys(self, model: nn.Module, layers: nn.ModuleList):
        if id(model) not in self._wrapped:
            from nnsight import NNsight

            wrapped = NNsight(model)
            path = next(name for name, module in model.named_modules() if module is layers)
            self._wrapped[id(model)] = (wrapped, reduce(getattr, path.split("."), wrapped))
        return self._wrapped[id(model)]

    @torch.no_grad()
    def _capture(
        self,
        model: nn.Module,
        layers: nn.ModuleList,
        batch: Batch,
        positions: Int[Tensor, "batch pos"],
        reading: Reading = PLAIN,
    ) -> Captured:
        wrapped, layer_envoys = self._envoys(model, layers)
        rows = torch.arange(positions.shape[0], device=positions.device)[:, None]
        kwargs, keep = forward_kwargs(model, batch)
        envoys = [layer_envoys[i] for i in range(len(layers))]
        with wrapped.trace(**kwargs):
            residuals = trace_residuals(envoys, rows, positions, positions.device).save()
            logits = wrapped.output.logits.save()
        return Captured(residuals, final_logits(logits, batch, keep))


class TransformerLensCapture(LocalBackend):
    """Capture through TransformerLens's ``TransformerBridge``: ``blocks.0.hook_resid_pre`` and
    each ``blocks.{i}.hook_resid_post``, with hooks added for one forward pass only.

    Booting the bridge wraps the model's modules *in place* and switches its attention to the
    eager implementation (TransformerLens needs both); the weights are not copied or changed.

    Args:
        tokenizer: The model's tokenizer, as loaded from a folder or the Hub (the bridge reloads
            it by name).
    """

    name = "transformer_lens"
    #: ``run_with_hooks`` takes no past key values.
    shares_prefix = False

    def __init__(self, tokenizer=None) -> None:
        self.tokenizer = tokenizer
        self._bridges: dict[int, object] = {}

    def _bridge(self, model: nn.Module):
        if id(model) not in self._bridges:
            from transformer_lens.model_bridge import TransformerBridge

            if self.tokenizer is None or not getattr(self.tokenizer, "name_or_path", ""):
                raise LatentLangError(
                    "the transformer_lens backend needs the model's tokenizer as loaded from a folder "
                    "or the Hub; load the model with latentlang.load_model(..., backend='transformer_lens')"
                )
            if not getattr(model.config, "architectures", None):
                model.config.architectures = [type(model).__name__]  # e.g. configs read from GGUF
            weight = model.get_output_embeddings().weight
            self._bridges[id(model)] = TransformerBridge.boot_transformers(
                model.config.name_or_path or type(model).__name__,
                hf_model=model,
                tokenizer=self.tokenizer,
                device=weight.device,
                dtype=weight.dtype,
            )
        return self._bridges[id(model)]

    @torch.no_grad()
    def _capture(
        self,
        model: nn.Module,
        layers: nn.ModuleList,
        batch: Batch,
        positions: Int[Tensor, "batch pos"],
        reading: Reading = PLAIN,
    ) -> Captured:
        if batch.prefix is not None:
            raise LatentLangError("the transformer_lens backend does not run shared-prefix batches")
        bridge = self._bridge(model)
        rows = torch.arange(positions.shape[0], device=positions.device)[:, None]
        grabbed: list[Tensor | None] = [None] * (len(layers) + 1)

        def keep(index: int):
            def hook(tensor: Tensor, hook) -> None:
                grabbed[index] = tensor[rows, positions]

            return hook

        hooks = [("blocks.0.hook_resid_pre", keep(0))]
        hooks += [(f"blocks.{i}.hook_resid_post", keep(i + 1)) for i in range(len(layers))]
        logits = bridge.run_with_hooks(
            batch.input_ids,
            fwd_hooks=hooks,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            return_type="logits",
        )
        return Captured(torch.stack(grabbed, dim=1), logits[:, -1])


BACKENDS = {"hf": HFCapture, "nnsight": NNsightCapture, "transformer_lens": TransformerLensCapture}


def make_backend(name: str, tokenizer=None) -> Backend:
    """A capture backend by name: ``"hf"``, ``"nnsight"`` or ``"transformer_lens"``."""
    if name not in BACKENDS:
        raise LatentLangError(f"unknown backend {name!r}; use one of: {', '.join(BACKENDS)}")
    return TransformerLensCapture(tokenizer) if name == "transformer_lens" else BACKENDS[name]()


def trace_residuals(
    layer_envoys: list,
    rows: Int[Tensor, "batch 1"],
    positions: Int[Tensor, "batch pos"],
    device: torch.device | None = None,
    embeddings: bool = True,
) -> Float[Tensor, "batch layer pos d_model"]:
    """Inside an ``nnsight`` trace: the residual stream at ``positions`` before the first of
    ``layer_envoys`` (if ``embeddings``) and after each of them.

    It runs wherever the trace runs (on NDIF for a remote trace), so it needs only torch.

    Args:
        layer_envoys: The decoder blocks' envoys, in execution order.
        rows: ``arange(batch)[:, None]``, to pair each row with its positions.
        positions: Absolute positions to keep, per row.
        device: Where the result goes (default: the first block's device; each block of a sharded
            model may sit on its own).
        embeddings: Include the first block's input (layer 0).
    """
    outputs = []
    if embeddings:
        args, kwargs = layer_envoys[0].inputs
        outputs.append(_hidden_input(args, kwargs))
    outputs += [first_tensor(envoy.output) for envoy in layer_envoys]
    device = outputs[0].device if device is None else device
    return torch.stack([_gather(h, rows, positions, device) for h in outputs], dim=1)


def _gather(h: Tensor, rows: Tensor, positions: Tensor, target: torch.device) -> Tensor:
    """``h[rows, positions]`` on ``target``; in a sharded model each layer may sit on its own device.

    A residual of several streams (hyper-connections: ``[batch, seq, n_streams, d]``) comes back
    flattened to ``n_streams * d``; the lens's head transform unflattens it."""
    return h[rows.to(h.device), positions.to(h.device)].flatten(2).to(target)


def _hidden_input(args: tuple, kwargs: dict) -> Tensor:
    """A block's hidden-state input: its first tensor argument, else ``hidden_states``."""
    return PLAIN.input(args, kwargs)
