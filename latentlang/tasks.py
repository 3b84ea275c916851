"""Prompt builders. Each returns :class:`TaskPrompt` objects: the text, and the words whose
probability the lens should read at the prompt's last token. The formats are the published ones
(Wendler et al., 2024); each line names its language in that language.

Translation::

    Français: "fleur" - 中文: "花"
    Français: "montagne" - 中文: "山"
    Français: "chien" - 中文: "

Repetition (the same word, same language)::

    Deutsch: "Blume" - Deutsch: "Blume"
    Deutsch: "Hund" - Deutsch: "

Cloze (sentences describing a word with the word masked; two demonstrations by default)::

    Une "___" est souvent offerte en cadeau. Réponse : "fleur".
    Un "___" est un animal qui aboie. Réponse : "

In every task the next token should begin the answer; the lens asks, layer by layer, how much of
the decoded distribution is on the concept's word in each measured language.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from latentlang.errors import LatentLangError
from latentlang.languages import LANGUAGE_NAMES
from latentlang.words import BLANK, WordList


@dataclass(frozen=True)
class TaskPrompt:
    """One prompt of a task.

    Attributes:
        text: The prompt; the lens reads its last token.
        concept: The concept's English word (the word list's key).
        answers: Language -> the word for the concept in that language, whose token set the lens
            measures.
    """

    text: str
    concept: str
    answers: dict[str, str]


def translation_line(src: str, src_word: str, tgt: str, tgt_word: str = "") -> str:
    """One line of the translation task; with ``tgt_word=""`` it ends at the open quote."""
    line = f'{LANGUAGE_NAMES[src]}: "{src_word}" - {LANGUAGE_NAMES[tgt]}: "'
    return line + (f'{tgt_word}"\n' if tgt_word else "")


def translation_prompts(
    words: WordList,
    src: str,
    tgt: str,
    languages: list[str] | None = None,
    n_shots: int = 4,
    seed: int = 0,
    shared_demos: bool = False,
) -> list[TaskPrompt]:
    """Few-shot translation prompts from ``src`` to ``tgt``, one per concept.

    Args:
        words: The word list.
        src: Source language code.
        tgt: Target language code (must differ from ``src``).
        languages: Languages whose word is measured (default: en, src, tgt).
        n_shots: Demonstrations per prompt: other concepts, drawn per prompt with ``seed``.
        seed: Seed for drawing demonstrations.
        shared_demos: Give every prompt the same demonstrations (see :func:`_few_shot`).

    Raises:
        LatentLangError: ``src == tgt``, a language is unknown or absent from the list, or the list
            has too few concepts for ``n_shots`` demonstrations.
    """
    if src == tgt:
        raise LatentLangError(
            f"translation needs two different languages, got {src} and {tgt} "
            "(the repetition task repeats a word in one language)"
        )
    languages = languages or list(dict.fromkeys(["en", src, tgt]))
    return _few_shot(
        words.rows_with(list(dict.fromkeys([*languages, src, tgt]))),
        languages,
        n_shots,
        seed,
        demo=lambda row: translation_line(src, row[src], tgt, row[tgt]),
        query=lambda row: translation_line(src, row[src], tgt),
        shared=shared_demos,
    )


def repetition_prompts(
    words: WordList,
    lang: str,
    languages: list[str] | None = None,
    n_shots: int = 4,
    seed: int = 0,
    shared_demos: bool = False,
) -> list[TaskPrompt]:
    """Few-shot prompts that repeat each word of ``lang`` (see :func:`translation_prompts`)."""
    languages = languages or list(dict.fromkeys(["en", lang]))
    return _few_shot(
        words.rows_with(list(dict.fromkeys([*languages, lang]))),
        languages,
        n_shots,
        seed,
        demo=lambda row: translation_line(lang, row[lang], lang, row[lang]),
        query=lambda row: translation_line(lang, row[lang], lang),
        shared=shared_demos,
    )


def cloze_prompts(
    sentences: pd.DataFrame,
    words: WordList,
    lang: str,
    languages: list[str] | None = None,
    n_shots: int = 2,
    seed: int = 0,
    shared_demos: bool = False,
) -> list[TaskPrompt]:
    """Few-shot cloze prompts in ``lang``: demonstrations are whole sentences with their answer;
    the query sentence stops at the answer's opening quote.

    Args:
        sentences: Cloze sentences (``en, lang, sentence``), see :func:`latentlang.words.load_cloze`.
        words: The word list, for the concept's word in the other measured languages.
        lang: The language of the sentences.
        languages: Languages whose word is measured (default: en, lang).
        n_shots: Demonstrations per prompt.
        seed: Seed for drawing demonstrations.

    Raises:
        LatentLangError: No sentences in ``lang``, or a sentence whose answer cannot be found.
    """
    languages = languages or list(dict.fromkeys(["en", lang]))
    mine = sentences[sentences["lang"] == lang]
    if mine.empty:
        have = ", ".join(sorted(sentences["lang"].unique()))
        raise LatentLangError(f"there are no cloze sentences in {lang!r}; the cloze data has: {have}")
    others = [x for x in languages if x not in ("en", lang)]
    table = words.rows_with(["en", *others]) if others else words.table[["en"]]
    rows = mine.merge(table[["en", *others]], on="en", how="inner")
    if rows.empty:
        raise LatentLangError(f"no concept has both a {lang} cloze sentence and words in {', '.join(others)}")
    rows = rows.assign(answer=[cloze_answer(s, c, lang) for s, c in zip(rows["sentence"], rows["en"])])
    rows[lang] = rows["answer"]
    return _few_shot(
        rows,
        languages,
        n_shots,
        seed,
        demo=lambda row: row["sentence"] + "\n",
        query=lambda row: cloze_query(row["sentence"], row["answer"]),
        shared=shared_demos,
    )


def cloze_answer(sentence: str, concept: str, lang: str) -> str:
    """The answer of a cloze sentence: the text between its last pair of double quotes.

    Raises:
        LatentLangError: The sentence has no blank or no quoted answer.
    """
    if BLANK not in sentence:
        raise LatentLangError(
            f"the {lang} cloze sentence for {concept!r} has no blank {BLANK}: {sentence!r}; "
            f"write the masked word as {BLANK}"
        )
    parts = sentence.rsplit('"', 2)
    if len(parts) != 3 or not parts[1].strip() or parts[1] == BLANK.strip('"'):
        raise LatentLangError(
            f'the {lang} cloze sentence for {concept!r} does not end with its answer in quotes ("word"): '
            f"{sentence!r}"
        )
    return parts[1]


def cloze_query(sentence: str, answer: str) -> str:
    """The sentence up to and including the answer's opening quote."""
    return sentence[: sentence.rindex(f'"{answer}"') + 1]


