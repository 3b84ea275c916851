"""Batches: left-padded token ids with the mask and positions that make padding invisible, and
shared-prefix KV caching.

Prompts that begin with the same tokens (the same few-shot demonstrations) compute that prefix
once (:func:`compute_prefix`); each batch then runs only its prompts' own suffixes
(:func:`suffix_batch`). The suffixes are right-padded behind the cached prefix (padding in front
of them would shift sliding-window attention), with position ids that continue from the prefix,
so every reading equals the uncached one up to float rounding (tested on 8 architectures).
"""

from __future__ import annotations

import copy
import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from latentlang.errors import LatentLangError

#: Shortest common prefix worth caching, in tokens.
MIN_PREFIX = 16


@dataclass(frozen=True)
class SharedPrefix:
    """A token prefix and the model's cache after it.

    Attributes:
        ids: The prefix's token ids.
        cache: The model's KV cache after the prefix (batch size 1); copied, never changed.
    """

    ids: tuple[int, ...]
    cache: object

    def expanded(self, batch_size: int):
        """A fresh copy of the cache for a batch (the model appends to the cache it is given)."""
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(batch_size)
        return cache


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
    prefix: SharedPrefix | None = None  # then the tokens run cover only the suffixes

    @property
    def lengths(self) -> Int[Tensor, " batch"]:
        return self.attention_mask.sum(-1)

    def last_positions(self) -> Int[Tensor, "batch 1"]:
        """The index of each prompt's last token (the same column for all, thanks to left padding;
        per row behind a shared prefix, whose suffixes are right-padded)."""
        if self.prefix is not None:  # right-padded suffixes behind the prefix: per row
            start = len(self.prefix.ids)
            return (self.attention_mask[:, start:].sum(-1) - 1)[:, None]
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


def common_prefix(sequences: list[list[int]]) -> list[int]:
    """The longest prefix all sequences share, leaving each at least one token of its own."""
    shortest = min(len(s) for s in sequences)
    n = 0
    while n < shortest - 1 and all(s[n] == sequences[0][n] for s in sequences):
        n += 1
    return sequences[0][:n]


@torch.no_grad()
def compute_prefix(model: nn.Module, ids: list[int], device: torch.device) -> SharedPrefix:
    """Run the prefix once and keep its cache."""
    output = model(
        input_ids=torch.tensor([ids], device=device), use_cache=True, **{cache_argument(model): None}
    )
    cache = getattr(output, "cache", None) or output.past_key_values
    return SharedPrefix(tuple(ids), cache)


def suffix_batch(prefix: SharedPrefix, suffixes: list[list[int]], pad_id: int, device: torch.device) -> Batch:
    """Right-padded suffixes behind ``prefix``: the mask covers prefix and suffix, positions go on
    from the prefix's length."""
    n, width, start = len(suffixes), max(len(s) for s in suffixes), len(prefix.ids)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, start + width), dtype=torch.long)
    mask[:, :start] = 1
    positions = torch.zeros((n, width), dtype=torch.long)
    for row, suffix in enumerate(suffixes):
        ids[row, : len(suffix)] = torch.tensor(suffix)
        mask[row, start : start + len(suffix)] = 1
        positions[row] = start + torch.arange(width).clamp(max=len(suffix) - 1)
    return Batch(ids.to(device), mask.to(device), positions.to(device), prefix)


def cache_argument(model: nn.Module) -> str:
    """The name the model's forward takes its KV cache by (``cache`` in recent transformers)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


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


@contextmanager
def renumbered_positions(tables: tuple[nn.Module, ...], batch: Batch):
    """Give position tables that a model computes from the sequence length alone (``arange(seq)``,
    ignoring ``position_ids``) the rows of ``batch.position_ids``, so that a left-padded prompt
    gets the positions it has alone; decoders of sequence-to-sequence models (BART, TrOCR) need it.

    Args:
        tables: Modules whose output is ``[..., seq, d]`` with one row per position
            (:attr:`latentlang.core.parts.LensParts.position_tables`).
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
