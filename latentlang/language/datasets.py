"""Word lists and cloze sentences from files: the shipped ones, CSVs, and the layouts the papers
published, read tolerantly (see :mod:`latentlang.language.words` for the types).


- **Wendler et al. (2024)**, ``epfl-dlab/llm-latent-language`` ``data/langs``: one folder per
  language with ``clean.csv`` (``lang, word_original, word_translation, ...,
  blank_prompt_translation_masked``); the English word is ``word_original``. The same files hold
  the translation/repetition words and the cloze sentences.
- **Dumas et al. (2025)**, ``Butanium/llm-lang-agnostic`` ``data``: ``{lang}/word_translation.csv``
  with ``word_original`` and one column per language (13 of them) holding a Python-literal list of
  synonyms (cells may span lines). The lists of ``{lang}/`` were built from ``lang`` as the input
  language, so a task reads its source language's file. Cells are parsed as literals, never
  evaluated.

A row or cell that cannot be read is skipped and recorded, never fatal; a file with no usable row
is a one-line error.
"""

import ast
from importlib.resources import files
from pathlib import Path

import pandas as pd

from latentlang.errors import LatentLangError, first_line
from latentlang.language.codes import check_language
from latentlang.language.words import SHIPPED, SHIPPED_CLOZE, Dropped, WordList, as_cloze_table, checked


def load_words(path: str | Path | None = None, source_lang: str | None = None) -> WordList:
    """Load the shipped list (``path=None``), a CSV, or a folder in a published layout.

    Args:
        path: ``None``, a CSV (language columns, or Dumas et al.'s synonym lists), or a folder of
            ``{lang}/clean.csv`` (Wendler et al.) or ``{lang}/word_translation.csv`` (Dumas et al.).
        source_lang: The task's source language: which ``word_translation.csv`` of a Dumas
            folder to read (their lists are built per input language).

    Raises:
        LatentLangError: The path does not exist, holds no usable words, or has no English column.
    """
    if path is None:
        return checked(pd.read_csv(files("latentlang").joinpath("data", SHIPPED), dtype=str), "shipped list")
    path = Path(path)
    if path.is_dir():
        if any(path.glob("*/word_translation.csv")):
            return read_dumas_folder(path, source_lang)
        return read_wendler_words(path)
    if path.is_file():
        frame, skipped = read_rows(path)
        if holds_synonym_lists(frame):
            return read_dumas(path)
        return checked(frame, str(path), skipped)
    raise LatentLangError(
        f"word list {str(path)!r} does not exist; give a CSV file or a folder of {{lang}}/clean.csv"
    )


def load_cloze(path: str | Path | None = None) -> pd.DataFrame:
    """Cloze sentences as a frame with columns ``en, lang, sentence, answer, problem``.

    ``answer`` is the masked word when the data names it (the published ``word_translation``;
    otherwise ``NaN``: it is then read from the sentence's last quotes); ``problem`` is empty for a
    usable row and says what is wrong otherwise (prompt builders skip and record those rows).

    Args:
        path: ``None`` for the shipped sentences, a CSV with columns ``en, lang, sentence`` (and
            optionally ``answer``), or a folder in the published layout (``{lang}/clean.csv``
            with ``word_original``, ``word_translation`` and ``blank_prompt_translation_masked``).

    Raises:
        LatentLangError: The path does not exist, lacks the columns, or holds no sentence.
    """
    if path is None:
        frame = pd.read_csv(files("latentlang").joinpath("data", SHIPPED_CLOZE), dtype=str)
        source = "shipped cloze sentences"
    elif Path(path).is_dir():
        frame, source = read_wendler_cloze(Path(path)), str(path)
    elif Path(path).is_file():
        (frame, _), source = read_rows(Path(path)), str(path)
    else:
        raise LatentLangError(
            f"cloze sentences {str(path)!r} do not exist; give a CSV file or a published folder"
        )
    frame = as_cloze_table(frame, source)
    if (frame["problem"] != "").all():
        raise LatentLangError(f"{source} holds no usable cloze sentence")
    return frame


def read_rows(path: Path) -> tuple[pd.DataFrame, list[Dropped]]:
    """A CSV as strings; lines with the wrong number of fields are skipped and recorded.

    Raises:
        LatentLangError: The file is not a CSV at all.
    """
    bad: list[list[str]] = []

    def skip(fields: list[str]) -> None:
        bad.append(fields)
        return None

    try:
        frame = pd.read_csv(path, dtype=str, engine="python", on_bad_lines=skip)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise LatentLangError(f"{path} is not a readable UTF-8 CSV file ({first_line(err)})") from None
    skipped = [
        Dropped(str(path), "malformed row", f"{len(fields)} fields where the header has {len(frame.columns)}")
        for fields in bad
    ]
    return frame, skipped


