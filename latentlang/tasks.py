"""Prompt builders. Each returns :class:`TaskPrompt` objects: the text, and the words whose
probability the lens should read at the prompt's last token.

Translation (Wendler et al., 2024): a few demonstrations, then the query, each line naming the
languages in themselves::

    Français: "fleur" - 中文: "花"
    Français: "montagne" - 中文: "山"
    Français: "chien" - 中文: "

The next token should begin the target word (狗); the lens asks, layer by layer, how much of the
decoded distribution is on the English word (dog), the source word (chien) and the target word.
"""

from dataclasses import dataclass

import numpy as np

from latentlang.errors import LatentLangError
from latentlang.languages import LANGUAGE_NAMES
from latentlang.words import WordList


@dataclass(frozen=True)
class TaskPrompt:
    """One prompt of a task.

    Attributes:
        text: The prompt; the lens reads its last token.
        concept: The concept's English word (the word list's key).
        answers: Language -> the word for the concept in that language, whose token set the lens
            measures (English, the source and the target for translation).
    """

    text: str
    concept: str
    answers: dict[str, str]


def translation_line(src: str, src_word: str, tgt: str, tgt_word: str = "") -> str:
    """One line of the translation task; with ``tgt_word=""`` it ends at the open quote."""
    line = f'{LANGUAGE_NAMES[src]}: "{src_word}" - {LANGUAGE_NAMES[tgt]}: "'
    return line + (f'{tgt_word}"\n' if tgt_word else "")


def translation_prompts(
    words: WordList, src: str, tgt: str, n_shots: int = 4, seed: int = 0
) -> list[TaskPrompt]:
    """Few-shot translation prompts from ``src`` to ``tgt``, one per concept.

    Demonstrations are other concepts of the list, drawn per prompt with ``seed``.

    Args:
        words: The word list.
        src: Source language code.
        tgt: Target language code (must differ from ``src``).
        n_shots: Demonstrations per prompt.
        seed: Seed for drawing demonstrations.

    Raises:
        LatentLangError: ``src == tgt``, a language is unknown or absent from the list, or the list
            has too few concepts for ``n_shots`` demonstrations.
    """
    if src == tgt:
        raise LatentLangError(
            f"translation needs two different languages, got --src {src} --tgt {tgt} "
            "(the repetition task repeats a word in one language)"
        )
    if n_shots < 0:
        raise LatentLangError(f"n_shots must be >= 0, got {n_shots}")
    rows = words.rows_with(sorted({"en", src, tgt}))
    if len(rows) <= n_shots:
        raise LatentLangError(
            f"the word list has {len(rows)} concepts with {src} and {tgt} words, too few for "
            f"{n_shots} demonstrations plus a query; add words or lower n_shots"
        )
    rng = np.random.default_rng(seed)
    records = rows.to_dict("records")
    prompts = []
    for i, row in enumerate(records):
        others = [j for j in range(len(records)) if j != i]
        demos = [records[j] for j in rng.choice(others, size=n_shots, replace=False)]
        text = "".join(translation_line(src, d[src], tgt, d[tgt]) for d in demos)
        text += translation_line(src, row[src], tgt)
        answers = {lang: row[lang] for lang in dict.fromkeys(["en", src, tgt])}
        prompts.append(TaskPrompt(text=text, concept=row["en"], answers=answers))
    return prompts
