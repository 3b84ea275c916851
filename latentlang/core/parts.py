"""Find the parts the logit lens needs in any Hugging Face causal LM, by structure.

No list of supported classes. A probe forward pass, with hooks on the model's modules, shows:

* the decoder blocks: the ``nn.ModuleList`` whose blocks each read the one before's output and
  whose last block finishes last before the unembedding runs, preferring one as long as the text
  config's depth (a vision or audio tower either does not run on text or runs earlier; blocks of
  a hybrid model need not share a class);
* the unembedding: what ``get_output_embeddings()`` returns;
* the final norm: the modules that carry the last block's output to the unembedding's input (one
  norm, none, or a chain such as a head transform dense → activation → norm, see
  :class:`~latentlang.core.head.HeadTransform`);
* the output transform (softcap, logit scale): the config's values if they reproduce the probe's
  logits from the unembedding's output, else fitted to them;
* and, in a second pass with other tokens at other ``position_ids``: position tables the model
  computes from the sequence length alone (decoders of sequence-to-sequence models), which
  capture renumbers for left-padded batches.

For a model without weights (a remote run) :func:`find_layers` and :func:`guess_final_norm` read
the structure alone. A model that hides a part gets a :class:`~latentlang.errors.LatentLangError`
naming it.
"""

from dataclasses import dataclass, replace
from itertools import permutations

import torch
from torch import Tensor, nn

from latentlang.core.head import HeadTransform, find_head, fit_output_transform, fit_token_scale
from latentlang.core.probe import Probe, continues
from latentlang.core.reading import PLAIN, Reading, input_tensors, output_tensors, same
from latentlang.core.streams import find_collapse
from latentlang.errors import LatentLangError


@dataclass
class LensParts:
    """The pieces of a causal LM that the lens and the capture hooks use.

    Attributes:
        layers: The decoder blocks, in execution order.
        final_norm: Module mapping the last block's output to the unembedding's input
            (``nn.Identity()`` when the model feeds it through unchanged, a
            :class:`~latentlang.core.head.HeadTransform` when it takes several modules).
        unembed: The output embedding (``lm_head``), a module with ``weight`` ``[vocab, d_model]``.
        softcap: The cap of ``cap * tanh(logits / cap)`` if the model caps its logits, else ``None``.
        logit_scale: Constant factor on the logits (Cohere's ``logit_scale``, 1 / Granite's
            ``logits_scaling``), 1.0 for most models.
        position_tables: Modules outside the blocks whose output is a per-position table computed
            from the sequence length, not from ``position_ids``; capture renumbers their rows.
        n_logits: How many of the unembedding's rows the model keeps as logits, if fewer than all
            (a vocabulary padded for speed, as Inkling's); ``None`` for all.
        reading: How the residual is read off the blocks' calls (see :mod:`latentlang.core.reading`).
        token_scale: A factor per token that the unembedding module multiplies its logits by
            (Dory's learned logit scale), else ``None``; the lens folds it into the rows.
    """

    layers: nn.ModuleList
    final_norm: nn.Module
    unembed: nn.Module
    softcap: float | None
    logit_scale: float
    position_tables: tuple[nn.Module, ...] = ()
    n_logits: int | None = None
    reading: Reading = PLAIN
    token_scale: Tensor | None = None

    @property
    def depth(self) -> int:
        """The number of layers read (block calls for a looped model), not counting layer 0."""
        calls = self.reading.calls
        return len(calls) if calls is not None else len(self.layers)


def find_layers(model: nn.Module) -> nn.ModuleList:
    """The model's stack of decoder blocks, read from the structure alone (no forward pass): the
    ``nn.ModuleList`` as long as the text config's depth, else the largest one of same-class blocks.

    :func:`find_parts` runs the model instead and picks the stack that runs last.
    """
    depth = decoder_depth(model)
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m)]
    matching = [m for m in lists if len(m) == depth]
    same_class = [m for m in lists if len({type(block) for block in m}) == 1]
    candidates = matching or same_class
    if not candidates:
        raise LatentLangError(
            f"{type(model).__name__}: found no stack of decoder layers (an nn.ModuleList of "
            "blocks); latentlang needs a decoder-only transformer"
        )
    best = max(candidates, key=lambda m: sum(p.numel() for p in m.parameters()))
    if depth is not None and depth != len(best):
        raise LatentLangError(
            f"{type(model).__name__}: the largest layer stack has {len(best)} blocks but the config "
            f"says num_hidden_layers={depth}; latentlang cannot tell which are the decoder layers"
        )
    return best


def find_unembed(model: nn.Module) -> nn.Module:
    """The output embedding, via the Hugging Face ``get_output_embeddings()`` API."""
    getter = getattr(model, "get_output_embeddings", None)
    unembed = getter() if getter is not None else None
    if unembed is None or getattr(unembed, "weight", None) is None or unembed.weight.ndim != 2:
        raise LatentLangError(
            f"{type(model).__name__}: found no unembedding (get_output_embeddings() returned "
            f"{type(unembed).__name__}); load the model with its language-modelling head "
            "(AutoModelForCausalLM)"
        )
    return unembed


