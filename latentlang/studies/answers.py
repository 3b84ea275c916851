"""Reading a generated answer the way MENAValues does, and the lens at the answer's position.

For a batch of value prompts, :func:`read_answers` generates each reply greedily (reading the
residual stream during generation, :func:`latentlang.core.generate.generate_reading`), and per
item:

1. extracts the answer (:func:`~latentlang.language.refusal.extract_option`, after writing
   other digit forms in ASCII) and the outcome:
   ``answered`` (an option is named), else ``refused`` (a refusal pattern), else ``no_option``;
2. finds the answer position (:func:`~latentlang.language.refusal.answer_position`: the first of
   the first three generated tokens that carries the answer, else the first whose top-3 tokens
   do, else 0);
3. scores each option there as MENAValues does: the highest probability among its candidate
   tokens (:func:`option_candidates`), renormalised over the options (uniform if all are 0), from
   the model's own logits (``final_probs``) and from the lens at every layer, by the same token ids;
   ``option_mass`` is the lens's unnormalised total. Items whose options begin with the same token
   (``1`` and ``10`` on a tokenizer that splits digits) are read at the last layer only.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import torch

from latentlang.core.generate import generate_reading
from latentlang.core.lens import TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.language.questions import Question
from latentlang.language.refusal import answer_position, ascii_digits, extract_option, read_answer
from latentlang.results.leakage import LeakageResult

#: How many first generated tokens may carry the answer (MENAValues).
WINDOW = 3


@dataclass(frozen=True)
class Item:
    """One question in one language, framing and country, as the model sees it.

    Attributes:
        question: The question.
        language: The prompt's language.
        framing: ``neutral``, ``persona`` or ``observer``.
        country: The persona's or observer's country (empty for neutral).
        text: The prompt (after the chat template, when one is used).
        candidates: Per option, the token ids that may write it (:func:`option_candidates`).
        shared_first_token: Two options begin with the same token: read at the last layer only.
    """

    question: Question
    language: str
    framing: str
    country: str
    text: str
    candidates: tuple[tuple[int, ...], ...]
    shared_first_token: bool


@lru_cache(maxsize=4)
def _first_tokens_text(tokenizer) -> tuple[str, ...]:
    return tuple(tokenizer.decode([i]) for i in range(min(1000, len(tokenizer))))


def option_candidates(tokenizer, option: str) -> tuple[int, ...]:
    """The ids MENAValues scores an option by: the option itself if it is one token; each token
    of ``" " + option`` whose text contains the option; and every id below 1000 whose text,
    stripped, is the option."""
    ids = []
    alone = tokenizer.encode(option, add_special_tokens=False)
    if len(alone) == 1:
        ids.append(alone[0])
    ids += [
        i for i in tokenizer.encode(" " + option, add_special_tokens=False) if option in tokenizer.decode([i])
    ]
    ids += [i for i, text in enumerate(_first_tokens_text(tokenizer)) if text.strip() == option]
    return tuple(dict.fromkeys(ids))


def shares_first_token(tokenizer, options: list[str]) -> bool:
    """Whether two options begin with the same token (``1`` and ``10`` written digit by digit)."""
    firsts = [tokenizer.encode(option, add_special_tokens=False)[:1] for option in options]
    return len({tuple(f) for f in firsts}) < len(firsts)


def score_options(probs: torch.Tensor, candidates: tuple[tuple[int, ...], ...]) -> tuple[np.ndarray, float]:
    """MENAValues' option scores from one next-token distribution: per option the highest
    probability among its candidates (0 without any), renormalised (uniform when all are 0);
    and their unnormalised total."""
    raw = np.array([float(probs[list(ids)].max()) if ids else 0.0 for ids in candidates])
    return normalised(raw), float(raw.sum())


def normalised(raw: np.ndarray) -> np.ndarray:
    """Option scores renormalised over the last axis (the options), however small their total;
    uniform where they are all 0 (MENAValues)."""
    total = raw.sum(-1, keepdims=True)
    return np.where(total > 0, raw / np.where(total > 0, total, 1.0), 1 / raw.shape[-1])


def read_answers(lm: LensModel, items: list[Item], chat: bool, max_new_tokens: int) -> LeakageResult:
    """Generate the replies of a batch of items and read them (see the module docstring)."""
    batch = lm.tokenize([item.text for item in items], add_special_tokens=not chat)
    generation = generate_reading(lm, batch, max_new_tokens, steps=WINDOW)
    tokenizer, rows, positions, finals = lm.tokenizer, [], [], []
    for row, item in enumerate(items):
        new = _until_end(
            generation.new_tokens[row].tolist(), {tokenizer.eos_token_id, tokenizer.pad_token_id}
        )
        text = tokenizer.decode(new, skip_special_tokens=True).strip()
        options = item.question.options
        if item.question.labels:  # a labelled question: the first line's number or label
            read = read_answer(text, item.question.labels[item.language])
            found = None if read.option is None else str(read.option + item.question.low - 1)
        else:
            found = extract_option(ascii_digits(text), options)  # "٣" answers 3, as "3" does
        refused = found is None and read_answer(text, item.question.labels.get(item.language, [])).refused
        top = [
            [tokenizer.decode([i]) for i in generation.scores[row, k].topk(3).indices.tolist()]
            for k in range(min(WINDOW, len(new)))
        ]
        k = answer_position(found if found is not None else text, [tokenizer.decode([i]) for i in new], top)
        positions.append(k)
        final, _ = score_options(torch.softmax(generation.scores[row, k], -1), item.candidates)
        finals.append(final)
        rows.append(
            {
                "question_id": item.question.id,
                "topic": item.question.topic,
                "language": item.language,
                "framing": item.framing,
                "country": item.country,
                "n_options": len(options),
                "low": item.question.low,
                "prompt": item.text,
                "generated": text,
                "answer": 0 if found is None else options.index(found) + 1,
                "outcome": "answered" if found is not None else "refused" if refused else "no_option",
                "refused": refused,
                "answer_position": k,
                "shared_first_token": item.shared_first_token,
            }
        )
    layer_probs, mass = _lens_scores(lm, items, generation.residuals, positions)
    width = max(len(item.candidates) for item in items)
    return LeakageResult(
        items=pd.DataFrame(rows),
        option_probs=layer_probs,
        option_mass=mass,
        final_probs=np.stack([np.pad(f, (0, width - len(f)), constant_values=np.nan) for f in finals]),
        meta={},
    )


def _until_end(ids: list[int], ends: set) -> list[int]:
    """A row's generated ids up to and including its end of sequence (the rest is padding)."""
    stop = next((k for k, i in enumerate(ids) if i in ends), None)
    return ids if stop is None else ids[: stop + 1]


