"""Find the parts the logit lens needs in any Hugging Face causal LM, by structure.

No list of supported classes. A probe forward pass, with hooks on the model's modules, shows:

* the decoder blocks: the ``nn.ModuleList`` whose blocks each read the one before's output and
  whose last block finishes last before the unembedding runs, preferring one as long as the text
  config's depth (a vision or audio tower either does not run on text or runs earlier; blocks of
  a hybrid model need not share a class);
* the unembedding: what ``get_output_embeddings()`` returns;
* the final norm: the modules that carry the last block's output to the unembedding's input (one
  norm, none, or a chain such as a head transform dense → activation → norm, see
  :class:`~latentlang.head.HeadTransform`);
* the output transform (softcap, logit scale): the config's values if they reproduce the probe's
  logits from the unembedding's output, else fitted to them;
* and, in a second pass with other tokens at other ``position_ids``: position tables the model
  computes from the sequence length alone (decoders of sequence-to-sequence models), which
  capture renumbers for left-padded batches.

For a model without weights (a remote run) :func:`find_layers` and :func:`guess_final_norm` read
the structure alone. A model that hides a part gets a :class:`~latentlang.errors.LatentLangError`
naming it.
"""

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentlang.errors import LatentLangError
from latentlang.head import HeadTransform, find_head, fit_output_transform


@dataclass
class LensParts:
    """The pieces of a causal LM that the lens and the capture hooks use.

    Attributes:
        layers: The decoder blocks, in execution order.
        final_norm: Module mapping the last block's output to the unembedding's input
            (``nn.Identity()`` when the model feeds it through unchanged, a
            :class:`~latentlang.head.HeadTransform` when it takes several modules).
        unembed: The output embedding (``lm_head``), a module with ``weight`` ``[vocab, d_model]``.
        softcap: The cap of ``cap * tanh(logits / cap)`` if the model caps its logits, else ``None``.
        logit_scale: Constant factor on the logits (Cohere's ``logit_scale``, 1 / Granite's
            ``logits_scaling``), 1.0 for most models.
        position_tables: Modules outside the blocks whose output is a per-position table computed
            from the sequence length, not from ``position_ids``; capture renumbers their rows.
        n_logits: How many of the unembedding's rows the model keeps as logits, if fewer than all
            (a vocabulary padded for speed, as Inkling's); ``None`` for all.
    """

    layers: nn.ModuleList
    final_norm: nn.Module
    unembed: nn.Module
    softcap: float | None
    logit_scale: float
    position_tables: tuple[nn.Module, ...] = ()
    n_logits: int | None = None


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


class _Probe:
    """Hooks for one probe forward pass: when each block finishes, what goes into and out of the
    modules outside the blocks, and what the unembedding reads and returns."""

    def __init__(self, model: nn.Module, unembed: nn.Module) -> None:
        self.model, self.unembed = model, unembed
        self.lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m)]
        in_lists = {id(m) for lst in self.lists for block in lst for m in block.modules()}
        self.outside = [
            m for m in model.modules() if id(m) not in in_lists and m is not unembed and m is not model
        ]
        self.clock = 0
        self.finished: dict[int, int] = {}  # id(block) -> when it last finished
        self.calls: dict[int, int] = {}  # id(block) -> how often it ran
        self.block_io: dict[int, tuple[Tensor | None, object]] = {}  # id(block) -> first (input, output)
        self.io: list[tuple[nn.Module, Tensor | None, Tensor | None]] = []
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
            self.finished[id(block)] = self._tick()
            self.calls[id(block)] = self.calls.get(id(block), 0) + 1
            if id(block) not in self.block_io:
                first = next((a for a in args if isinstance(a, Tensor)), kwargs.get("hidden_states"))
                self.block_io[id(block)] = (first, _first(output))

        return hook

    def last_output(self, layers: nn.ModuleList) -> Tensor:
        return self.block_io[id(layers[-1])][1]

    def chained(self, lst: nn.ModuleList) -> bool:
        """Whether each block reads exactly what the one before it wrote (a residual stream)."""
        return all(_same(self.block_io[id(b)][0], self.block_io[id(a)][1]) for a, b in zip(lst, lst[1:]))

    def _io_hook(self, module: nn.Module):
        def hook(_module, args, kwargs, output):
            self._tick()
            tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
            # Only a module that reads one tensor can be replayed on a residual alone.
            inp = _float(tensors[0]) if len(tensors) == 1 else None
            self.io.append((module, inp, _float(_first(output))))

        return hook

    def _unembed_pre(self, _module, args):
        if self.unembed_at is None:
            self.unembed_at = self._tick()

    def _unembed_post(self, _module, args, output):
        if self.unembed_io is None and args and isinstance(args[0], Tensor):
            self.unembed_io = (args[0], output)

    def _latest(self, lists: list[nn.ModuleList]) -> nn.ModuleList:
        return max(lists, key=lambda lst: self.finished[id(lst[-1])])

    def stack(self, depth: int | None) -> nn.ModuleList:
        """The decoder blocks: of the lists whose blocks each read the one before's output, the one
        whose last block finished last before the unembedding started (preferring lists as long as
        the config's depth)."""
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
        runs = max(self.calls[id(b)] for b in self._latest(ran)) if ran else 1
        if runs > 1:
            raise LatentLangError(
                f"{name}: its decoder blocks run up to {runs} times per forward pass (a looped "
                "model); latentlang reads one residual per block, so it cannot apply the lens"
            )
        ran = [lst for lst in ran if self.chained(lst)]
        ran = [lst for lst in ran if len(lst) == depth] or ran
        if not ran:
            raise LatentLangError(
                f"{name}: found no stack of decoder layers (an nn.ModuleList of blocks, each reading "
                "the one before's output) that runs before the unembedding; latentlang needs a "
                "decoder-only transformer"
            )
        return self._latest(ran)


