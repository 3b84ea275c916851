"""Concept and language patching (Dumas et al., 2025, "Separating Tongue from Thought").

A *source* translation prompt (``de:it``: German → Italian, about concept c_S) and a *target* one
(``fr:zh``, about another concept c_T) from the same word list. As in the paper's code, the source
prompt ends with its concept word (``Deutsch: "Hund``) and its residual at that last token
replaces the target's at the last token of the target's own concept word (``--position object``)
— or at the target's last token (``--position last``) — at layer ``j`` (``--mode single``) or at
``j`` and every later layer (``--mode from``, the paper's), for every ``j`` (0 = embeddings ...
last); the output is read at the target's last token. Read per patch layer:
the probability of c_S and of c_T, each in the source prompt's output language and in the target
prompt's (four token sets), at the model's output and, by the lens, at every layer of the patched
run. ``--mean-over de,nl,ru`` patches the mean of c_S's source latents over several input
languages (the paper's second experiment). A pair whose four token sets share a token is dropped
and counted: its probabilities could not be told apart.
"""

from dataclasses import dataclass

import pandas as pd
import torch

from latentlang.config import as_list, option
from latentlang.core.edits import Patch, edited
from latentlang.core.lens import TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.codes import check_language
from latentlang.language.datasets import load_words
from latentlang.language.words import Dropped
from latentlang.results.patch import SETS, PatchResult
from latentlang.studies.prompts import translation_prompts
from latentlang.studies.runner import Study, StudyConfig, Work


@dataclass(frozen=True)
class PatchPair:
    """A source concept's prompts and a target prompt about another concept.

    Attributes:
        concept: The source concept (c_S).
        other: The target prompt's concept (c_T).
        latent_texts: The prompts whose last-token residual is patched in (one per averaged
            source language; cut after the concept word for ``--position object``).
        source_text: The first source prompt, whole (its own output is recorded).
        target_text: The prompt patched.
        sets: The four token sets' ids (c_S, c_T in the source's and the target's output language).
        where: The target token patched (its index in the prompt), or -1 for the last.
    """

    concept: str
    other: str
    latent_texts: tuple[str, ...]
    source_text: str
    target_text: str
    sets: tuple[tuple[int, ...], ...]
    where: int


