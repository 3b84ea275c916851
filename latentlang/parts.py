"""Find the parts the logit lens needs in any Hugging Face causal LM, by structure.

No list of supported classes: the decoder layers are the model's largest ``nn.ModuleList`` of
identical blocks; the unembedding is what ``get_output_embeddings()`` returns; the final norm is
found by running the model once and asking which module turns the last layer's output into the
unembedding's input; the output transform (softcap, logit scale) comes from the config. A model
that hides one of these gets a :class:`~latentlang.errors.LatentLangError` naming the part.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from latentlang.capture import first_tensor
from latentlang.errors import LatentLangError


@dataclass
class LensParts:
    """The pieces of a causal LM that the lens and the capture hooks use.

    Attributes:
        layers: The decoder blocks, in execution order.
        final_norm: Module mapping the last block's output to the unembedding's input
            (``nn.Identity()`` when the model feeds it through unchanged).
        unembed: The output embedding (``lm_head``), a module with ``weight`` ``[vocab, d_model]``.
        softcap: ``final_logit_softcapping`` if the model caps its logits, else ``None``.
        logit_scale: Constant factor on the logits (Cohere's ``logit_scale``, 1 / Granite's
            ``logits_scaling``), 1.0 for most models.
    """

    layers: nn.ModuleList
    final_norm: nn.Module
    unembed: nn.Module
    softcap: float | None
    logit_scale: float


def find_layers(model: nn.Module) -> nn.ModuleList:
    """The model's stack of decoder blocks: its largest ModuleList of same-class modules."""
    best, best_size = None, 0
    for module in model.modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if len({type(block) for block in module}) != 1:
            continue
        size = sum(p.numel() for p in module.parameters())
        if size > best_size:
            best, best_size = module, size
    if best is None:
        raise LatentLangError(
            f"{type(model).__name__}: found no stack of decoder layers (an nn.ModuleList of "
            "identical blocks); latentlang needs a decoder-only transformer"
        )
    expected = getattr(_text_config(model), "num_hidden_layers", None)
    if expected is not None and expected != len(best):
        raise LatentLangError(
            f"{type(model).__name__}: the largest layer stack has {len(best)} blocks but the config "
            f"says num_hidden_layers={expected}; latentlang cannot tell which are the decoder layers"
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
    softcap = getattr(config, "final_logit_softcapping", None) or None
    scale = float(getattr(config, "logit_scale", None) or 1.0)
    if getattr(config, "logits_scaling", None):
        scale /= float(config.logits_scaling)
    return softcap, scale


@torch.no_grad()
def find_final_norm(
    model: nn.Module, layers: nn.ModuleList, unembed: nn.Module, input_ids: Tensor
) -> nn.Module:
    """Run ``input_ids`` through the model and return the module that maps the last layer's
    output to the unembedding's input (or ``nn.Identity()`` if nothing sits between them)."""
    inside = {id(m) for m in layers.modules()} | {id(unembed)}
    candidates = {
        name: m
        for name, m in model.named_modules()
        if id(m) not in inside and not list(m.children()) and not isinstance(m, nn.Embedding)
    }
    seen: dict[str, tuple[Tensor, Tensor]] = {}

    def record(name: str):
        def hook(_module, args, output):
            output = first_tensor(output)
            if args and isinstance(args[0], Tensor) and isinstance(output, Tensor):
                seen[name] = (args[0], output)

        return hook

    handles = [m.register_forward_hook(record(name)) for name, m in candidates.items()]
    handles.append(layers[-1].register_forward_hook(record("<last layer>")))
    handles.append(unembed.register_forward_hook(record("<unembed>")))
    try:
        model(input_ids=input_ids.to(unembed.weight.device), use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    if "<last layer>" not in seen or "<unembed>" not in seen:
        raise LatentLangError(
            f"{type(model).__name__}: a forward pass did not run the last decoder layer and the "
            "unembedding as modules, so latentlang cannot find the final norm"
        )
    last, target = seen.pop("<last layer>")[1], seen.pop("<unembed>")[0]
    if _same(last, target):
        return nn.Identity()
    for name, (inp, out) in seen.items():
        if _same(out, target) and _same(inp, last):
            return candidates[name]
    raise LatentLangError(
        f"{type(model).__name__}: no module maps the last decoder layer's output to the "
        "unembedding's input (the final norm is applied as a function, not a module); "
        "latentlang cannot apply the logit lens to this model"
    )


def guess_final_norm(model: nn.Module, layers: nn.ModuleList, unembed: nn.Module) -> nn.Module:
    """The final norm of a model without weights (on the meta device, as for a remote run),
    read from the structure: the one module outside the decoder blocks with a norm's shape (a
    1-D ``weight`` of ``d_model`` entries); ``nn.Identity()`` if there is none.

    :func:`find_final_norm` runs the model instead; a guess must be confirmed by
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


def find_parts(model: nn.Module, probe_ids: Tensor) -> LensParts:
    """All lens parts of ``model``, found by structure and one probe forward pass."""
    layers = find_layers(model)
    unembed = find_unembed(model)
    softcap, scale = output_transform(model)
    final_norm = find_final_norm(model, layers, unembed, probe_ids)
    return LensParts(layers, final_norm, unembed, softcap, scale)


def _text_config(model: nn.Module):
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "get_text_config"):
        return config.get_text_config()
    return config


def _same(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.equal(a, b)