@torch.no_grad()
def find_parts(model: nn.Module, probe_ids: Tensor) -> LensParts:
    """All lens parts of ``model``, found by structure and two probe forward passes."""
    unembed = find_unembed(model)
    device = unembed.weight.device
    probe = _Probe(model, unembed)
    with probe.hooks():
        output = model(input_ids=probe_ids.to(device), use_cache=False)
    layers = probe.stack(decoder_depth(model))
    last = probe.last_output(layers)
    head_in, head_out = probe.unembed_io
    final_norm = find_head(probe.io, last, head_in, unembed)
    if final_norm is None:
        raise LatentLangError(
            f"{type(model).__name__}: no chain of modules maps the last decoder layer's output to "
            "the unembedding's input (the model transforms it in plain code, not in modules); "
            "latentlang cannot apply the logit lens to this model"
        )
    logits = getattr(output, "logits", None)
    softcap, scale = output_transform(model)
    n_logits = None
    if isinstance(logits, Tensor) and isinstance(head_out, Tensor):
        if logits.shape[-1] < head_out.shape[-1]:  # the model drops the padding rows of its vocabulary
            n_logits = logits.shape[-1]
        z = head_out[..., -1, : logits.shape[-1]]
        softcap, scale = fit_output_transform(z, logits[..., -1, :], softcap, scale)
    tables = _position_tables(model, probe, probe_ids.to(device))
    return LensParts(layers, final_norm, unembed, softcap, scale, tables, n_logits)


def _position_tables(model: nn.Module, first: _Probe, probe_ids: Tensor) -> tuple[nn.Module, ...]:
    """Absolute position embeddings the model builds from the sequence length alone: modules whose
    output, ``d_model`` wide, varies along the sequence but is the same for other tokens at other
    ``position_ids``. (Rotary tables built that way need nothing: they encode relative positions.)"""
    seq, d_model = probe_ids.shape[-1], first.unembed.weight.shape[1]
    if seq < 2:
        return ()
    second = _Probe(model, first.unembed)
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
            and _same(a, b[0])
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
    :meth:`~latentlang.models.LensModel.check_lens`.

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


def _first(output):
    """A module's main output: the first item of a tuple or list (anything else as it is)."""
    return output[0] if isinstance(output, (tuple, list)) else output


def _float(x) -> Tensor | None:
    return x if isinstance(x, Tensor) and x.is_floating_point() else None


def _same(a, b) -> bool:
    return (
        isinstance(a, Tensor)
        and isinstance(b, Tensor)
        and a.shape == b.shape
        and a.device == b.device
        and torch.equal(a, b)
    )


__all__ = ["HeadTransform", "LensParts", "find_layers", "find_parts", "find_unembed", "guess_final_norm"]