@dataclass(kw_only=True)
class PatchConfig(StudyConfig):
    """Settings of ``latentlang patch``."""

    source: str = option("de:it", "the source prompts' languages, INPUT:OUTPUT")
    target: str = option("fr:zh", "the target prompts' languages, INPUT:OUTPUT")
    mode: str = option(
        "from", "patch layer j only (single) or j and every later layer (from)", choices=["from", "single"]
    )
    position: str = option(
        "object",
        "where the target is patched: its concept word's last token (object, the paper's) or its last token",
        choices=["object", "last"],
    )
    mean_over: list[str] | None = option(
        None, "patch the mean of the source concept's latents over these input languages (comma-separated)"
    )
    words: str | None = option(None, "word list: a CSV with language columns or a folder of {lang}/clean.csv")
    n_shots: int = option(4, "demonstrations per prompt")
    seed: int = option(0, "seed for drawing demonstrations")
    limit: int | None = option(None, "only the first N concept pairs (for a quick run)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("source", "target"):
            pair = getattr(self, name).split(":")
            if len(pair) != 2 or pair[0] == pair[1]:
                raise LatentLangError(
                    f"--{name} takes two languages INPUT:OUTPUT such as de:it, got {getattr(self, name)!r}"
                )
            for lang in pair:
                check_language(lang)
        self.mean_over = None if self.mean_over is None else as_list(self.mean_over, "mean_over")
        for lang in self.mean_over or []:
            check_language(lang)
        if self.limit is not None and self.limit < 1:
            raise LatentLangError(f"limit must be at least 1, got {self.limit}")
        self.out = (
            self.out
            or f"runs/patch-{self.source.replace(':', '-')}-into-{self.target.replace(':', '-')}-{self.mode}"
        )

    @property
    def languages(self) -> tuple[str, str]:
        """The two output languages: the source prompt's and the target prompt's."""
        return self.source.split(":")[1], self.target.split(":")[1]


def patch_items(config: PatchConfig, lm: LensModel) -> Work:
    """Pairs of a source concept's prompts (one per averaged language) and a target prompt about
    another concept, with the four token sets."""
    src_in, src_out = config.source.split(":")
    tgt_in, tgt_out = config.target.split(":")
    inputs = config.mean_over or [src_in]
    words = load_words(config.words, source_lang=src_in)
    options = {"languages": [src_out, tgt_out], "n_shots": config.n_shots, "seed": config.seed}
    sources = {
        lang: {p.concept: p for p in translation_prompts(words, lang, src_out, **options)} for lang in inputs
    }
    targets = {p.concept: p for p in translation_prompts(words, tgt_in, tgt_out, **options)}
    concepts = [c for c in targets if all(c in by for by in sources.values())]
    if len(concepts) < 2:
        raise LatentLangError(f"fewer than 2 concepts have prompts in {config.source} and {config.target}")
    items, dropped = [], []
    half = len(concepts) // 2
    for i, concept in enumerate(concepts):
        other = concepts[(i + half) % len(concepts)]
        src_prompt, tgt_prompt = sources[inputs[0]][concept], targets[other]
        sets = [
            lm.vocab.concept_set(prompt.words(lang), "bytes", lang)
            for prompt in (src_prompt, tgt_prompt)
            for lang in (src_out, tgt_out)
        ]
        ids = [set(s.ids) for s in sets]
        if not all(ids) or ids[0] & ids[2] or ids[1] & ids[3]:
            dropped.append(Dropped(concept, "overlap", f"with {other}: a token set is empty or shared"))
            continue
        cut = _up_to_word if config.position == "object" else str
        latent_texts = tuple(cut(sources[lang][concept].text) for lang in inputs)
        where = _word_end(lm.tokenizer, tgt_prompt.text) if config.position == "object" else -1
        sets = tuple(tuple(s.ids) for s in sets)
        items.append(PatchPair(concept, other, latent_texts, src_prompt.text, tgt_prompt.text, sets, where))
        if config.limit and len(items) == config.limit:
            break
    if not items:
        raise LatentLangError("every concept pair was dropped: their token sets overlap")
    lengths = [len(lm.tokenizer(item.target_text)["input_ids"]) for item in items]
    return Work(
        items=items,
        keys=[(i.latent_texts, i.target_text, i.sets, i.where) for i in items],
        tokens=max(lengths) * (len(inputs) + 1),
        meta={
            "dropped": [d.as_dict() for d in dropped],
            "inputs": inputs,
            "languages": list(config.languages),
            "mode": config.mode,
            "position": config.position,
            "source": config.source,
            "target": config.target,
        },
    )


def _up_to_word(text: str) -> str:
    """A translation prompt cut after its last line's source word (``Deutsch: "Hund``)."""
    return text[: text.rindex('" - ')]


def _word_end(tokenizer, text: str) -> int:
    """The index of the token holding the last character of the last line's source word."""
    end = len(_up_to_word(text)) - 1
    offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    return next(i for i, (start, stop) in enumerate(offsets) if start <= end < stop)


def patch_batch(lm: LensModel, work: Work, indices: list[int]) -> PatchResult:
    """The source latents of some pairs (one capture pass), then one patched target pass per layer."""
    items = [work.items[i] for i in indices]
    n_inputs = len(items[0].latent_texts)
    source_batch = lm.tokenize([text for item in items for text in item.latent_texts])
    latents = lm.capture(source_batch).residuals[:, :, -1]  # [pair × input, layer, d]
    latents = latents.view(len(items), n_inputs, *latents.shape[1:]).mean(1)  # [pair, layer, d]
    index = TokenSetIndex.from_lists([[list(ids) for ids in item.sets] for item in items], lm.device)
    target_batch = lm.tokenize([item.target_text for item in items])
    width = target_batch.input_ids.shape[1]
    lengths = target_batch.attention_mask.sum(-1)
    # Left padding: a row's token p sits at column width - length + p; -1 is every row's last.
    where = torch.tensor([item.where for item in items], device=lengths.device)
    columns = torch.where(where < 0, width - 1, width - lengths + where)
    own = lm.read(lm.tokenize([item.source_text for item in items]), index, top_k=1).set_logprob.exp()
    unpatched = lm.read(target_batch, index, top_k=1).set_logprob.exp()
    depth = latents.shape[1]
    probs = torch.zeros(len(items), depth, depth, len(SETS), device=lm.device)
    for j in range(depth):
        layers = list(range(j, depth)) if work.meta["mode"] == "from" else [j]
        with edited(lm, [Patch(layers, latents[:, layers])], positions=columns):
            probs[:, j] = lm.read(target_batch, index, top_k=1).set_logprob.exp()
    frame = pd.DataFrame(
        {
            "source_concept": [item.concept for item in items],
            "target_concept": [item.other for item in items],
            "source_text": [item.source_text for item in items],
            "target_text": [item.target_text for item in items],
            "patched_token": [item.where for item in items],
        }
    )
    return PatchResult(probs.cpu().numpy(), unpatched.cpu().numpy(), own.cpu().numpy(), frame, meta=work.meta)


PATCH = Study(
    "patch",
    "patch a source translation prompt's latents into another prompt, layer by layer (Dumas et al.)",
    PatchConfig,
    PatchResult,
    items=patch_items,
    run_batch=patch_batch,
)


def run_patch(config: PatchConfig, lm: LensModel | None = None, progress: bool = True) -> PatchResult:
    """Run the patching study (resumable through ``config.out``)."""
    return PATCH.run(config, lm, progress)
