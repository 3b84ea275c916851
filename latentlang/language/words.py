"""Word lists and cloze sentences, keyed by the concept's English word.

latentlang ships ``data/words.csv`` (170 concrete nouns in en, de, fr, es, it, ru, zh, ja, ko, ar,
written for this package). Users bring their own in any of three layouts (read by
:mod:`latentlang.language.datasets`):

- a CSV with one column per language code (the shipped layout);
- Wendler et al. (2024): a folder of ``{lang}/clean.csv`` (``word_original, word_translation``,
  the English word in ``word_original``), joined on the English word;
- Dumas et al. (2025): ``{lang}/word_translation.csv``, one column per language holding a list of
  synonyms (Python literals), the file chosen by the task's source language.

Cloze sentences (``data/cloze.csv``: columns ``en, lang, sentence``) describe a concept with its
word masked (``"___"``; any run of underscores is a blank) and end with the answer in quotes
(``... Réponse : "chien".``); the published layout's ``blank_prompt_translation_masked`` column
is read the same way, its answer taken from ``word_translation``.

Real data is messy: a row that cannot be used is skipped and recorded (:class:`Dropped`, written
to a run's ``dropped.csv``), never fatal; only a file with no usable row is an error.
"""

import re
from dataclasses import asdict, dataclass, field

import pandas as pd

from latentlang.errors import LatentLangError
from latentlang.language.codes import check_language

SHIPPED = "words.csv"
SHIPPED_CLOZE = "cloze.csv"
#: Any run of underscores marks a blank (``"_"`` in the published Chinese sentences).
BLANK_PATTERN = re.compile(r"_+")
#: Columns of a cloze table (``problem`` is empty for a usable row, else why it cannot be used).
CLOZE_COLUMNS = ["en", "lang", "sentence", "answer", "problem"]


@dataclass(frozen=True)
class Dropped:
    """A row or concept left out of a run, and why (one row of ``dropped.csv``).

    Attributes:
        concept: The concept's English word (or where the row was, when it has none).
        reason: A short category: ``malformed row``, ``substring``, ``token count``,
            ``no token``, ``overlap``.
        detail: The specifics, e.g. ``en/fr share tokens``.
    """

    concept: str
    reason: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class WordList:
    """Translations of concepts.

    Attributes:
        table: One row per concept, one column per language code; ``en`` always present (the
            key). A missing translation is ``NaN``. A cell holds the word prompts show (the first
            synonym, for a list with synonyms).
        source: Where the list came from (recorded in results).
        synonyms: English word -> language -> every accepted word (the table's first), for lists
            with synonyms; a concept's token set is then the union over them.
        files: For a Wendler-layout folder: each language's usable rows in file order (columns
            ``en`` and the language), which :meth:`paper_rows` merges as the notebooks do.
        skipped: Rows that could not be read.
    """

    table: pd.DataFrame
    source: str
    synonyms: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    files: dict[str, pd.DataFrame] | None = None
    skipped: tuple[Dropped, ...] = ()

    @property
    def languages(self) -> list[str]:
        return list(self.table.columns)

    def rows_with(self, languages: list[str]) -> pd.DataFrame:
        """The concepts that have a word in every one of ``languages``.

        Raises:
            LatentLangError: A language is unknown or absent, or no concept has all of them.
        """
        for lang in languages:
            check_language(lang, self.languages)
        rows = self.table.dropna(subset=languages)
        if rows.empty:
            raise LatentLangError(
                f"the word list {self.source} has no concept with words in all of {', '.join(languages)}"
            )
        return rows

    def accepted(self, concept: str, lang: str, word: str) -> tuple[str, ...]:
        """Every word accepted for ``concept`` in ``lang`` (``word`` alone without synonyms)."""
        return self.synonyms.get(concept, {}).get(lang, (word,))

    def paper_rows(self, src: str, tgt: str, extra: list[str] | None = None) -> pd.DataFrame:
        """The rows the published notebooks iterate over, in their order.

        For a Wendler-layout folder: the target's ``clean.csv`` merged with the source's on the
        English word (an inner merge, in the target file's order, duplicates as the merge makes
        them), as the notebooks do, then with the files of any ``extra`` languages. English is the
        key ``word_original``: its own file is merged only when it is the source or target. For
        any other list: :meth:`rows_with`, in the table's order.

        Args:
            src: The source language (``tgt`` itself for one-language tasks).
            tgt: The target language, whose file gives the order.
            extra: Other languages that need a word (further latent languages).
        """
        languages = list(dict.fromkeys(["en", tgt, src, *(extra or [])]))
        if self.files is None:
            return self.rows_with(languages).reset_index(drop=True)
        for lang in languages:
            check_language(lang, self.languages)
        frame = self._file(tgt)
        for lang in languages:
            if lang != tgt and (lang != "en" or src == "en"):
                frame = frame.merge(self._file(lang), on="en")
        if frame.empty:
            raise LatentLangError(
                f"the word list {self.source} has no concept with words in all of {', '.join(languages)}"
            )
        return frame.reset_index(drop=True)

    def has_word(self, concept: str, lang: str) -> bool:
        """Whether ``concept`` has a word in ``lang`` (in its file, for a published folder)."""
        frame = self._file(lang)
        return bool((frame["en"] == concept).any())

    def _file(self, lang: str) -> pd.DataFrame:
        """One language's rows (``en`` and the word) as its file lists them; the table's column
        for a language without a file (English without ``en/clean.csv``)."""
        if self.files is not None and lang in self.files:
            return self.files[lang]
        return self.table[["en"]] if lang == "en" else self.table[["en", lang]].dropna()


