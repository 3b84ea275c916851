"""What a model does between its last decoder block and its logits, found from one probe pass.

Most models apply one final norm; some none (post-LN models such as OpenAI-GPT); others several
modules: a head transform ``dense → activation → LayerNorm`` before the unembedding (the BERT
family's LM heads, ModernBERT's decoder), a hyper-connection head that mixes several residual
streams into one before the norm (DeepSeek-V4), or a constant factor in plain code (MiniCPM3).
:func:`find_head` finds the shortest chain of the model's own modules that reproduces, from the
last block's output, exactly what the unembedding read; :class:`HeadTransform` runs that chain on
any residual. :func:`fit_output_transform` does the same for what comes after the unembedding
(a softcap, a scale).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from latentlang.core.reading import first_tensor, same

#: The longest chain of modules searched for between the last block and the unembedding.
MAX_CHAIN = 4


class _Reached(Exception):
    """Raised by a hook to stop a module's forward pass where the unembedding would start."""

    def __init__(self, value: Tensor) -> None:
        super().__init__()
        self.value = value


class HeadTransform(nn.Module):
    """The chain of the model's modules that maps a residual to the unembedding's input.

    Args:
        steps: The modules, applied in order. The last one may contain the unembedding (RoBERTa's
            ``lm_head`` is ``dense → gelu → layer_norm → decoder``): it runs up to the
            unembedding, whose input is the result.
        unembed: The unembedding.
        stream_shape: For a residual of several streams (hyper-connections), their shape
            ``(n_streams, d)``: captured residuals are flattened to ``n_streams * d``.
        scale: A constant factor the model applies in plain code after the last step.
    """

    def __init__(
        self,
        steps: list[nn.Module],
        unembed: nn.Module,
        stream_shape: tuple[int, ...] | None = None,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        # A tuple, not a ModuleList: the steps stay the model's modules, not children of the lens.
        self.steps = tuple(steps)
        self.stops_at = [any(m is unembed for m in step.modules()) for step in steps]
        self._unembed = (unembed,)
        self.stream_shape = stream_shape
        self.scale = scale

    def extra_repr(self) -> str:
        names = [
            type(step).__name__ + (" (up to the unembedding)" if stops else "")
            for step, stops in zip(self.steps, self.stops_at)
        ]
        streams = f", streams {self.stream_shape}" if self.stream_shape else ""
        scale = f", scale {self.scale:.6g}" if self.scale != 1.0 else ""
        return " → ".join(names) + streams + scale

    def forward(self, h: Tensor) -> Tensor:
        rows = h.shape[:-1]
        # The steps see what they saw in the model: [batch, seq, ...]; here all rows form one sequence.
        h = h.reshape(1, -1, *(self.stream_shape or h.shape[-1:]))
        for step, stops in zip(self.steps, self.stops_at):
            h = _run_to_unembed(step, self._unembed[0], h) if stops else first_tensor(step(h))
        h = h * self.scale if self.scale != 1.0 else h
        return h.reshape(*rows, h.shape[-1])


def _run_to_unembed(module: nn.Module, unembed: nn.Module, h: Tensor) -> Tensor:
    def stop(_module, args):
        raise _Reached(args[0])

    handle = unembed.register_forward_pre_hook(stop)
    try:
        module(h)
    except _Reached as reached:
        return reached.value
    finally:
        handle.remove()
    raise RuntimeError(f"{type(module).__name__} did not call the unembedding")


def find_head(
    calls: list[tuple[nn.Module, Tensor | None, Tensor | None]],
    last: Tensor,
    target: Tensor,
    unembed: nn.Module,
    collapse: nn.Module | None = None,
) -> nn.Module | None:
    """The module (or :class:`HeadTransform`) that maps ``last`` to ``target``, or ``None``.

    Args:
        calls: ``(module, input, output)`` of each module call outside the decoder blocks, in the
            order the calls finished.
        last: The last block's output in the probe pass (``[batch, seq, n_streams, d]`` for a
            residual of several streams).
        target: What the unembedding read in the same pass.
        unembed: The unembedding.
        collapse: A module that first turns several streams into one as the model's plain code
            does (:class:`~latentlang.core.streams.AltUpCollapse`); the chain starts from its output.

    Returns:
        ``nn.Identity()`` if nothing sits between them, the module itself for a chain of one
        module on an ordinary residual, else a :class:`HeadTransform`.
    """
    start = collapse(last) if collapse is not None else last
    first = [collapse] if collapse is not None else []
    stream_shape = tuple(last.shape[2:]) if last.ndim > 3 else None
    if same(start, target):
        return HeadTransform(first, unembed, stream_shape) if first else nn.Identity()
    contains = {id(m): any(sub is unembed for sub in m.modules()) for m, _, _ in calls}
    chain, scale = None, 1.0
    for length in range(1, MAX_CHAIN + 1):  # shortest first: a norm rather than its parts
        chain = _chain(calls, contains, start, target, length, set(), exact=True)
        if chain is not None:
            break
    if chain is None:  # a constant factor in plain code (MiniCPM3 divides by logits_scaling)
        for length in range(1, MAX_CHAIN + 1):
            chain = _chain(calls, contains, start, target, length, set(), exact=False)
            if chain is not None:
                out = _output_of(chain[-1], calls, contains, target)
                scale = float((out * target).sum() / (out * out).sum())
                break
    if chain is None:
        return None
    modules = first + [call[0] for call in chain]
    if len(modules) == 1 and stream_shape is None and scale == 1.0 and not contains[id(modules[0])]:
        return modules[0]
    return HeadTransform(modules, unembed, stream_shape, scale)


def _chain(calls, contains, value, target, length, used, exact):
    """Calls ``c1..cn`` (n = length) with ``c1`` reading ``value``, each reading what the one
    before returned, the last returning ``target`` (or, unless ``exact``, a multiple of it)."""
    for call in calls:
        module, inp, out = call
        if id(module) in used or not same(inp, value):
            continue
        out = _output_of(call, calls, contains, target)
        if out is None or same(out, value):  # no output, or a no-op such as dropout in eval
            continue
        if length == 1:
            if same(out, target) or (not exact and _multiple(out, target)):
                return [call]
        elif not contains[id(module)]:
            rest = _chain(calls, contains, out, target, length - 1, used | {id(module)}, exact)
            if rest is not None:
                return [call, *rest]
    return None


def _output_of(call, calls, contains, target):
    """What a call hands on: for a module that contains the unembedding, the unembedding's input."""
    module, _, out = call
    return target if contains[id(module)] else out


def _multiple(a: Tensor, b: Tensor) -> bool:
    if a.shape != b.shape or a.device != b.device:
        return False
    denominator = (a * a).sum()
    if denominator == 0:
        return False
    c = (a * b).sum() / denominator
    rtol = max(1e-5, 4 * torch.finfo(b.dtype).eps)  # x / s and x * (1 / s) round differently
    return bool(c != 1 and torch.allclose(a * c, b, rtol=rtol, atol=rtol * float(b.abs().max())))


def fit_token_scale(unembed: nn.Module, head_in: Tensor, head_out: Tensor) -> Tensor | None:
    """A factor per token by which the unembedding module scales its logits (Dory's learned
    logit scale), fitted to the probe's logits; ``None`` for a plain linear unembedding.

    The factor must reproduce every probe position to float32 rounding, else ``None`` (the lens
    check then reports the difference)."""
    weight = unembed.weight
    if not isinstance(head_out, Tensor) or head_out.shape[-1] != weight.shape[0]:
        return None
    if weight.device != head_in.device:
        return None  # e.g. an unembedding offloaded by accelerate: its weight is not here
    bias = getattr(unembed, "bias", None)
    plain = nn.functional.linear(head_in.to(weight.dtype), weight, bias if isinstance(bias, Tensor) else None)
    plain = plain.double()
    out = head_out.double()
    tolerance = 1e-5 * max(1.0, float(out.abs().max()))
    if plain.shape != out.shape or float((plain - out).abs().max()) <= tolerance:
        return None
    plain, out = plain.flatten(0, -2), out.flatten(0, -2)
    factor = (plain * out).sum(0) / (plain * plain).sum(0).clamp_min(1e-30)
    if float((plain * factor - out).abs().max()) > tolerance:
        return None
    return factor.to(unembed.weight.dtype)


def fit_output_transform(
    z: Tensor, logits: Tensor, softcap: float | None, scale: float
) -> tuple[float | None, float]:
    """The softcap and scale that turn the unembedding's output ``z`` into the model's ``logits``.

    Tries the values the config names (``softcap``, ``scale``), then none, then a scale and a
    softcap fitted to the probe; returns the config's values if none fits (the lens check then
    reports the difference).
    """
    if z.shape != logits.shape:
        return softcap, scale
    # as strict as the lens check (latentlang.core.model.LensModel.check_lens)
    relative = 1e-5 if logits.dtype in (torch.float32, torch.float64) else 1e-2
    z, logits = z.double(), logits.double().to(z.device)
    tolerance = relative * max(1.0, float(logits.abs().max()))
    candidates = [(softcap, scale), (None, 1.0)]
    fitted_scale = float((z * logits).sum() / (z * z).sum().clamp_min(1e-30))
    candidates.append((None, fitted_scale))
    cap = _fit_softcap(z, logits)
    if cap is not None:
        candidates.append((cap, 1.0))
    for cap, factor in candidates:
        out = z * factor
        if cap:
            out = torch.tanh(out / cap) * cap
        if float((out - logits).abs().max()) <= tolerance:
            return cap, factor
    return softcap, scale


def _fit_softcap(z: Tensor, logits: Tensor) -> float | None:
    """``c`` with ``c * tanh(z / c) = logits`` at the largest ``|z|`` (bisection; the left side
    grows with ``c`` from 0 to ``|z|``)."""
    i = int(z.abs().argmax())
    zi, yi = float(z.flatten()[i].abs()), float(logits.flatten()[i].abs())
    if not 0 < yi < zi:
        return None
    low, high = yi, yi * 1e6
    for _ in range(200):
        mid = (low + high) / 2
        if mid * torch.tanh(torch.tensor(zi / mid, dtype=torch.float64)) < yi:
            low = mid
        else:
            high = mid
    return (low + high) / 2
