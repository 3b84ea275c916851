"""How the residual stream is read off a model's decoder blocks.

For most models the residual after block ``i`` is the block's output (its first tensor), and layer
0 is the first block's hidden-state input. Some architectures pass the stream on differently, and
:class:`Reading` says how (found by :mod:`latentlang.core.parts` in the probe pass, checked by the lens
check at load):

* **several tensors** (Reformer's reversible pair): each block returns the two halves of the
  stream, which the model concatenates only after the last block; the residual is their
  concatenation in the model's order, as wide as what the final norm reads;
* **streams first** (Gemma-3n's AltUp): a block's output is ``[n_streams, batch, seq, d]``; it is
  read as ``[batch, seq, n_streams, d]`` and flattened, as DeepSeek-V4's hyper-connections are;
* **time first** (XLNet): a block's output is ``[seq, batch, d]``, read as ``[batch, seq, d]``;
* **prepended positions** (CPM-Ant): the blocks run on ``offset`` learned prompt positions before
  the input's tokens, which the model drops after the last block; they are dropped here too;
* **block calls** (looped models: Dory, HRM): a block runs several times per forward pass; each
  call is a layer, in execution order;
* **parallel lists** (XLM): a layer is the i-th module of several lists, joined in plain code;
  its output is the last list's module's, layer 0 the first list's first module's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Reading:
    """How to read the residual from a block's input and output.

    Attributes:
        outputs: For a stream passed on as several tensors, the indices of the block output's
            tensors that make it up, concatenated in this order; ``None``: the first tensor.
        inputs: The same for the block's floating-point tensor arguments (positional, then
            keyword, in the order given); ``None``: the first tensor argument or ``hidden_states``.
        layout: The axes of a block's output: ``"batch"`` (``[batch, seq, ...]``), ``"time"``
            (``[seq, batch, d]``, XLNet) or ``"streams"`` (``[n_streams, batch, seq, d]``, AltUp).
        offset: Positions the model prepends to the input inside its blocks (read from
            ``offset`` on, so position ``p`` of the input is position ``p`` of the residual).
        calls: For a model whose blocks run several times, the index into the layer list of
            each block call, in execution order; ``None`` when each block runs once, in order.
        entry: The module whose input is layer 0 when that is not the first block: for layers
            made of parallel lists (XLM), the layer list holds each layer's last module and this
            is the first layer's first.
    """

    outputs: tuple[int, ...] | None = None
    inputs: tuple[int, ...] | None = None
    layout: Literal["batch", "time", "streams"] = "batch"
    offset: int = 0
    calls: tuple[int, ...] | None = None
    entry: nn.Module | None = field(default=None, repr=False)

    @property
    def plain(self) -> bool:
        """Whether this is the ordinary reading (what every backend supports)."""
        return self == Reading()

    def output(self, output) -> Tensor:
        """The residual after a block, from its output: ``[batch, seq, ...]``."""
        if self.outputs is None:
            return self._arrange(first_tensor(output))
        tensors = output_tensors(output)
        return self._arrange(torch.cat([tensors[i] for i in self.outputs], dim=-1))

    def input(self, args: tuple, kwargs: dict) -> Tensor:
        """The residual before a block, from its arguments: ``[batch, seq, ...]``."""
        if self.inputs is None:
            first = next((a for a in args if isinstance(a, Tensor)), None)
            return self._arrange(first if first is not None else kwargs["hidden_states"])
        tensors = input_tensors(args, kwargs)
        return self._arrange(torch.cat([tensors[i] for i in self.inputs], dim=-1))

    def _arrange(self, h: Tensor) -> Tensor:
        if self.layout != "batch":
            h = h.transpose(0, 1) if self.layout == "time" else h.movedim(0, 2)
        return h[:, self.offset :] if self.offset else h


#: The ordinary reading: a block's first output tensor, its first tensor argument.
PLAIN = Reading()


def output_tensors(output) -> list[Tensor]:
    """The tensors of a block's output, in order (a tensor, a tuple, or a ``ModelOutput``)."""
    if isinstance(output, Tensor):
        return [output]
    values = output.values() if isinstance(output, dict) else output  # a ModelOutput is a dict
    return [v for v in values if isinstance(v, Tensor)]


def input_tensors(args: tuple, kwargs: dict) -> list[Tensor]:
    """A block's floating-point tensor arguments: positional, then keyword."""
    return [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor) and a.is_floating_point()]


def first_tensor(output) -> Tensor:
    """A block's hidden state: older transformers versions (and some models still) return
    ``(hidden, ...)`` tuples or lists."""
    return output[0] if isinstance(output, (tuple, list)) else output


def same(a, b) -> bool:
    """Whether ``a`` and ``b`` are the same tensor values (shape, device and every element)."""
    return (
        isinstance(a, Tensor)
        and isinstance(b, Tensor)
        and a.shape == b.shape
        and a.device == b.device
        and torch.equal(a, b)
    )
