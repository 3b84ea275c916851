"""Greedy generation that reads the residual stream as it goes: no second forward pass.

:func:`generate_reading` runs ``model.generate`` (greedy, the KV cache on) with forward hooks on
the decoder blocks that keep, for each of the first ``steps`` forward calls, the residual at the
last position at every layer: the position that predicts generated token ``k``. Call ``0`` is the
prompt's own forward pass (its last position predicts the first new token), call ``k`` the step
that reads generated token ``k - 1``. So the lens can read what every layer would have said
before each of the first new tokens, and the model's own logits there (``scores``) come from the
same pass.
"""

from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from torch import Tensor

from latentlang.core.batch import Batch
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError


class Generation(NamedTuple):
    """A greedy continuation and what was read while it was generated.

    Attributes:
        new_tokens: The generated ids per row (padding after a row's end of sequence).
        scores: The model's logits at each of the first ``steps`` steps (what ``generate``
            scored: its raw logits after any processors the model's generation config sets);
            zeros for steps a row's generation did not reach.
        residuals: The residual stream at the position that predicts new token ``k``, at every
            layer, for ``k < steps`` (zeros where generation stopped before).
    """

    new_tokens: Int[Tensor, "batch new"]
    scores: Float[Tensor, "batch step vocab"]
    residuals: Float[Tensor, "batch layer step d_model"]


@torch.no_grad()
def generate_reading(lm: LensModel, batch: Batch, max_new_tokens: int, steps: int = 3) -> Generation:
    """Generate greedily from a left-padded batch, keeping the residuals that predict the first
    ``steps`` new tokens (see the module docstring).

    Raises:
        LatentLangError: The model does not run here, or its residual is read in a way only a
            plain forward pass supports (positions renumbered by latentlang, a shared prefix).
    """
    if not lm.backend.local:
        raise LatentLangError(
            f"{lm.name} runs on {lm.backend.where}; latentlang generates on local models only"
        )
    parts, reading = lm.parts, lm.parts.reading
    if parts.position_tables or batch.prefix is not None:
        raise LatentLangError(
            f"{lm.name}: generation reads a plain left-padded batch of a model with its own positions; "
            "this model's positions are renumbered by latentlang"
        )
    calls: list[list[Tensor]] = []
    target = lm.device

    def start(_module, _args, _kwargs):
        calls.append([])

    def grab_input(_module, args, kwargs):
        if len(calls) <= steps and not calls[-1]:
            calls[-1].append(reading.input(args, kwargs)[:, -1].flatten(1).to(target))

    def grab_output(_module, _args, output):
        if len(calls) <= steps:
            calls[-1].append(reading.output(output)[:, -1].flatten(1).to(target))

    layers = parts.layers
    first = reading.entry if reading.entry is not None else layers[reading.calls[0] if reading.calls else 0]
    handles = [lm.model.register_forward_pre_hook(start, with_kwargs=True)]
    handles.append(first.register_forward_pre_hook(grab_input, with_kwargs=True))
    handles += [layer.register_forward_hook(grab_output) for layer in layers]
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else lm.tokenizer.eos_token_id
    try:
        out = lm.model.generate(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad,
            return_dict_in_generate=True,
            output_scores=True,
        )
    finally:
        for handle in handles:
            handle.remove()
    n, expected = len(batch.input_ids), (len(reading.calls) if reading.calls else len(layers)) + 1
    if any(len(c) != expected for c in calls[:steps]):
        raise LatentLangError(f"{lm.name}: its blocks ran a varying number of times while generating")
    residuals = torch.zeros(n, expected, steps, calls[0][0].shape[-1], device=target)
    scores = torch.zeros(n, steps, out.scores[0].shape[-1], device=target)
    for k in range(min(steps, len(calls), len(out.scores))):
        residuals[:, :, k] = torch.stack(calls[k], dim=1)
        scores[:, k] = out.scores[k].float().to(target)
    return Generation(out.sequences[:, batch.input_ids.shape[1] :], scores, residuals)
