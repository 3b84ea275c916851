"""Shared-prefix KV caching: prompts that begin with the same tokens (the same few-shot
demonstrations) compute that prefix once; each batch then runs only its prompts' own suffixes.

The suffixes are right-padded behind the cached prefix (padding in front of them would shift
sliding-window attention), with position ids that continue from the prefix, so every reading
equals the uncached one up to float rounding (tested on 8 architectures).
"""

import copy
import inspect
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor, nn

from latentlang.capture import Batch

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


def last_positions(batch: Batch) -> Int[Tensor, "batch 1"]:
    """Each suffix's last real token (right padding: it differs per row)."""
    start = len(batch.prefix.ids)
    return (batch.attention_mask[:, start:].sum(-1) - 1)[:, None]


def cache_argument(model: nn.Module) -> str:
    """The name the model's forward takes its KV cache by (``cache`` in recent transformers)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
