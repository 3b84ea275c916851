"""Capture the residual stream of a left-padded batch at chosen positions, at every layer.

"Layer" ``0`` is the input to the first decoder block (token embeddings, scaled as the model scales
them, plus learned positions where the model has them); layer ``i`` is the output of block ``i``.
So a model with ``n`` blocks gives ``n + 1`` residuals per position, and none of them has been
through the final norm (the logit lens applies it).

Backends share one small Protocol, :class:`CaptureBackend`, and give the same numbers:

* :class:`HFCapture` registers forward hooks on the decoder blocks (removed in ``finally``);
* :class:`NNsightCapture` runs the same read-out inside ``nnsight``'s ``model.trace``, through
  :func:`trace_residuals`, which :class:`latentlang.remote.RemoteReader` also runs on NDIF;
* :class:`TransformerLensCapture` reads TransformerLens hook points (``blocks.{i}.hook_resid_post``)
  of a ``TransformerBridge`` around the same model.

Only the chosen positions are kept, inside the hooks, so memory does not grow with prompt length.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from functools import reduce
from typing import NamedTuple, Protocol, runtime_checkable

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from latentlang.errors import LatentLangError
from latentlang.reading import PLAIN, Reading, first_tensor


class Batch(NamedTuple):
    """A left-padded batch with the attention mask and position ids that make padding invisible.

    Attributes:
        input_ids: Token ids, padding on the left.
        attention_mask: 1 for real tokens, 0 for padding.
        position_ids: 0 at each prompt's first real token (so a padded prompt sees the same
            positions as the prompt alone; models with learned positions such as GPT-2 need this).
    """

    input_ids: Int[Tensor, "batch seq"]
    attention_mask: Int[Tensor, "batch total"]
    position_ids: Int[Tensor, "batch seq"]
    prefix: object | None = None  # a latentlang.prefix.SharedPrefix: the tokens run only cover suffixes

    @property
    def lengths(self) -> Int[Tensor, " batch"]:
        return self.attention_mask.sum(-1)

    def last_positions(self) -> Int[Tensor, "batch 1"]:
        """The index of each prompt's last token (the same column for all, thanks to left padding;
        per row behind a shared prefix, whose suffixes are right-padded)."""
        if self.prefix is not None:
            from latentlang.prefix import last_positions

            return last_positions(self)
        seq = self.input_ids.shape[1]
        return torch.full((self.input_ids.shape[0], 1), seq - 1, device=self.input_ids.device)

    def positions(self, offsets: list[int]) -> Int[Tensor, "batch pos"]:
        """Absolute indices of positions given relative to each prompt.

        Args:
            offsets: ``-1`` is each prompt's last token, ``0`` its first real token.

        Raises:
            LatentLangError: An offset falls outside some prompt.
        """
        if self.prefix is not None:
            raise LatentLangError("positions relative to each prompt need a batch without a shared prefix")
        seq = self.input_ids.shape[1]
        rel = torch.tensor(offsets, device=self.input_ids.device)[None, :]
        lengths = self.lengths[:, None]
        if ((rel >= lengths) | (rel < -lengths)).any():
            raise LatentLangError(
                f"position offsets {offsets} fall outside a prompt of {int(lengths.min())} tokens; "
                "use offsets within every prompt (-1 is the last token, 0 the first)"
            )
        return torch.where(rel < 0, seq + rel, seq - lengths + rel)


def left_pad(sequences: list[list[int]], pad_id: int, device: torch.device | str = "cpu") -> Batch:
    """Stack token-id lists into a left-padded :class:`Batch`."""
    if not sequences or min(len(s) for s in sequences) == 0:
        raise LatentLangError("cannot run an empty prompt; give every prompt at least one token")
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return Batch(ids.to(device), mask.to(device), position_ids.to(device))


class Captured(NamedTuple):
    """What a backend returns.

    Attributes:
        residuals: The residual stream at the chosen positions; layer 0 is the embedding output.
        final_logits: The model's own logits at each prompt's last token (for checks and for
            comparing the lens with what the model actually says).
    """

    residuals: Float[Tensor, "batch layer pos d_model"]
    final_logits: Float[Tensor, "batch vocab"]


@runtime_checkable
class CaptureBackend(Protocol):
    """Runs a model on a batch and returns its residuals at the given positions."""

    name: str

    def capture(
        self, model: nn.Module, layers: nn.ModuleList, batch: Batch, positions: Int[Tensor, "batch pos"]
    ) -> Captured: ...


def forward_kwargs(model: nn.Module, batch: Batch) -> tuple[dict, int]:
    """Keyword arguments for a forward pass that computes logits only for the last few columns,
    and how many columns those are (1 for a left-padded batch; behind a shared prefix, enough to
    reach every row's last token)."""
    kwargs = {
        "input_ids": batch.input_ids,
        "attention_mask": batch.attention_mask,
        "position_ids": batch.position_ids,
        "use_cache": False,
    }
    keep = 1
    if batch.prefix is not None:
        from latentlang.prefix import cache_argument

        kwargs |= {cache_argument(model): batch.prefix.expanded(len(batch.input_ids)), "use_cache": True}
        keep = batch.input_ids.shape[1] - int(batch.last_positions().min())
    params = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            kwargs[name] = keep
            return kwargs, keep
    return kwargs, batch.input_ids.shape[1]


def final_logits(logits: Tensor, batch: Batch, keep: int) -> Float[Tensor, "batch vocab"]:
    """The logits at each row's last token, from the last ``keep`` columns the model computed."""
    rows = torch.arange(len(logits), device=logits.device)
    last = batch.last_positions()[:, 0].to(logits.device) - (batch.input_ids.shape[1] - keep)
    return logits[rows, last]


class HFCapture:
    """Capture with plain PyTorch forward hooks on the Hugging Face model's decoder blocks.

    It reads any :class:`~latentlang.reading.Reading`: each block call's output, in the order the
    calls finish (a looped model's block gives one layer per call)."""

    name = "hf"
    reads_any = True

    @torch.no_grad()
    def capture(
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


class NNsightCapture:
    """Capture inside ``nnsight``'s ``model.trace``: the same read-out as :class:`HFCapture`."""

    name = "nnsight"

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
    def capture(
        self, model: nn.Module, layers: nn.ModuleList, batch: Batch, positions: Int[Tensor, "batch pos"]
    ) -> Captured:
        wrapped, layer_envoys = self._envoys(model, layers)
        rows = torch.arange(positions.shape[0], device=positions.device)[:, None]
        kwargs, keep = forward_kwargs(model, batch)
        envoys = [layer_envoys[i] for i in range(len(layers))]
        with wrapped.trace(**kwargs):
            residuals = trace_residuals(envoys, rows, positions, positions.device).save()
            logits = wrapped.output.logits.save()
        return Captured(residuals, final_logits(logits, batch, keep))


class TransformerLensCapture:
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
    def capture(
        self, model: nn.Module, layers: nn.ModuleList, batch: Batch, positions: Int[Tensor, "batch pos"]
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


def make_backend(name: str, tokenizer=None) -> CaptureBackend:
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


@contextmanager
def renumbered_positions(tables: tuple[nn.Module, ...], batch: Batch):
    """Give position tables that a model computes from the sequence length alone (``arange(seq)``,
    ignoring ``position_ids``) the rows of ``batch.position_ids``, so that a left-padded prompt
    gets the positions it has alone; decoders of sequence-to-sequence models (BART, TrOCR) need it.

    Args:
        tables: Modules whose output is ``[..., seq, d]`` with one row per position
            (:attr:`latentlang.parts.LensParts.position_tables`).
        batch: The batch about to run. Batches without padding, or behind a shared prefix (whose
            suffixes are right-padded), need nothing.
    """
    if not tables or batch.prefix is not None or bool(batch.attention_mask.all()):
        yield
        return
    position_ids = batch.position_ids

    def renumber(_module, _args, output):
        if isinstance(output, tuple):
            return tuple(renumber(_module, _args, item) for item in output)
        if not isinstance(output, Tensor) or output.ndim < 2 or output.shape[-2] != position_ids.shape[1]:
            return output
        table = output.reshape(-1, *output.shape[-2:])[0]  # the same rows for every prompt
        return table[position_ids.to(table.device)]

    handles = [module.register_forward_hook(renumber) for module in tables]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
