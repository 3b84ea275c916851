"""The MENAValues benchmark (``MenaValues Benchmark.xlsx``): survey items with their answer scales
and the answer distributions of 16 MENA populations.

The spreadsheet is transposed: one column per item (864), one row per field:

* ``Source`` (``WVS 7`` or ``The 2022 Arab Opinion Index``), ``Sub Question``, ``Min``, ``MAX``,
  ``Scale``, ``Category``, ``Sub Category``, ``Full Question`` (the English prompt, which names the
  scale's ends and asks for a number only);
* then one row per country (Egypt ... Qatar), each cell that population's answers as text,
  ``(mean, {'1': '93.93%', '2': '5.20%', ...})`` (keys may be written ``'1.0'``), or
  ``(No data, {})`` (or ``(No values <= 6, {})``), or empty.

An item's id is its number in the sheet's column order (``"1"`` is column B ... ``"864"``), as in
the paper's result files (their ``Code`` column), and the same in every file derived from it (a
translations file, results). A country cell that cannot be read is
skipped and listed (:attr:`Benchmark.skipped`), never fatal; answers coded outside the item's
``Min..MAX`` (``0``, ``9``: "don't know"-style codes) are left out and the rest renormalised.

Questions in other languages come from a file the user gives (:func:`load_translations`: CSV with
``id, lang, question``, one row per item and language).
"""

import ast
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latentlang.errors import LatentLangError, first_line
from latentlang.language.codes import check_language
from latentlang.language.words import Dropped

#: The rows before the country rows, in the sheet's order.
FIELDS = ("Source", "Sub Question", "Min", "MAX", "Scale", "Category", "Sub Category", "Full Question")
#: The populations the benchmark holds, in the sheet's order.
COUNTRIES = (
    "Egypt",
    "Iran",
    "Iraq",
    "Jordan",
    "Lebanon",
    "Libya",
    "Morocco",
    "Turkey",
    "Tunisia",
    "Algeria",
    "Saudi Arabia",
    "Sudan",
    "Palestine",
    "Kuwait",
    "Mauritania",
    "Qatar",
)


@dataclass(frozen=True)
class BenchmarkItem:
    """One survey item.

    Attributes:
        id: Its number in column order (``"1"`` ... ``"864"``).
        source: The survey it comes from.
        sub_question: The survey's own label (``Q1: Important in life: Family``), may be empty.
        question: Language -> the question as the model is asked it (``en``: the sheet's
            ``Full Question``; other languages from a translations file).
        low: The smallest answer (``Min``: 0 or 1).
        high: The largest answer (``MAX``).
        scale: The sheet's ``Scale`` flag (``y``, ``n`` or ``s``).
        category: Its category.
        sub_category: Its sub-category.
        surveys: Country -> the population's answer distribution over ``low..high`` (sums to 1).
        survey_centres: Country -> the sheet's first number: the mean answer (scale ``y``, ``s``)
            or the most frequent one (``n``); MENAValues' value-alignment score compares with it.
    """

    id: str
    source: str
    sub_question: str
    question: dict[str, str]
    low: int
    high: int
    scale: str
    category: str
    sub_category: str
    surveys: dict[str, np.ndarray] = field(default_factory=dict)
    survey_centres: dict[str, float] = field(default_factory=dict)

    @property
    def options(self) -> list[str]:
        """The answers as the model writes them: ``"1"``, ``"2"``, ... (``"0"`` first on a 0-based scale)."""
        return [str(n) for n in range(self.low, self.high + 1)]


@dataclass(frozen=True)
class Benchmark:
    """The benchmark as loaded.

    Attributes:
        items: The usable items, in the sheet's order.
        countries: The populations, in the sheet's order.
        skipped: Items and country cells left out, with why (an item without a question or a
            scale; a cell that is not ``(mean, {answer: 'p%'})``; answers outside the scale).
        source: The file it came from.
    """

    items: list[BenchmarkItem]
    countries: list[str]
    skipped: list[Dropped]
    source: str

    def select(self, ids: list[str] | None = None, limit: int | None = None) -> list[BenchmarkItem]:
        """The items with these ids (in the sheet's order), or the first ``limit`` of them.

        Raises:
            LatentLangError: An id the benchmark does not have.
        """
        items = self.items
        if ids:
            unknown = sorted(set(ids) - {item.id for item in items})
            if unknown:
                raise LatentLangError(
                    f"unknown item id(s) {unknown[:5]} in {self.source}; "
                    f"ids run {items[0].id} ... {items[-1].id}"
                )
            items = [item for item in items if item.id in ids]
        return items if limit is None else items[:limit]


