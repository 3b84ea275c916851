"""Ablation: project a word's unembedding directions out of the residual stream, from layer j on.

For few-shot translation prompts (``--prompts fr:zh``), the directions of the concept's word in
another language (``--ablate en``: the hypothesised latent) are removed from the residual at
layer ``j`` and every later layer, at every position (``--positions all``) or the last one; the
control removes another concept's directions in the same language (as many rows where possible,
no token shared with the prompt's sets), so both conditions remove subspaces of one dimension.
Read at the model's output, per ``j``: P(the concept in the target language) and P(the ablated
word), ablated, control and unablated; the difference ablated − control is paired over prompts.

Which directions:

- ``--rows first`` (default): the rows of the tokens the word's spelling starts with, as the
  tokenizer splits it with and without a leading space (``▁dog`` and ``dog``); ``--rows all``:
  every token that can start it (``d`` and ``do`` included: directions most words share).
- ``--span beside-target`` (default): without their part in the span of the target word's own
  rows. A translation's unembedding rows share a direction (``dog`` and 狗 mean the same), so
  removing the whole English rows lowers the Chinese answer's logit at the last layer directly,
  by geometry, whatever earlier layers do; ``--span whole`` keeps that part.

By default (``--basis lens``) each row is taken as the lens and the model's output read it:
minus the mean unembedding row (which moves every logit alike) and times the final norm's gain.
Projecting those directions out at the last layer leaves every ablated token with the logit of the
mean row (exactly, for an RMSNorm). The raw rows (``--basis rows``) are another matter: a few
massive dimensions, which the final norm scales down, dominate the residual's norm, and a raw
projection moves them into the dimensions the output reads. In Gemma-3-270M, projecting one
random direction out of the raw residual at the last layer moved a prompt's log-probabilities by
up to 20 nats, and projecting out a word's raw rows broke the output whatever the word.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from latentlang.config import option
from latentlang.core.edits import ProjectOut, edited
from latentlang.core.lens import TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.codes import check_language
from latentlang.language.words import Dropped
from latentlang.results.ablate import AblateResult
from latentlang.studies.interventions import InterventionConfig, edited_prompts, language_pair, read_output
from latentlang.studies.runner import Study, Work


@dataclass(kw_only=True)
class AblateConfig(InterventionConfig):
    """Settings of ``latentlang ablate``."""

    prompts: str = option("fr:zh", "the translation prompts edited, INPUT:OUTPUT")
    ablate: str = option("en", "the language of the concept's word whose unembedding rows are projected out")
    positions: str = option("all", "ablate at every position or the last token only", choices=["all", "last"])
    span: str = option(
        "beside-target",
        "project out the word's directions without their part along the target's (beside-target) or whole",
        choices=["beside-target", "whole"],
    )
    rows: str = option(
        "first",
        "project out the tokens the word's spelling starts with (first) or every token of its set (all)",
        choices=["first", "all"],
    )
    basis: str = option(
        "lens",
        "project out the rows as the lens reads them (minus the mean row, times the norm's gain) or raw",
        choices=["lens", "rows"],
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_language(self.ablate)
        if self.ablate == language_pair(self.prompts, "prompts")[1] and self.span == "beside-target":
            raise LatentLangError(
                f"--ablate {self.ablate} is the prompts' target language: beside its own directions nothing "
                "is left; use --span whole to ablate the target word itself"
            )
        self.out = self.out or f"runs/ablate-{self.ablate}-from-{self.prompts.replace(':', '-')}"


@dataclass(frozen=True)
class AblateItem:
    """A prompt, its target set, the ablated word's set, the rows projected out for it and for
    the control concept."""

    concept: str
    control: str
    text: str
    target: tuple[int, ...]
    word: tuple[int, ...]
    ablated: tuple[int, ...]
    control_rows: tuple[int, ...]


def first_tokens(lm: LensModel, words: tuple[str, ...]) -> tuple[int, ...]:
    """The tokens a word's spelling starts with, as the tokenizer splits it with and without a
    leading space, for each accepted word (e.g. ``▁dog`` and ``dog``; not ``d`` or ``do``)."""
    ids = {
        first[0]
        for word in words
        for spelled in (word, " " + word)
        if (first := lm.tokenizer(spelled, add_special_tokens=False)["input_ids"])
    }
    return tuple(sorted(ids))


def choose_control(i: int, ablated: list[tuple[int, ...]], targets: list[tuple[int, ...]]) -> int | None:
    """The control of prompt ``i``: starting half the list away, the first concept whose ablated
    set is as large as ``i``'s and shares no token with ``i``'s sets; else the closest in size."""
    n = len(ablated)
    mine = set(ablated[i]) | set(targets[i])
    order = [(i + n // 2 + step) % n for step in range(n)]
    usable = [j for j in order if j != i and not set(ablated[j]) & mine]
    if not usable:
        return None
    return min(usable, key=lambda j: abs(len(ablated[j]) - len(ablated[i])))  # the first of the closest


def ablate_items(config: AblateConfig, lm: LensModel) -> Work:
    """Prompts whose target and ablated sets are non-empty and disjoint, each with a control."""
    _, tgt = language_pair(config.prompts, "prompts")
    langs = [tgt] if config.ablate == tgt else [tgt, config.ablate]
    prompt_set = edited_prompts(config, langs)
    prompts, dropped = list(prompt_set), list(prompt_set.dropped)
    keep = []
    for prompt in prompts:
        target, word = (
            tuple(lm.vocab.concept_set(prompt.words(lang), "bytes", lang).ids)
            for lang in (tgt, config.ablate)
        )
        words = prompt.words(config.ablate)
        ablated = word if config.rows == "all" else first_tokens(lm, words)
        if not target or not word or (config.ablate != tgt and set(target) & (set(word) | set(ablated))):
            dropped.append(
                Dropped(prompt.concept, "overlap", f"its {tgt} and {config.ablate} sets are empty or shared")
            )
        else:
            keep.append((prompt, target, word, ablated))
    targets, ablateds = [k[1] for k in keep], [k[3] for k in keep]
    items = []
    for i, (prompt, target, word, ablated) in enumerate(keep):
        j = choose_control(i, ablateds, targets)
        if j is None:
            dropped.append(
                Dropped(prompt.concept, "no control", "every other concept shares a token with it")
            )
            continue
        items.append(
            AblateItem(prompt.concept, keep[j][0].concept, prompt.text, target, word, ablated, ablateds[j])
        )
        if config.limit and len(items) == config.limit:
            break
    if not items:
        raise LatentLangError(f"no concept has distinct {tgt} and {config.ablate} tokens and a control")
    return Work(
        items=items,
        keys=[(i.text, i.target, i.word, i.ablated, i.control_rows) for i in items],
        tokens=max(len(ids) for ids in lm.tokenizer([i.text for i in items])["input_ids"]),
        meta={
            "languages": list(language_pair(config.prompts, "prompts")),
            "layers": config.chosen_layers(lm),
            "positions": config.positions,
            "basis": config.basis,
            "rows": config.rows,
            "span": config.span,
            "dropped": [d.as_dict() for d in dropped],
        },
    )


def unembedding_rows(lm: LensModel, basis: str):
    """``rows(ids) -> [len(ids), d]``: the unembedding rows of some tokens, raw (``"rows"``) or as
    the lens reads them (``"lens"``: minus the mean row over the vocabulary, times the final
    norm's gain)."""
    weight = lm.parts.unembed.weight
    if basis == "rows":
        return lambda ids: weight[list(ids)].float()
    mean, gain = weight.float().mean(0), lm.lens.norm_gain().to(weight.device)
    return lambda ids: (weight[list(ids)].float() - mean) * gain


def _beside(directions: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``directions`` without their components in the span of ``target``'s rows (a direction
    inside that span, up to rounding, becomes zero: nothing of it is projected out)."""
    basis = torch.linalg.qr(target.T).Q
    rest = directions - (directions @ basis) @ basis.T
    inside = rest.norm(dim=-1) <= 1e-4 * directions.norm(dim=-1)
    return torch.where(inside[:, None], torch.zeros_like(rest), rest)


def ablate_batch(lm: LensModel, work: Work, indices: list[int]) -> AblateResult:
    """The unablated prompts, then per first layer j the own word's and the control's ablation."""
    items = [work.items[i] for i in indices]
    meta, depth = work.meta, lm.n_layers
    batch = lm.tokenize([item.text for item in items])
    index = TokenSetIndex.from_lists([[list(item.target), list(item.word)] for item in items], lm.device)
    rows = unembedding_rows(lm, meta["basis"])

    targets = [rows(item.target) for item in items]
    beside = meta["span"] == "beside-target"
    subspaces = {
        "ablated": [
            _beside(rows(i.ablated), t) if beside else rows(i.ablated) for i, t in zip(items, targets)
        ],
        "control": [
            _beside(rows(i.control_rows), t) if beside else rows(i.control_rows)
            for i, t in zip(items, targets)
        ],
    }
    positions = "all" if meta["positions"] == "all" else None
    base = read_output(lm, batch, index)[0].cpu().numpy()
    probs = np.zeros((len(items), len(meta["layers"]), 2, 2), np.float32)
    for k, j in enumerate(meta["layers"]):
        for c, condition in enumerate(("ablated", "control")):
            with edited(
                lm, [ProjectOut(list(range(j, depth + 1)), subspaces[condition])], positions=positions
            ):
                probs[:, k, c] = read_output(lm, batch, index)[0].cpu().numpy()
    frame = pd.DataFrame(
        {
            "concept": [item.concept for item in items],
            "control": [item.control for item in items],
            "text": [item.text for item in items],
            "n_rows": [len(item.ablated) for item in items],
            "n_control_rows": [len(item.control_rows) for item in items],
        }
    )
    return AblateResult(probs, base.astype(np.float32), frame, meta=meta)


ABLATE = Study(
    "ablate",
    "project a word's unembedding directions out of the residual from layer j on, against a control word's",
    AblateConfig,
    AblateResult,
    items=ablate_items,
    run_batch=ablate_batch,
)


def run_ablate(config: AblateConfig, lm: LensModel | None = None, progress: bool = True) -> AblateResult:
    """Run the ablation study (resumable through ``config.out``)."""
    return ABLATE.run(config, lm, progress)
