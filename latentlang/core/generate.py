"""Greedy generation that reads the residual stream as it goes: no second forward pass.

:func:`generate_streaming` runs ``model.generate`` (greedy, the KV cache on) with forward hooks on
the decoder blocks that hand each forward call's residual at its last position, at every layer,
to a callback as soon as the call ends: call ``0`` is the prompt's own forward pass (its last
position predicts the first new token), call ``k`` the step that reads generated token ``k - 1``.
A callback that reduces what it gets (the lens's top-k, entropy, language mass) keeps memory
bounded however long the generation. :func:`generate_reading` keeps the residuals of the first
``steps`` calls and the model's own logits there (``scores``, from the same pass), so the lens
can read what every layer would have said before each of the first new tokens.
"""

from collections.abc import Callable
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
    kept: list[Tensor] = []

    def keep(step: int, residuals: Tensor) -> None:
        if step < steps:
            kept.append(residuals)

    new_tokens, out_scores = generate_streaming(lm, batch, max_new_tokens, keep, scores=True)
    n, width = len(batch.input_ids), kept[0].shape[-1]
    residuals = torch.zeros(n, kept[0].shape[1], steps, width, device=lm.device)
    scores = torch.zeros(n, steps, out_scores[0].shape[-1], device=lm.device)
    for k in range(min(steps, len(kept), len(out_scores))):
        residuals[:, :, k] = kept[k]
        scores[:, k] = out_scores[k].float().to(lm.device)
    return Generation(new_tokens, scores, residuals)


@torch.no_grad()
def generate_streaming(
    lm: LensModel,
    batch: Batch,
    max_new_tokens: int,
    on_step: Callable[[int, Float[Tensor, "batch layer d_model"]], None],
    scores: bool = False,
) -> tuple[Int[Tensor, "batch new"], tuple[Tensor, ...]]:
    """Generate greedily (KV cache on) and hand each forward call's residuals at its last position
    to ``on_step(step, residuals)`` as soon as the call ends: step 0 is the prompt's last token,
    step ``k`` the position holding new token ``k - 1``. Whatever ``on_step`` keeps is all that
    stays in memory, so a reader that reduces each step (the lens) runs in bounded memory.

    Args:
        lm: A local model.
        batch: A plain left-padded batch.
        max_new_tokens: How many tokens to generate at most.
        on_step: Called once per forward call.
        scores: Also return ``generate``'s scores (one ``[batch, vocab]`` tensor per step: memory
            that grows with the generation).

    Returns:
        The new tokens per row (padding after a row's end of sequence) and the scores (empty
        without ``scores``).

    Raises:
        LatentLangError: As :func:`generate_reading`.
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
    layers = parts.layers
    expected = (len(reading.calls) if reading.calls else len(layers)) + 1
    call: list[Tensor] = []
    step, started = [0], [0]
    target = lm.device

    def start(_module, _args, _kwargs):
        call.clear()
        started[0] += 1

    def grab_input(_module, args, kwargs):
        if not call:
            call.append(reading.input(args, kwargs)[:, -1].flatten(1).to(target))

    def grab_output(_module, _args, output):
        call.append(reading.output(output)[:, -1].flatten(1).to(target))
        if len(call) == expected:
            on_step(step[0], torch.stack(call, dim=1))
            step[0] += 1
        elif len(call) > expected:
            raise LatentLangError(f"{lm.name}: its blocks ran a varying number of times while generating")

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
            output_scores=scores,
        )
    finally:
        for handle in handles:
            handle.remove()
    if step[0] != started[0]:
        raise LatentLangError(f"{lm.name}: its blocks ran a varying number of times while generating")
    return out.sequences[:, batch.input_ids.shape[1] :], (out.scores or ()) if scores else ()