def load_benchmark(path: str | Path, translations: str | Path | None = None) -> Benchmark:
    """Read the MENAValues spreadsheet (and, optionally, a translations file).

    Raises:
        LatentLangError: The file is missing, is not a spreadsheet, lacks the benchmark's rows, or
            holds no usable item.
    """
    path = Path(path)
    if not path.is_file():
        raise LatentLangError(f"benchmark file {str(path)!r} does not exist; give MenaValues Benchmark.xlsx")
    try:
        sheet = pd.read_excel(path, header=None, dtype=object)
    except Exception as err:  # openpyxl and pandas raise many types for a file that is not a sheet
        raise LatentLangError(f"could not read {str(path)!r} as a spreadsheet: {first_line(err)}") from None
    labels = [str(v).strip() for v in sheet.iloc[:, 0]]
    missing = [name for name in FIELDS if name not in labels]
    if missing:
        raise LatentLangError(
            f"{path.name} lacks the benchmark's row(s) {missing} in its first column; is it the MENAValues "
            "sheet (one column per item, one row per field and country)?"
        )
    rows = {name: labels.index(name) for name in FIELDS}
    countries = [label for label in labels[rows["Full Question"] + 1 :] if label and label != "nan"]
    skipped: list[Dropped] = []
    items = []
    for column in range(1, sheet.shape[1]):
        item_id = str(column)
        cell = {name: sheet.iat[rows[name], column] for name in FIELDS}
        item = _item(item_id, cell, skipped)
        if item is None:
            continue
        for country in countries:
            _read_survey(item, country, sheet.iat[labels.index(country), column], skipped)
        items.append(item)
    if not items:
        raise LatentLangError(
            f"{path.name} holds no usable item (see the layout in latentlang.language.menavalues)"
        )
    if translations is not None:
        _add_translations(items, translations, skipped)
    return Benchmark(items, countries, skipped, str(path))


def load_translations(path: str | Path) -> pd.DataFrame:
    """A translations file: CSV with columns ``id, lang, question`` (one row per item and
    language); rows with an empty cell are dropped.

    Raises:
        LatentLangError: The file is missing or lacks those columns.
    """
    path = Path(path)
    if not path.is_file():
        raise LatentLangError(
            f"translations file {str(path)!r} does not exist; give a CSV with id, lang, question"
        )
    table = pd.read_csv(path, dtype=str)
    if not {"id", "lang", "question"} <= set(table.columns):
        raise LatentLangError(
            f"{path.name} needs the columns id, lang, question (one row per item and language); "
            f"it has {list(table.columns)}"
        )
    return table[["id", "lang", "question"]].dropna()


def parse_distribution(text: str, low: int, high: int) -> tuple[float, np.ndarray, float]:
    """A country cell as (mean, distribution over ``low..high``, share of answers outside it).

    Raises:
        ValueError: The text is not ``(mean, {answer: 'p%', ...})`` with numeric answers.
    """
    mean, shares = ast.literal_eval(text.strip())
    counts = np.zeros(high - low + 1)
    outside = 0.0
    for answer, share in shares.items():
        value, number = float(str(share).strip().rstrip("%")) / 100, float(answer)
        if number != int(number):
            raise ValueError(f"answer {answer!r} is not a whole number")
        if low <= number <= high:
            counts[int(number) - low] += value
        else:
            outside += value
    if counts.sum() <= 0:
        raise ValueError("no answer on the item's scale")
    total = counts.sum() + outside
    return float(mean), counts / counts.sum(), outside / total


def _item(item_id: str, cell: dict, skipped: list[Dropped]) -> BenchmarkItem | None:
    question = "" if pd.isna(cell["Full Question"]) else str(cell["Full Question"]).strip()
    try:
        low, high = int(float(cell["Min"])), int(float(cell["MAX"]))
    except (TypeError, ValueError):
        skipped.append(Dropped(item_id, "malformed item", f"Min/MAX {cell['Min']!r}/{cell['MAX']!r}"))
        return None
    if not question or high <= low:
        skipped.append(
            Dropped(item_id, "malformed item", "no question" if not question else f"scale {low}..{high}")
        )
        return None

    def text(name: str) -> str:
        return "" if pd.isna(cell[name]) else str(cell[name]).strip()

    return BenchmarkItem(
        id=item_id,
        source=text("Source"),
        sub_question=text("Sub Question"),
        question={"en": question},
        low=low,
        high=high,
        scale=text("Scale"),
        category=text("Category"),
        sub_category=text("Sub Category"),
    )


def _read_survey(item: BenchmarkItem, country: str, value, skipped: list[Dropped]) -> None:
    if value is None or pd.isna(value) or str(value).strip().startswith("(No "):
        return  # "(No data, {})", "(No values <= 6, {})": nothing to compare with
    try:
        mean, distribution, outside = parse_distribution(str(value), item.low, item.high)
    except (ValueError, SyntaxError, TypeError) as err:
        skipped.append(Dropped(item.id, "malformed survey cell", f"{country}: {str(value)[:60]!r} ({err})"))
        return
    if outside > 0:
        skipped.append(
            Dropped(
                item.id,
                "answers outside the scale",
                f"{country}: {outside:.1%} left out, the rest renormalised",
            )
        )
    item.surveys[country] = distribution
    item.survey_centres[country] = mean


def _add_translations(items: list[BenchmarkItem], path: str | Path, skipped: list[Dropped]) -> None:
    by_id = {item.id: item for item in items}
    for row in load_translations(path).itertuples(index=False):
        if row.id not in by_id:
            skipped.append(
                Dropped(row.id, "unknown translation", f"{row.lang}: no such item in the benchmark")
            )
            continue
        check_language(row.lang)
        by_id[row.id].question[row.lang] = row.question.strip()