def output_transform(model: nn.Module) -> tuple[float | None, float]:
    """The softcap and logit scale the model applies after its unembedding, from its config."""
    config = _text_config(model)
    softcap = next((getattr(config, name) for name in _SOFTCAPS if getattr(config, name, None)), None)
    scale = float(getattr(config, "logit_scale", None) or 1.0)
    if getattr(config, "logits_scaling", None):
        scale /= float(config.logits_scaling)
    return softcap, scale


#: Config fields that cap the logits (Gemma-2, RecurrentGemma, xLSTM).
_SOFTCAPS = ("final_logit_softcapping", "logits_soft_cap", "output_logit_soft_cap")


def decoder_depth(model: nn.Module) -> int | None:
    """The number of decoder blocks the config names (its text decoder's, for a multimodal model)."""
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        try:
            config = config.get_text_config(decoder=True)
        except ValueError:  # several text configs: the decoder's cannot be told apart
            return None
    depth = getattr(config, "num_hidden_layers", None)
    return depth if isinstance(depth, int) else None


@torch.no_grad()
def find_parts(model: nn.Module, probe_ids: Tensor) -> LensParts:
    """All lens parts of ``model``, found by structure and two probe forward passes."""
    unembed = find_unembed(model)
    device = unembed.weight.device
    probe = Probe(model, unembed)
    with probe.hooks():
        output = model(input_ids=probe_ids.to(device), use_cache=False)
    layers, reading = probe.stack(decoder_depth(model))
    head_in, head_out = probe.unembed_io
    final_norm, reading = _final_norm(probe, layers, reading, head_in)
    logits = getattr(output, "logits", None)
    softcap, scale = output_transform(model)
    n_logits, token_scale = None, fit_token_scale(unembed, head_in, head_out)
    if isinstance(logits, Tensor) and isinstance(head_out, Tensor):
        if logits.shape[-1] < head_out.shape[-1]:  # the model drops the padding rows of its vocabulary
            n_logits = logits.shape[-1]
        z = head_out[..., -1, : logits.shape[-1]]
        softcap, scale = fit_output_transform(z, logits[..., -1, :], softcap, scale)
    tables = _position_tables(model, probe, probe_ids.to(device))
    return LensParts(layers, final_norm, unembed, softcap, scale, tables, n_logits, reading, token_scale)


def _final_norm(probe: Probe, layers: nn.ModuleList, reading: Reading, head_in: Tensor):
    """The head transform from the last block call's output to the unembedding's input, and the
    reading it needs: the first of :data:`_HEAD_SEARCHES` that finds one."""
    last_output = probe.calls_of(layers)[-1].output
    for search in _HEAD_SEARCHES:
        found = search(probe, layers, reading, last_output, head_in)
        if found is not None:
            return found
    raise LatentLangError(
        f"{type(probe.model).__name__}: no chain of modules maps the last decoder layer's output to "
        "the unembedding's input (the model transforms it in plain code, not in modules); "
        "latentlang cannot apply the logit lens to this model"
    )


def _direct(probe, layers, reading, last_output, head_in):
    """The ordinary case: a chain of modules from the last block's output."""
    head = find_head(probe.io, reading.output(last_output), head_in, probe.unembed)
    return None if head is None else (head, reading)


def _prepended(probe, layers, reading, last_output, head_in):
    """Positions the model prepends inside its blocks and drops after them (CPM-Ant's prompt)."""
    last = reading.output(last_output)
    if not (last.ndim == head_in.ndim > 2 and last.shape[0] == head_in.shape[0]):
        return None
    seq, extra = last.shape[1], last.shape[1] - head_in.shape[1]
    if extra <= 0:
        return None
    calls = [(m, _drop(i, seq, extra), _drop(o, seq, extra)) for m, i, o in probe.io]
    reading = replace(reading, offset=extra)
    head = find_head(calls, reading.output(last_output), head_in, probe.unembed)
    return None if head is None else (head, reading)


def _time_first(probe, layers, reading, last_output, head_in):
    """Blocks that keep time as the first axis, ``[seq, batch, d]`` (XLNet)."""
    last = reading.output(last_output)
    if not (last.ndim == head_in.ndim > 2 and last.shape[1::-1] == head_in.shape[:2] != last.shape[:2]):
        return None
    reading = replace(reading, layout="time")
    head = find_head(probe.io, reading.output(last_output), head_in, probe.unembed)
    return None if head is None else (head, reading)


