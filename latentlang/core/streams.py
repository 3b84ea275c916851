"""Collapses of several residual streams into one that a model does in plain code, not in a module.

Gemma-3n's AltUp keeps ``n`` predictions of the residual stream (``[n, batch, seq, d]``) through
its blocks. After the last block, ``Gemma3nTextModel.forward`` turns them into the one vector the
final norm reads: stream 0 as it is, each stream ``i ≥ 1`` through its own projection
(``altup_unembed_projections[i - 1]``) rescaled to stream 0's root-mean-square, and the mean of
the ``n``. :class:`AltUpCollapse` restates that code around the model's own projections, so the
lens can apply the same collapse to the streams after any block (the head transform runs it
before the final norm). :func:`find_collapse` finds the projections by what they read in the probe
pass; the head search then checks that the collapse gives exactly what the final norm read.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latentlang.core.reading import same


class AltUpCollapse(nn.Module):
    """AltUp's streams to one residual, as ``Gemma3nTextModel.forward`` does after its last block.

    Args:
        projections: The model's projection of each stream ``i ≥ 1`` (not copied).
    """

    def __init__(self, projections: list[nn.Module]) -> None:
        super().__init__()
        self.projections = nn.ModuleList(projections)

    def forward(self, h: Tensor) -> Tensor:
        """``[..., n_streams, d]`` → ``[..., d]``."""
        first = h[..., 0, :]
        target = torch.mean(first**2, dim=-1, keepdim=True) ** 0.5
        streams = [first]
        for i, projection in enumerate(self.projections, start=1):
            stream = projection(h[..., i, :]).to(dtype=first.dtype, device=target.device)
            magnitude = torch.sqrt(torch.mean(stream**2, dim=-1, keepdim=True).clamp(min=1e-5))
            streams.append(stream * target / magnitude)
        return torch.mean(torch.stack(streams), dim=0)


def find_collapse(
    last: Tensor, head_in: Tensor, calls: list[tuple[nn.Module, Tensor | None, Tensor | None]]
) -> AltUpCollapse | None:
    """An :class:`AltUpCollapse` for a last block output ``[n, batch, seq, d]`` (streams first)
    whose streams ``1 … n-1`` are each read by one module mapping ``d`` to ``d``; else ``None``.

    Args:
        last: The last block's output in the probe pass.
        head_in: What the unembedding read (``[batch, seq, d]``).
        calls: ``(module, input, output)`` of the probe pass's module calls.
    """
    if last.ndim != head_in.ndim + 1 or last.shape[1:] != head_in.shape or last.shape[0] < 2:
        return None
    projections = []
    for i in range(1, last.shape[0]):
        stream = last[i]
        readers = [
            m for m, inp, out in calls if same(inp, stream) and out is not None and out.shape == stream.shape
        ]
        if not readers:
            return None
        projections.append(readers[0])
    return AltUpCollapse(projections)