def _few_shot(
    rows: pd.DataFrame,
    languages: list[str],
    n_shots: int,
    seed: int,
    demo: Callable[[dict], str],
    query: Callable[[dict], str],
    shared: bool = False,
) -> list[TaskPrompt]:
    """One prompt per row: ``n_shots`` demonstrations drawn from the other rows, then the query.

    With ``shared`` every prompt gets the same demonstrations (drawn once; those rows are not
    queried), so all prompts share a token prefix that is computed once (:mod:`latentlang.prefix`).
    """
    if n_shots < 0:
        raise LatentLangError(f"n_shots must be >= 0, got {n_shots}")
    if len(rows) <= n_shots:
        raise LatentLangError(
            f"only {len(rows)} concepts have words in all of {', '.join(languages)}: too few for "
            f"{n_shots} demonstrations plus a query; add words or lower n_shots"
        )
    rng = np.random.default_rng(seed)
    records = rows.to_dict("records")
    fixed = rng.choice(len(records), size=n_shots, replace=False).tolist() if shared else None
    prompts = []
    for i, row in enumerate(records):
        if fixed is not None and i in fixed:
            continue  # a demonstration is not also a query
        picks = fixed or rng.choice([j for j in range(len(records)) if j != i], size=n_shots, replace=False)
        text = "".join(demo(records[j]) for j in picks)
        answers = {lang: row[lang] for lang in languages}
        prompts.append(TaskPrompt(text=text + query(row), concept=row["en"], answers=answers))
    return prompts