def read_wendler_words(folder: Path) -> WordList:
    """Words of a folder of ``{lang}/clean.csv``, joined on the English word; each file's usable
    rows are kept in file order for the notebooks' merge (:meth:`WordList.paper_rows`).

    Raises:
        LatentLangError: The folder holds no ``{lang}/clean.csv``, a file lacks the columns, or no
            row is usable.
    """
    files: dict[str, pd.DataFrame] = {}
    skipped: list[Dropped] = []
    for csv in sorted(folder.glob("*/clean.csv")):
        lang = check_language(csv.parent.name)
        frame, bad = read_rows(csv)
        missing = {"word_original", "word_translation"} - set(frame.columns)
        if missing:
            raise LatentLangError(f"{csv} lacks the column(s) {', '.join(sorted(missing))}")
        skipped += bad
        usable = frame["word_original"].notna() & frame["word_translation"].notna()
        for row in frame.index[~usable]:
            what = "word_original" if pd.isna(frame.at[row, "word_original"]) else "word_translation"
            skipped.append(Dropped(f"{csv} row {row + 1}", "malformed row", f"no {what}"))
        frame = frame[usable]
        columns = (
            {"word_original": "en"} if lang == "en" else {"word_original": "en", "word_translation": lang}
        )
        files[lang] = frame[list(columns)].rename(columns=columns).reset_index(drop=True)
    if not files:
        raise LatentLangError(
            f"{folder} holds no {{lang}}/clean.csv files; give a folder in the published layout"
        )
    # The joined table (for latentlang's protocol): one row per English word, first spelling wins.
    columns = {
        lang: frame.drop_duplicates("en").set_index("en")[lang]
        for lang, frame in files.items()
        if lang != "en"
    }
    keys = pd.Index(sorted({key for frame in files.values() for key in frame["en"]}), name="en")
    table = pd.DataFrame(columns, index=keys).reset_index()
    return checked(table, str(folder), skipped, files=files)


def read_wendler_cloze(folder: Path) -> pd.DataFrame:
    """Cloze rows (``en, lang, sentence, answer``) of every ``{lang}/clean.csv`` that has the
    masked sentences, in file order; rows with missing cells are kept for the caller to record."""
    parts = []
    for csv in sorted(folder.glob("*/clean.csv")):
        frame, _ = read_rows(csv)
        if {"word_original", "word_translation", "blank_prompt_translation_masked"} <= set(frame.columns):
            parts.append(
                pd.DataFrame(
                    {
                        "en": frame["word_original"],
                        "lang": csv.parent.name,
                        "sentence": frame["blank_prompt_translation_masked"],
                        "answer": frame["word_translation"],
                    }
                )
            )
    if not parts:
        raise LatentLangError(
            f"{folder} holds no {{lang}}/clean.csv with a blank_prompt_translation_masked column"
        )
    return pd.concat(parts, ignore_index=True)


def holds_synonym_lists(frame: pd.DataFrame) -> bool:
    """Whether a table is in Dumas et al.'s layout: ``word_original`` and list-valued cells."""
    if "word_original" not in frame.columns:
        return False
    cells = frame.drop(columns="word_original").stack()
    return bool(len(cells)) and bool(cells.astype(str).str.lstrip().str.startswith("[").mean() > 0.5)


def read_dumas_folder(folder: Path, source_lang: str | None) -> WordList:
    """The ``word_translation.csv`` of ``source_lang`` in a Dumas-layout folder.

    Raises:
        LatentLangError: No source language given where several files exist, or none for it.
    """
    available = sorted(csv.parent.name for csv in folder.glob("*/word_translation.csv"))
    if source_lang is None and len(available) == 1:
        source_lang = available[0]
    if source_lang not in available:
        raise LatentLangError(
            f"{folder} has word_translation.csv for {', '.join(available)} as input language, not "
            f"{source_lang!r} (Dumas et al. build each list from its input language); use one of those "
            "as the source, or give the file itself"
        )
    return read_dumas(folder / source_lang / "word_translation.csv")


def read_dumas(path: Path) -> WordList:
    """A ``word_translation.csv`` with synonym lists: prompts show each cell's first word, token
    sets take the union over all of them (English: ``word_original`` and the ``en`` list).

    Raises:
        LatentLangError: No ``word_original`` column or no usable row.
    """
    frame, skipped = read_rows(path)
    if "word_original" not in frame.columns:
        raise LatentLangError(f"{path} has no word_original column (Dumas et al.'s layout keys on it)")
    languages = [check_language(c) for c in frame.columns if c != "word_original"]
    rows, synonyms = [], {}
    for i, record in enumerate(frame.to_dict("records")):
        key = _clean(record["word_original"])
        if not key:
            skipped.append(Dropped(f"{path} row {i + 1}", "malformed row", "no word_original"))
            continue
        row, accepted = {"en": key}, {}
        for lang in languages:
            words = _synonyms(record.get(lang))
            if words is None:
                skipped.append(Dropped(key, "malformed row", f"the {lang} cell is not a list of words"))
                continue
            if lang == "en":
                words = tuple(dict.fromkeys([key, *words]))
            if words:
                row.setdefault(lang, words[0])
                accepted[lang] = words
        rows.append(row)
        synonyms[key] = accepted
    table = pd.DataFrame(rows, columns=list(dict.fromkeys(["en", *languages])))
    return checked(table, str(path), skipped, synonyms=synonyms)


def _synonyms(cell) -> tuple[str, ...] | None:
    """The words of one cell (``None`` if it is not a literal list of strings; ``()`` if empty)."""
    if cell is None or (isinstance(cell, float) and pd.isna(cell)):
        return ()
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(w, str) for w in value):
        return None
    return tuple(dict.fromkeys(w for w in map(_clean, value) if w))


def _clean(text) -> str:
    return "" if text is None or (isinstance(text, float) and pd.isna(text)) else " ".join(str(text).split())