def checked(
    table: pd.DataFrame,
    source: str,
    skipped: list[Dropped] | tuple[Dropped, ...] = (),
    synonyms: dict | None = None,
    files: dict[str, pd.DataFrame] | None = None,
) -> WordList:
    """A :class:`WordList` from a table with language columns: words stripped, rows without an
    English word skipped (and recorded), one row per English word.

    Raises:
        LatentLangError: No ``en`` column, an unknown language code, or no usable row.
    """
    table = table.apply(lambda col: col.str.strip() if col.dtype == object else col)
    table = table.replace("", pd.NA)
    if "en" not in table.columns:
        raise LatentLangError(
            f"the word list {source} has no 'en' column; words are keyed by their English form"
        )
    for lang in table.columns:
        check_language(lang)
    skipped = list(skipped)
    for row in table.index[table["en"].isna()]:
        skipped.append(Dropped(f"{source} row {row + 1}", "malformed row", "no English word"))
    table = table.dropna(subset=["en"]).drop_duplicates("en").reset_index(drop=True)
    if table.empty:
        raise LatentLangError(f"the word list {source} is empty; give at least one concept")
    return WordList(table=table, source=source, synonyms=synonyms or {}, files=files, skipped=tuple(skipped))


def as_cloze_table(frame: pd.DataFrame, source: str = "cloze sentences") -> pd.DataFrame:
    """Cloze rows with columns ``en, lang, sentence, answer, problem``: cells stripped, one row per
    concept and language, ``answer`` ``NaN`` where the data does not name it, ``problem`` saying
    why a row cannot be used ("" if it can). Idempotent.

    Raises:
        LatentLangError: The frame lacks ``en``, ``lang`` or ``sentence``.
    """
    missing = {"en", "lang", "sentence"} - set(frame.columns)
    if missing:
        raise LatentLangError(
            f"the cloze sentences in {source} lack the column(s) {', '.join(sorted(missing))}"
        )
    frame = frame.assign(answer=frame["answer"] if "answer" in frame else pd.NA)
    frame = frame.apply(lambda col: col.str.strip() if col.dtype == object else col).replace("", pd.NA)
    frame = frame.drop_duplicates(["en", "lang"]).reset_index(drop=True)
    frame["problem"] = [cloze_problem(row) for row in frame.to_dict("records")]
    return frame[CLOZE_COLUMNS]


def cloze_problem(row: dict) -> str:
    """Why a cloze row cannot be used ("" if it can)."""
    for column in ("en", "lang", "sentence"):
        if pd.isna(row.get(column)):
            return f"no {'English word' if column == 'en' else column}"
    if not BLANK_PATTERN.search(row["sentence"]):
        return f"no blank (a run of _) in {row['sentence']!r}"
    return ""