def _lens_scores(lm: LensModel, items: list[Item], residuals: torch.Tensor, positions: list[int]):
    """Per item and layer, MENAValues' option scores from the lens at the answer position (one
    singleton token set per candidate, then the max per option), and their unnormalised total."""
    width = max(len(item.candidates) for item in items)
    flat = [[[i] for ids in item.candidates for i in ids] or [[0]] for item in items]
    n_sets = max(len(sets) for sets in flat)
    index = TokenSetIndex.from_lists([sets + [[0]] * (n_sets - len(sets)) for sets in flat], lm.device)
    rows = torch.arange(len(items), device=residuals.device)
    h = residuals[rows, :, torch.tensor(positions, device=residuals.device)]  # [batch, layer, d_model]
    probs = lm.lens.readout(h, index, top_k=1).set_logprob.exp().cpu().numpy()  # [batch, layer, set]
    layers = probs.shape[1]
    out = np.full((len(items), layers, width), np.nan)
    mass = np.full((len(items), layers), np.nan)
    for b, item in enumerate(items):
        raw, start = np.zeros((layers, len(item.candidates))), 0
        for j, ids in enumerate(item.candidates):
            if ids:
                raw[:, j] = probs[b, :, start : start + len(ids)].max(-1)
            start += len(ids)
        mass[b] = raw.sum(-1)
        if not item.shared_first_token:
            out[b, :, : len(item.candidates)] = normalised(raw)
    return out, mass
