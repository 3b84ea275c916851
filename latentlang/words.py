"""Word lists and cloze sentences, keyed by the concept's English word.

latentlang ships ``data/words.csv`` (170 concrete nouns in en, de, fr, es, it, ru, zh, ja, ko, ar,
written for this package). Users can bring their own, either as a CSV in the same layout or as a
folder in the published layout of Wendler et al. (2024): ``{lang}/clean.csv`` files with columns
``lang, word_original, word_translation``, the English word in ``word_original``; the folders are
joined on the English word.

Cloze sentences (``data/cloze.csv``: columns ``en, lang, sentence``) describe a concept with its
word masked as ``"___"`` and end with the answer in quotes (``... Réponse : "chien".``); the
published layout's ``blank_prompt_translation_masked`` column is read the same way.
"""

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd

from latentlang.errors import LatentLangError
from latentlang.languages import check_language

SHIPPED = "words.csv"
SHIPPED_CLOZE = "cloze.csv"
#: How a cloze sentence marks the masked word.
BLANK = '"___"'


@dataclass(frozen=True)
class WordList:
    """Translations of concepts.

    Attributes:
        table: One row per concept, one column per language code; ``en`` always present.
            A missing translation is ``NaN``.
        source: Where the list came from (recorded in results).
    """

    table: pd.DataFrame
    source: str

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


def load_words(path: str | Path | None = None) -> WordList:
    """Load the shipped list (``path=None``), a CSV with language columns, or a published folder.

    Raises:
        LatentLangError: The path does not exist, holds no words, or has no English column.
    """
    if path is None:
        return _checked(pd.read_csv(files("latentlang").joinpath("data", SHIPPED), dtype=str), "shipped list")
    path = Path(path)
    if path.is_dir():
        return _checked(_read_published(path), str(path))
    if path.is_file():
        return _checked(pd.read_csv(path, dtype=str), str(path))
    raise LatentLangError(
        f"word list {str(path)!r} does not exist; give a CSV file or a folder of {{lang}}/clean.csv"
    )


def _read_published(folder: Path) -> pd.DataFrame:
    """Join ``{lang}/clean.csv`` files (published layout) on their English word."""
    columns: dict[str, pd.Series] = {}
    for csv in sorted(folder.glob("*/clean.csv")):
        frame = pd.read_csv(csv, dtype=str)
        missing = {"word_original", "word_translation"} - set(frame.columns)
        if missing:
            raise LatentLangError(f"{csv} lacks the column(s) {', '.join(sorted(missing))}")
        frame = frame.dropna(subset=["word_original", "word_translation"])
        frame = frame.drop_duplicates("word_original").set_index("word_original")
        columns[csv.parent.name] = frame["word_translation"]
    if not columns:
        raise LatentLangError(
            f"{folder} holds no {{lang}}/clean.csv files; give a folder in the published layout"
        )
    columns.pop("en", None)  # English is the key: word_original in every file
    table = pd.DataFrame(columns)
    table.index.name = "en"
    return table.reset_index()


def _checked(table: pd.DataFrame, source: str) -> WordList:
    table = table.apply(lambda col: col.str.strip() if col.dtype == object else col)
    table = table.replace("", pd.NA)
    if "en" not in table.columns:
        raise LatentLangError(
            f"the word list {source} has no 'en' column; words are keyed by their English form"
        )
    table = table.dropna(subset=["en"]).drop_duplicates("en").reset_index(drop=True)
    if table.empty:
        raise LatentLangError(f"the word list {source} is empty; give at least one concept")
    for lang in table.columns:
        check_language(lang)
        spaced = table[lang].dropna()[table[lang].dropna().str.contains(r"\s")]
        if not spaced.empty:
            raise LatentLangError(
                f"the {lang} word {spaced.iloc[0]!r} in {source} has a space; token sets need single words"
            )
    return WordList(table=table, source=source)


def load_cloze(path: str | Path | None = None) -> pd.DataFrame:
    """Cloze sentences as a frame with columns ``en, lang, sentence``.

    Args:
        path: ``None`` for the shipped sentences, a CSV with those columns, or a folder in the
            published layout (``{lang}/clean.csv`` with ``word_original`` and
            ``blank_prompt_translation_masked``).

    Raises:
        LatentLangError: The path does not exist or holds no sentences.
    """
    if path is None:
        frame = pd.read_csv(files("latentlang").joinpath("data", SHIPPED_CLOZE), dtype=str)
        source = "shipped cloze sentences"
    elif Path(path).is_dir():
        parts = []
        for csv in sorted(Path(path).glob("*/clean.csv")):
            frame = pd.read_csv(csv, dtype=str)
            if {"word_original", "blank_prompt_translation_masked"} <= set(frame.columns):
                parts.append(
                    pd.DataFrame(
                        {
                            "en": frame["word_original"],
                            "lang": csv.parent.name,
                            "sentence": frame["blank_prompt_translation_masked"],
                        }
                    )
                )
        frame = (
            pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["en", "lang", "sentence"])
        )
        source = str(path)
    elif Path(path).is_file():
        frame, source = pd.read_csv(path, dtype=str), str(path)
    else:
        raise LatentLangError(
            f"cloze sentences {str(path)!r} do not exist; give a CSV file or a published folder"
        )
    missing = {"en", "lang", "sentence"} - set(frame.columns)
    if missing:
        raise LatentLangError(
            f"the cloze sentences in {source} lack the column(s) {', '.join(sorted(missing))}"
        )
    frame = frame.dropna(subset=["en", "lang", "sentence"]).drop_duplicates(["en", "lang"])
    if frame.empty:
        raise LatentLangError(f"{source} holds no cloze sentences")
    return frame.reset_index(drop=True)
