"""One probe forward pass, hooked: what every block call and every other module read and wrote.

:class:`Probe` finds the decoder stack among the model's module lists (the one whose calls
each read what the call before wrote, and whose last block finishes last before the
unembedding) and how its calls carry the residual stream (a
:class:`~latentlang.core.reading.Reading`); :mod:`latentlang.core.parts` uses what it saw to find the head.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import NamedTuple

from torch import Tensor, nn

from latentlang.core.reading import Reading, same
from latentlang.errors import LatentLangError


class Call(NamedTuple):
    """One call of a block: the block, its arguments and its output."""

    block: nn.Module
    args: tuple
    kwargs: dict
    output: object
    at: int  # when it finished (the probe's clock)


class Probe:
    """Hooks for one probe forward pass: every call of a block in a module list (with its
    arguments and output), what goes into and out of the modules outside the blocks, and what the
    unembedding reads and returns."""

    def __init__(self, model: nn.Module, unembed: nn.Module) -> None:
        self.model, self.unembed = model, unembed
        self.lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m)]
        in_lists = {id(m) for lst in self.lists for block in lst for m in block.modules()}
        self.outside = [
            m for m in model.modules() if id(m) not in in_lists and m is not unembed and m is not model
        ]
        self.clock = 0
        self.finished: dict[int, int] = {}  # id(block) -> when it last finished
        self.block_calls: list[Call] = []  # in the order the calls finished
        self.io: list[tuple[nn.Module, Tensor | None, Tensor | None]] = []
        self.io_at: list[int] = []  # when each of self.io finished
        self.unembed_at: int | None = None
        self.unembed_io: tuple[Tensor, Tensor] | None = None

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    @contextmanager
    def hooks(self):
        handles = []
        for lst in self.lists:
            for block in lst:
                handles.append(block.register_forward_hook(self._block_hook(block), with_kwargs=True))
        for module in self.outside:
            handles.append(module.register_forward_hook(self._io_hook(module), with_kwargs=True))
        handles.append(self.unembed.register_forward_pre_hook(self._unembed_pre))
        handles.append(self.unembed.register_forward_hook(self._unembed_post))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def _block_hook(self, block: nn.Module):
        def hook(_module, args, kwargs, output):
            self.finished[id(block)] = at = self._tick()
            self.block_calls.append(Call(block, args, kwargs, output, at))

        return hook

    def _io_hook(self, module: nn.Module):
        def hook(_module, args, kwargs, output):
            self.io_at.append(self._tick())
            tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
            # Only a module that reads one tensor can be replayed on a residual alone.
            inp = as_float(tensors[0]) if len(tensors) == 1 else None
            self.io.append((module, inp, as_float(first_output(output))))

        return hook

    def calls_of(self, lst: nn.ModuleList) -> list[Call]:
        """The calls of ``lst``'s blocks, in execution order."""
        ids = {id(block) for block in lst}
        return [call for call in self.block_calls if id(call.block) in ids]

    def module_calls(self) -> list[tuple[nn.Module, Tensor | None, Tensor | None]]:
        """``(module, input, output)`` of every module call, blocks of module lists included."""
        return self.io + [
            (c.block, as_float(_block_input(c)), as_float(first_output(c.output))) for c in self.block_calls
        ]

    def reading(self, lst: nn.ModuleList) -> Reading | None:
        """How ``lst``'s calls carry a residual stream from one to the next, if they do: each call
        reads what the one before wrote.

        Or what the one before wrote plus the output of a module that ran between them (a
        sub-layer the model adds to the stream in plain code: BLT's cross-attention to its
        patches). A looped model's chain may break only where a loop pass (re)starts (the model
        re-injects its input there, in plain code): before a call of a block that runs several
        times and either follows a block that runs once or comes no later in the list than the
        one before."""
        calls = self.calls_of(lst)
        index = {id(block): i for i, block in enumerate(lst)}
        order = [index[id(c.block)] for c in calls]
        runs = {i: order.count(i) for i in order}
        reading = Reading(calls=tuple(order) if len(order) > len(lst) else None)
        if all(
            continues(reading, calls[k - 1], calls[k])
            or self._added(reading, calls[k - 1], calls[k])
            or (runs[order[k]] > 1 and (runs[order[k - 1]] == 1 or order[k] <= order[k - 1]))
            for k in range(1, len(calls))
        ):
            return reading
        return self._entered(lst)

    def _entered(self, lst: nn.ModuleList) -> Reading | None:
        """A stack whose layers are made of parallel lists joined in plain code (XLM: attention,
        norm, MLP and norm, one list each): ``lst`` holds each layer's last module, and another
        list as long holds each layer's first, whose block ``k`` reads ``lst``'s block ``k - 1``'s
        output and runs between the two; layer 0 is what that list's first block reads."""
        calls = self.calls_of(lst)
        if len(calls) != len(lst):
            return None
        for other in self.lists:
            firsts = self.calls_of(other) if other is not lst and len(other) == len(lst) else []
            if len(firsts) == len(calls) and all(
                f.at < c.at
                and (
                    k == 0
                    or (calls[k - 1].at < f.at and same(_block_input(f), first_output(calls[k - 1].output)))
                )
                for k, (f, c) in enumerate(zip(firsts, calls))
            ):
                return Reading(entry=other[0])
        return None

    def _added(self, reading: Reading, before: Call, after: Call) -> bool:
        """Whether ``after`` reads what ``before`` wrote plus the output of a module call that
        finished between them."""
        try:
            h_in, h_out = reading.input(after.args, after.kwargs), reading.output(before.output)
        except (KeyError, IndexError, TypeError):
            return False
        if not isinstance(h_in, Tensor) or not isinstance(h_out, Tensor) or h_in.shape != h_out.shape:
            return False
        between = [out for (_, _, out), at in zip(self.io, self.io_at) if before.at < at < after.at]
        between += [first_output(c.output) for c in self.block_calls if before.at < c.at < after.at]
        return any(
            isinstance(out, Tensor) and out.shape == h_out.shape and same(h_in, h_out + out.to(h_out.device))
            for out in between
        )

    def _unembed_pre(self, _module, args):
        if self.unembed_at is None:
            self.unembed_at = self._tick()

    def _unembed_post(self, _module, args, output):
        if self.unembed_io is None and args and isinstance(args[0], Tensor):
            self.unembed_io = (args[0], output)

    def stack(self, depth: int | None) -> tuple[nn.ModuleList, Reading]:
        """The decoder blocks and how their calls carry the residual: of the lists whose blocks
        each read the one before's output, the one whose last block finished last before the
        unembedding started (preferring lists as long as the config's depth)."""
        name = type(self.model).__name__
        if self.unembed_at is None or self.unembed_io is None:
            raise LatentLangError(
                f"{name}: a forward pass did not run the unembedding as a module, so latentlang "
                "cannot find the lens parts"
            )
        ran = [
            lst
            for lst in self.lists
            if all(id(b) in self.finished for b in lst) and self.finished[id(lst[-1])] < self.unembed_at
        ]
        readings = {id(lst): self.reading(lst) for lst in ran}
        ran = [lst for lst in ran if readings[id(lst)] is not None]
        ran = [lst for lst in ran if len(lst) == depth] or ran
        if not ran:
            raise LatentLangError(
                f"{name}: found no stack of decoder layers (an nn.ModuleList of blocks, each reading "
                "the one before's output) that runs before the unembedding; latentlang needs a "
                "decoder-only transformer"
            )
        layers = max(ran, key=lambda lst: self.finished[id(lst[-1])])
        return layers, readings[id(layers)]


def continues(reading: Reading, before: Call, after: Call) -> bool:
    """Whether ``after`` reads exactly the residual that ``before`` wrote."""
    try:
        return same(reading.input(after.args, after.kwargs), reading.output(before.output))
    except (KeyError, ValueError, IndexError, TypeError, RuntimeError):  # not a stream of this reading
        return False


def _block_input(call: Call) -> Tensor | None:
    first = next((a for a in call.args if isinstance(a, Tensor)), None)
    return first if first is not None else call.kwargs.get("hidden_states")


def first_output(output):
    """A module's main output: the first item of a tuple or list (anything else as it is)."""
    return output[0] if isinstance(output, (tuple, list)) else output


def as_float(x) -> Tensor | None:
    return x if isinstance(x, Tensor) and x.is_floating_point() else None
