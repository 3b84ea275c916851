"""Steering with language vectors: add "language B minus language A" to the residual stream.

A language vector at residual layer ``j`` is the mean residual at the last token of texts in
language B minus that of texts in language A (the shipped cloze sentences, the shipped words, or a
CSV of ``lang, text[, concept]`` rows). It is added with strength α (``α = 1`` moves an average
A text's residual to an average B text's) at layer ``j`` of few-shot translation prompts whose
answer is in A (``--prompts de:fr``, A = fr), at their last token or at every position. Read per
α and layer, at the model's output: the concept's probability in A and in B, the mass of every
language over the whole next-token distribution and, with ``--generate N``, the greedy
continuation and the language of its answer (up to the closing quote). Each prompt's vector
leaves out the texts about its own concept, so no prompt is steered with its own answer.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from latentlang.config import option
from latentlang.core.edits import Add, edited
from latentlang.core.generate import generate_reading
from latentlang.core.lens import TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.codes import check_language
from latentlang.language.datasets import load_cloze, load_words, read_rows
from latentlang.language.langid import text_language
from latentlang.language.refusal import translation_answer
from latentlang.language.words import Dropped
from latentlang.results.steer import SteerResult
from latentlang.studies.interventions import InterventionConfig, edited_prompts, language_pair, read_output
from latentlang.studies.runner import Study, Work


@dataclass(kw_only=True)
class SteerConfig(InterventionConfig):
    """Settings of ``latentlang steer``."""

    toward: str = option(
        "zh", "language B: the vector is mean(B texts) - mean(A texts), A the prompts' output"
    )
    texts: str = option(
        "sentences", "texts the vector is the mean of: sentences, words, or a CSV of lang,text[,concept] rows"
    )
    alphas: list[float] = option(
        [0.5, 1.0, 2.0, 4.0], "strengths α, comma-separated (the unsteered prompt is always read)"
    )
    generate: int = option(
        0, "also generate this many tokens greedily under each edit and tag their language"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_language(self.toward)
        if self.toward == self.languages[0]:
            raise LatentLangError(
                f"--toward {self.toward} is the prompts' own output language; steer toward another one"
            )
        if not self.alphas:
            raise LatentLangError("give at least one strength α (--alphas 0,1,2)")
        self.alphas = [float(a) for a in self.alphas]
        if self.generate < 0:
            raise LatentLangError(f"generate takes a number of tokens >= 0, got {self.generate}")
        if self.texts not in ("sentences", "words") and not Path(self.texts).is_file():
            raise LatentLangError(
                f"--texts is sentences, words or a CSV file; {self.texts!r} is none of them"
            )
        self.out = self.out or f"runs/steer-{self.prompts.replace(':', '-')}-toward-{self.toward}"

    @property
    def languages(self) -> tuple[str, str]:
        """A (the prompts' output language) and B (the language steered toward)."""
        return language_pair(self.prompts, "prompts")[1], self.toward


@dataclass(frozen=True)
class SteerItems:
    """The prompts steered and, per prompt, its language vector at every layer."""

    texts: list[str]
    concepts: list[str]
    words: list[tuple[str, str]]
    sets: list[tuple[tuple[int, ...], tuple[int, ...]]]
    vectors: Float[Tensor, "prompt layer d_model"]

    def __len__(self) -> int:
        return len(self.texts)


def vector_texts(
    source: str, languages: tuple[str, str], words: str | None = None
) -> tuple[pd.DataFrame, int]:
    """The texts a language vector is made of, as ``concept, lang, text`` rows, and how many rows
    in A or B were skipped for having no text.

    Args:
        source: ``"sentences"`` (the shipped cloze sentences), ``"words"`` (the word list's
            words) or a CSV of ``lang, text[, concept]`` rows.
        languages: A and B.
        words: The word list for ``"words"`` (``None``: the shipped one).
    """
    if source == "sentences":
        frame = load_cloze()
        frame = frame[frame["problem"] == ""].rename(columns={"en": "concept", "sentence": "text"})
    elif source == "words":
        table = load_words(words).table
        frame = table.melt(id_vars="en", var_name="lang", value_name="text").rename(columns={"en": "concept"})
        frame = pd.concat(
            [frame, table[["en"]].assign(lang="en", text=table["en"]).rename(columns={"en": "concept"})]
        )
    else:
        frame, _ = read_rows(Path(source))
        if not {"lang", "text"} <= set(frame.columns):
            raise LatentLangError(f"{source} needs columns lang and text (and optionally concept)")
        frame = frame.assign(concept=frame["concept"] if "concept" in frame else "")
    frame = frame[["concept", "lang", "text"]].fillna("")
    usable = (frame["text"].str.strip() != "") & frame["lang"].isin(languages)
    skipped = int(((frame["text"].str.strip() == "") & frame["lang"].isin(languages)).sum())
    frame = frame[usable]
    for lang in languages:
        if (frame["lang"] == lang).sum() < 2:
            raise LatentLangError(
                f"the {source} texts hold fewer than 2 in {lang}; use --texts words or a CSV with {lang} rows"
            )
    return frame.reset_index(drop=True), skipped


@torch.no_grad()
def mean_residuals(
    lm: LensModel, texts: list[str], batch_size: int = 32
) -> Float[Tensor, "text layer d_model"]:
    """Each text's residual at its last token, at every layer (float32, on the model's device)."""
    parts = []
    for start in range(0, len(texts), batch_size):
        batch = lm.tokenize(texts[start : start + batch_size])
        parts.append(lm.capture(batch).residuals[:, :, -1].float())
    return torch.cat(parts)


def language_vector(
    residuals: Float[Tensor, "text layer d_model"],
    frame: pd.DataFrame,
    languages: tuple[str, str],
    leave_out: str | None = None,
) -> Float[Tensor, "layer d_model"]:
    """mean(B texts' residuals) - mean(A texts'), per layer, without the texts about ``leave_out``.

    Args:
        residuals: Each row of ``frame``'s residual at its last token (:func:`mean_residuals`).
        frame: ``concept, lang, text`` rows (:func:`vector_texts`).
        languages: A and B.
        leave_out: A concept whose texts are not used (``None``: use every text).
    """
    means = []
    for lang in languages:
        keep = (frame["lang"] == lang) & (frame["concept"] != leave_out if leave_out is not None else True)
        means.append(residuals[torch.tensor(keep.to_numpy(dtype=bool), device=residuals.device)].mean(0))
    return means[1] - means[0]


def steer_items(config: SteerConfig, lm: LensModel) -> Work:
    """The prompts (concept sets in A and B must be non-empty and disjoint) and their vectors."""
    a, b = config.languages
    prompts = edited_prompts(config, [a, b])
    frame, skipped = vector_texts(config.texts, (a, b), config.words)
    texts, concepts, words, sets, dropped = [], [], [], [], list(prompts.dropped)
    for prompt in prompts:
        ids = [tuple(lm.vocab.concept_set(prompt.words(lang), "bytes", lang).ids) for lang in (a, b)]
        if not all(ids) or set(ids[0]) & set(ids[1]):
            dropped.append(
                Dropped(prompt.concept, "overlap", f"its {a} and {b} token sets are empty or shared")
            )
            continue
        texts.append(prompt.text)
        concepts.append(prompt.concept)
        words.append(("|".join(prompt.words(a)), "|".join(prompt.words(b))))
        sets.append((ids[0], ids[1]))
        if config.limit and len(texts) == config.limit:
            break
    if not texts:
        raise LatentLangError(f"no concept has distinct {a} and {b} tokens; use another word list")
    residuals = mean_residuals(lm, frame["text"].tolist())
    vectors = torch.stack([language_vector(residuals, frame, (a, b), concept) for concept in concepts])
    whole = language_vector(residuals, frame, (a, b))  # every text: the vector a user would reuse
    prompt_norm = mean_residuals(lm, texts).norm(dim=-1).mean(0)
    layers = config.chosen_layers(lm)
    return Work(
        items=SteerItems(texts, concepts, words, sets, vectors),
        keys=[(t, s) for t, s in zip(texts, sets)] + [frame.to_dict("list")],
        tokens=max(len(ids) for ids in lm.tokenizer(texts)["input_ids"]) + config.generate,
        meta={
            "languages": [a, b],
            "layers": layers,
            "positions": config.positions,
            "generate": config.generate,
            "alphas": config.alphas,
            "dropped": [d.as_dict() for d in dropped],
            "texts_skipped": skipped,
            "n_texts": {lang: int((frame["lang"] == lang).sum()) for lang in (a, b)},
            "vector_norm": whole.norm(dim=-1).tolist(),
            "prompt_residual_norm": prompt_norm.tolist(),
            "labels": list(lm.languages.labels),
        },
    )


def steer_batch(lm: LensModel, work: Work, indices: list[int]) -> SteerResult:
    """The unsteered prompts, then every (α, layer) edit: one forward pass each (and a greedy
    continuation with ``--generate``)."""
    items: SteerItems = work.items
    meta = work.meta
    batch = lm.tokenize([items.texts[i] for i in indices])
    index = TokenSetIndex.from_lists([[list(s) for s in items.sets[i]] for i in indices], lm.device)
    vectors = items.vectors[indices]
    layers, alphas = meta["layers"], meta["alphas"]
    positions = "all" if meta["positions"] == "all" else None

    def observe() -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        probs, mass = (x.cpu().numpy() for x in read_output(lm, batch, index))
        if not meta["generate"]:
            return probs, mass, [""] * len(indices), [""] * len(indices)
        new = generate_reading(lm, batch, meta["generate"], steps=1).new_tokens
        texts = lm.tokenizer.batch_decode(new, skip_special_tokens=True)
        return probs, mass, texts, [""] * len(texts)  # tagged by tag_answers, with the current rules

    base = observe()
    runs = {}
    for a, alpha in enumerate(alphas):
        for k, layer in enumerate(layers):
            with edited(lm, [Add([layer], vectors[:, layer], alpha)], positions=positions):
                runs[a, k] = observe()
    grid = [[runs[a, k] for k in range(len(layers))] for a in range(len(alphas))]
    # [alpha][layer][field] -> per field, [prompt, alpha, layer, ...]
    fields = [np.moveaxis(np.asarray([[cell[f] for cell in row] for row in grid]), 2, 0) for f in range(4)]
    a, b = meta["languages"]
    frame = pd.DataFrame(
        {
            "concept": [items.concepts[i] for i in indices],
            "text": [items.texts[i] for i in indices],
            f"words_{a}": [items.words[i][0] for i in indices],
            f"words_{b}": [items.words[i][1] for i in indices],
        }
    )
    return SteerResult(
        fields[0].astype(np.float32),
        fields[1].astype(np.float32),
        fields[2].astype(str),
        fields[3].astype(str),
        base[0].astype(np.float32),
        base[1].astype(np.float32),
        np.asarray(base[2], dtype=str),
        np.asarray(base[3], dtype=str),
        frame,
        meta=meta,
    )


def tag_answers(result: SteerResult, config: SteerConfig, work: Work) -> SteerResult:
    """Each continuation's answer tagged with its language (``"none"``: an empty answer)."""
    if config.generate:
        tag = np.vectorize(lambda text: text_language(translation_answer(text)), otypes=[str])
        result.text_lang, result.base_lang = tag(result.texts), tag(result.base_text)
    return result


STEER = Study(
    "steer",
    "add a language vector (mean of B texts minus A texts) to translation prompts, per layer and strength",
    SteerConfig,
    SteerResult,
    items=steer_items,
    run_batch=steer_batch,
    finish=tag_answers,
)


def run_steer(config: SteerConfig, lm: LensModel | None = None, progress: bool = True) -> SteerResult:
    """Run the steering study (resumable through ``config.out``)."""
    return STEER.run(config, lm, progress)
