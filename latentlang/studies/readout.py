"""The latent-language read-out of any prompt set: which concepts are measured with which token
sets, and the batch function that reads them.

:func:`prepare` builds every prompt's token set per language by the protocol's rule, drops the
concepts whose sets are empty or overlap (and says why), pairs each concept with a control and
sorts the prompts by length (batches of similar length need less padding). :func:`read_batch`
reads a batch at each prompt's last token (left-padded, or behind a shared few-shot prefix): the
lens read-out on the model's device and the per-language mass of the top-k tokens.
:func:`run_prompts` runs your own prompts; the translation, repetition and cloze studies
(:mod:`latentlang.studies.latent`) build theirs from a config.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from latentlang.core.lens import TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.langid import language_mass
from latentlang.language.tokens import TokenSet, require_tokens, resolve_overlaps
from latentlang.language.words import Dropped
from latentlang.results.lens_result import LensResult
from latentlang.studies.prompts import PromptSet, TaskPrompt
from latentlang.studies.protocols import get_protocol
from latentlang.studies.runner import Work, run_work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Roles:
    """Which measured languages play which part.

    Attributes:
        src: The source language (the task's language for one-language tasks), or ``None``.
        tgt: The target language, or ``None``.
        latent: The candidate latent languages.
    """

    src: str | None = None
    tgt: str | None = None
    latent: tuple[str, ...] = ("en",)


@dataclass(frozen=True)
class PreparedPrompts:
    """Prompts that survived the token-set checks, with their token sets.

    Attributes:
        prompts: The kept prompts, shortest first.
        token_sets: Per kept prompt, one :class:`TokenSet` per language, in ``languages`` order.
        from_source: Per kept prompt and language, the tokens of its set that also begin the
            source word (empty sets where there is no source).
        dropped: Every concept left out, with why (before and at this stage).
    """

    prompts: list[TaskPrompt]
    token_sets: list[list[TokenSet]]
    from_source: list[list[TokenSet]]
    dropped: list[Dropped]

    def __len__(self) -> int:
        return len(self.prompts)

    def control_of(self, index: int) -> int:
        """The prompt whose concept serves as prompt ``index``'s control: half the list away, so
        never itself (unless there is only one prompt)."""
        return (index + len(self.prompts) // 2) % len(self.prompts)


def prepare(
    lm: LensModel,
    prompts: PromptSet | list[TaskPrompt],
    languages: list[str],
    overlap: str = "drop",
    protocol: str = "latentlang",
    roles: Roles | None = None,
) -> PreparedPrompts:
    """Build each prompt's token sets by the protocol's rule and apply its overlap rule (see
    :func:`latentlang.language.tokens.resolve_overlaps`): by default, drop concepts whose languages share
    a token; under ``wendler2024``, only those whose target set meets a latent language's, or
    whose target or latent set is empty.

    The kept prompts come back shortest first (batches of similar length need less padding), so a
    result lists its concepts in that order (``result.prompts["concept"]``; ``position`` is the
    protocol's order).

    Raises:
        LatentLangError: No prompts, a word without any token (latentlang), or every concept dropped.
    """
    rules = get_protocol(protocol)
    roles = roles or Roles(latent=tuple(lang for lang in ("en",) if lang in languages))
    dropped = list(getattr(prompts, "dropped", []))
    prompts = list(prompts)
    if not prompts:
        raise LatentLangError("no prompts to run; the word list has no usable concept")
    if rules.overlap != "all" and roles.tgt is None:
        raise LatentLangError(
            f"the {protocol} protocol compares the target's tokens with English's: pass "
            "roles=Roles(src=..., tgt=...) to say which language is the target"
        )
    pairs = rules.overlap_pairs(languages, roles.tgt, list(roles.latent)) if roles.tgt else None
    needed = [lang for lang in (roles.tgt, *roles.latent) if lang in languages]
    kept, sets, shared = [], [], []
    for prompt in prompts:
        by_lang = {
            lang: lm.vocab.concept_set(prompt.words(lang), rules.token_rule, lang) for lang in languages
        }
        if rules.overlap == "all":
            require_tokens(by_lang, lm.name)
        empty = [lang for lang in needed if not by_lang[lang].ids]
        if empty:
            dropped.append(Dropped(prompt.concept, "no token", f"no {'/'.join(empty)} token"))
            continue
        by_lang, why = resolve_overlaps(by_lang, overlap, pairs)
        if by_lang is None:
            dropped.append(Dropped(prompt.concept, "overlap", why))
            continue
        kept.append(prompt)
        sets.append([by_lang[lang] for lang in languages])
        source = by_lang.get(roles.src)
        shared.append([s & source if source else TokenSet(s.word, (), None) for s in sets[-1]])
    at_this_stage = sum(d.reason in ("no token", "overlap") for d in dropped)
    if at_this_stage:
        log.warning(
            "dropped %d of %d concepts whose token sets overlap across %s or are empty",
            at_this_stage,
            len(prompts),
            "/".join(languages),
        )
    if not kept:
        raise LatentLangError(
            f"all {len(prompts)} concepts were dropped because their {'/'.join(languages)} token sets "
            "overlap; use a word list whose translations start differently"
        )
    # Run prompts of similar length together: less padding, the same numbers (padding is masked).
    lengths = [len(ids) for ids in lm.tokenizer([p.text for p in kept])["input_ids"]]
    order = sorted(range(len(kept)), key=lambda i: lengths[i])
    return PreparedPrompts(
        [kept[i] for i in order], [sets[i] for i in order], [shared[i] for i in order], dropped
    )


def lens_work(
    lm: LensModel,
    prompts: PromptSet | list[TaskPrompt],
    languages: list[str],
    *,
    top_k: int = 10,
    overlap: str = "drop",
    protocol: str = "latentlang",
    roles: Roles | None = None,
) -> Work:
    """The prepared prompts as work for the runner; ``meta`` holds what :func:`read_batch` reads
    (languages, top-k, the energy definition) and what the result records (dropped concepts)."""
    if top_k < 1:
        raise LatentLangError(f"top_k must be >= 1, got {top_k}")
    prepared = prepare(lm, prompts, languages, overlap, protocol, roles)
    meta = {
        "languages": languages,
        "top_k": top_k,
        "overlap": overlap,
        "protocol": protocol,
        "energy": get_protocol(protocol).energy,
        "n_concepts": len(prompts) + len(getattr(prompts, "dropped", [])),
        "n_dropped": len(prepared.dropped),
        "dropped": [d.as_dict() for d in prepared.dropped],
    }
    return Work(
        items=prepared,
        keys=[(p.text, p.answers, p.accepted) for p in prepared.prompts],
        tokens=len(lm.tokenizer(prepared.prompts[-1].text)["input_ids"]),  # sorted: the last is the longest
        meta=meta,
    )


def read_batch(lm: LensModel, work: Work, indices: list[int]) -> LensResult:
    """The lens at the last token of the prompts ``indices`` of ``work``, at every layer: each
    prompt's own words, a control (another concept's words, read at the same position) and the
    part of each set that also begins the source word."""
    prepared, languages, top_k = work.items, work.meta["languages"], work.meta["top_k"]
    prompts = [prepared.prompts[i] for i in indices]
    batch = lm.tokenize([p.text for p in prompts], share_prefix=True)
    sets = [
        prepared.token_sets[i] + prepared.token_sets[prepared.control_of(i)] + prepared.from_source[i]
        for i in indices
    ]
    index = TokenSetIndex.from_lists([[list(s.ids) for s in row] for row in sets], lm.device)
    readout = lm.read(batch, index, top_k, energy=work.meta["energy"])
    probs = readout.set_logprob.exp().cpu().numpy()
    n = len(languages)
    mass = language_mass(readout.top_ids, readout.top_logprob, lm.token_tags, len(lm.languages.labels))
    top_ids = readout.top_ids.cpu().numpy()
    frame = pd.DataFrame(
        {
            "concept": [p.concept for p in prompts],
            "control_concept": [prepared.prompts[prepared.control_of(i)].concept for i in indices],
            "text": [p.text for p in prompts],
            "position": [p.position for p in prompts],
            **{f"word_{lang}": [p.answers[lang] for p in prompts] for lang in languages},
            **{
                f"ids_{lang}": [str(list(prepared.token_sets[i][j].ids)) for i in indices]
                for j, lang in enumerate(languages)
            },
        }
    )
    return LensResult(
        probs=probs[:, :, :n],
        control=probs[:, :, n : 2 * n],
        from_source=probs[:, :, 2 * n :],
        entropy=readout.entropy_bits.cpu().numpy(),
        energy=readout.energy.cpu().numpy(),
        top_ids=top_ids,
        top_probs=readout.top_logprob.exp().cpu().numpy(),
        top_tokens=np.vectorize(lm.token_text, otypes=[str])(top_ids)
        if top_ids.size
        else top_ids.astype(str),
        mass=mass.cpu().numpy(),
        languages=languages,
        labels=list(lm.languages.labels),
        prompts=frame,
        meta=work.meta,
    )


def run_prompts(
    lm: LensModel,
    prompts: PromptSet | list[TaskPrompt],
    languages: list[str],
    *,
    meta: dict | None = None,
    batch_size: int | None = None,
    top_k: int = 10,
    overlap: str = "drop",
    out_dir: str | Path | None = None,
    progress: bool = True,
    protocol: str = "latentlang",
    roles: Roles | None = None,
) -> LensResult:
    """Read the lens at the last token of every prompt, at every layer (your own prompts; the
    studies build theirs from a config).

    Args:
        lm: The model.
        prompts: The prompts; each must have an answer for every language.
        languages: Whose token-set probability to measure, e.g. ``["en", "fr", "zh"]``.
        meta: Task description recorded in the result (task, src, tgt, ...; part of the
            fingerprint).
        batch_size: Prompts per forward pass; ``None`` picks it from the longest prompt and the
            device (:meth:`LensModel.auto_batch_size`). A batch that runs out of memory is halved.
        top_k: Decoded tokens kept per layer (also the language-mass pool).
        overlap: What to do when languages share a token: ``"drop"`` the concept (published) or
            ``"exclude"`` the shared tokens (see :func:`latentlang.language.tokens.resolve_overlaps`).
        out_dir: Folder for the run (see :mod:`latentlang.studies.runner`): a rerun with the same
            settings resumes, or loads the finished result. ``None`` keeps all in memory.
        progress: Show a progress bar.
        protocol: Whose token-set, overlap and energy rules to use (:mod:`latentlang.studies.protocols`).
        roles: Which languages are source, target and latent (for the overlap rule and the
            source-copying split); default: no source, English latent.
    """
    work = lens_work(lm, prompts, languages, top_k=top_k, overlap=overlap, protocol=protocol, roles=roles)
    settings = {
        **(meta or {}),
        "languages": languages,
        "top_k": top_k,
        "overlap": overlap,
        "protocol": protocol,
    }
    return run_work(
        lm,
        work,
        read_batch,
        LensResult,
        settings=settings,
        meta=meta,
        out=out_dir,
        batch_size=batch_size,
        progress=progress,
    )