def _collapsed(probe, layers, reading, last_output, head_in):
    """Several streams, first axis, that the model collapses in plain code (Gemma-3n's AltUp)."""
    collapse = find_collapse(reading.output(last_output), head_in, probe.module_calls())
    if collapse is None:
        return None
    reading = replace(reading, layout="streams")
    head = find_head(probe.io, reading.output(last_output), head_in, probe.unembed, collapse)
    return None if head is None else (head, reading)


def _split(probe, layers, reading, last_output, head_in):
    """A stream that each block passes on as several tensors of one shape (Reformer's reversible
    pair): the order of the last call's output tensors whose concatenation a chain of modules maps
    to the unembedding's input, and the matching order of the block's arguments (from what the
    last call read of the call before)."""
    calls = probe.calls_of(layers)
    if len(calls) < 2:
        return None
    outs, before = output_tensors(calls[-1].output), output_tensors(calls[-2].output)
    ins = input_tensors(calls[-1].args, calls[-1].kwargs)
    alike = [i for i, t in enumerate(outs) if t.shape == outs[0].shape]
    if not 2 <= len(alike) <= 4 or len(before) != len(outs) or outs[0].shape[:-1] != head_in.shape[:-1]:
        return None
    for order in permutations(alike):
        head = find_head(probe.io, torch.cat([outs[i] for i in order], dim=-1), head_in, probe.unembed)
        if head is None:
            continue
        inputs = [next((j for j, t in enumerate(ins) if same(t, before[i])), None) for i in order]
        if None in inputs or len(set(inputs)) < len(inputs):
            return None
        reading = replace(reading, outputs=tuple(order), inputs=tuple(inputs))
        if not all(continues(reading, a, b) for a, b in zip(calls, calls[1:])):
            return None  # every call must read the whole stream the one before wrote
        return head, reading
    return None


#: How :func:`find_parts` looks for the head, in order.
_HEAD_SEARCHES = (_direct, _prepended, _time_first, _split, _collapsed)


def _drop(x: Tensor | None, seq: int, extra: int) -> Tensor | None:
    """``x`` without its first ``extra`` positions, if it runs over the blocks' ``seq`` positions."""
    return x[:, extra:] if x is not None and x.ndim > 2 and x.shape[1] == seq else x


def _position_tables(model: nn.Module, first: Probe, probe_ids: Tensor) -> tuple[nn.Module, ...]:
    """Absolute position embeddings the model builds from the sequence length alone: modules whose
    output, ``d_model`` wide, varies along the sequence but is the same for other tokens at other
    ``position_ids``. (Rotary tables built that way need nothing: they encode relative positions.)"""
    seq, d_model = probe_ids.shape[-1], first.unembed.weight.shape[1]
    if seq < 2:
        return ()
    second = Probe(model, first.unembed)
    shifted = torch.arange(3, 3 + seq, device=probe_ids.device).expand_as(probe_ids)
    with second.hooks():
        model(input_ids=probe_ids.flip(-1), position_ids=shifted, use_cache=False)
    again: dict[int, list[Tensor | None]] = {}
    for module, _, out in second.io:
        again.setdefault(id(module), []).append(out)
    seen: dict[int, int] = {}
    found = []
    for module, _, a in first.io:
        k = seen[id(module)] = seen.get(id(module), -1) + 1
        b = again.get(id(module), [])[k : k + 1]
        if (
            b
            and a is not None
            and a.ndim >= 2
            and a.shape[-2] == seq
            and a.shape[-1] == d_model != seq
            and same(a, b[0])
            and not torch.equal(a, a[..., :1, :].expand_as(a))
            and module not in found
        ):
            found.append(module)
    return tuple(found)


def guess_final_norm(model: nn.Module, layers: nn.ModuleList, unembed: nn.Module) -> nn.Module:
    """The final norm of a model without weights (on the meta device, as for a remote run),
    read from the structure: the one module outside the decoder blocks with a norm's shape (a
    1-D ``weight`` of ``d_model`` entries); ``nn.Identity()`` if there is none.

    :func:`find_parts` runs the model instead; a guess must be confirmed by
    :meth:`~latentlang.core.model.LensModel.check_lens`.

    Raises:
        LatentLangError: Several modules could be the final norm.
    """
    d_model = unembed.weight.shape[1]
    inside = {id(m) for m in layers.modules()} | {id(unembed)}
    found = {
        name: m
        for name, m in model.named_modules()
        if id(m) not in inside
        and not list(m.children())
        and not isinstance(m, nn.Embedding)
        and isinstance(getattr(m, "weight", None), Tensor)
        and tuple(m.weight.shape) == (d_model,)
    }
    if len(found) > 1:
        raise LatentLangError(
            f"{type(model).__name__}: {', '.join(found)} could each be the final norm; without "
            "weights latentlang cannot tell which one the model applies before its unembedding"
        )
    return next(iter(found.values()), nn.Identity())


def _text_config(model: nn.Module):
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        return config.get_text_config()
    return config


__all__ = ["HeadTransform", "LensParts", "find_layers", "find_parts", "find_unembed", "guess_final_norm"]
