"""Value questions, the framings they are asked in, and the prompts built from them.

Two sources give questions (:func:`load_questions`):

* a JSONL file, one question per line (latentlang ships 64 in en, ar, fa, tr and zh,
  ``data/questions.jsonl``)::

      {"id": "family_importance", "topic": "family",
       "options": {"en": ["Very important", "Rather important", "Not very important",
                          "Not at all important"], "ar": [...], ...},
       "question": {"en": "How important is family in your life?", "ar": "...", ...}}

  ``options`` holds 2 or more ordered labels per language (the same number in every language; the
  prompt numbers them ``1.``, ``2.``, ...). Files of the older schema (``framings`` ->
  ``neutral`` -> language -> text) are read too (their neutral text is the question);
* the MENAValues benchmark spreadsheet (``.xlsx``, see :mod:`latentlang.language.menavalues`):
  number-only scales whose question names the scale's ends, with the populations' answers.

Framings follow MENAValues: ``neutral`` (the question as it is), ``persona`` (the model asked to
answer as an average person of a country) and ``observer`` (asked how such a person would answer),
with the country the same in every language: the wording and the country's nationality per
language come from ``data/value_framings.json`` (``persona``, ``observer``, ``nationalities``;
and ``question``, ``instruction``, ``answer``: the words around a labelled question).
"""

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from latentlang.errors import LatentLangError
from latentlang.language.menavalues import load_benchmark

FRAMINGS = ("neutral", "persona", "observer")


@dataclass(frozen=True)
class Question:
    """One value question in several languages.

    Attributes:
        id: Unique identifier.
        topic: Theme (family, religion, ...; the benchmark's category).
        text: Language -> the question.
        labels: Language -> ordered option labels; empty for a number-only scale (the question
            itself names the scale's ends, as the benchmark's do).
        low: The first option's number (1, or 0 for some benchmark scales).
        high: The last option's number.
        surveys: Country -> that population's answer shares over ``low..high`` (benchmark only).
        survey_centres: Country -> the survey's mean (or, on a nominal scale, most frequent) answer.
    """

    id: str
    topic: str
    text: dict[str, str]
    labels: dict[str, list[str]] = field(default_factory=dict)
    low: int = 1
    high: int = 0
    surveys: dict[str, list[float]] = field(default_factory=dict)
    survey_centres: dict[str, float] = field(default_factory=dict)

    @property
    def options(self) -> list[str]:
        """The options as the model writes them: ``"1"``, ``"2"``, ..."""
        return [str(n) for n in range(self.low, self.high + 1)]


@dataclass(frozen=True)
class Templates:
    """One language's words around a question (see the module docstring)."""

    question: str
    instruction: str
    answer: str
    persona: str
    observer: str
    nationalities: dict[str, str]


def load_questions(
    path: str | Path | None = None, translations: str | Path | None = None
) -> tuple[list[Question], list]:
    """Read a question set: ``None`` (the shipped one), a JSONL file or the MENAValues ``.xlsx``
    (with an optional translations CSV). Returns the questions and the rows skipped (the
    benchmark's unreadable cells; a JSONL file's problems are errors).

    Raises:
        LatentLangError: The file is missing or malformed, a question has fewer than 2 options,
            or its languages disagree on the number of options.
    """
    if path is not None and str(path).endswith((".xlsx", ".xls")):
        bench = load_benchmark(path, translations)
        questions = [
            Question(
                item.id,
                item.category,
                dict(item.question),
                {},
                item.low,
                item.high,
                {c: d.tolist() for c, d in item.surveys.items()},
                dict(item.survey_centres),
            )
            for item in bench.items
        ]
        return questions, bench.skipped
    if translations is not None:
        raise LatentLangError(
            "--translations goes with the MENAValues .xlsx; a JSONL file holds its own languages"
        )
    if path is None:
        text, source = (
            files("latentlang").joinpath("data", "questions.jsonl").read_text("utf-8"),
            "shipped questions",
        )
    else:
        if not Path(path).is_file():
            raise LatentLangError(
                f"question file {str(path)!r} does not exist; give a JSONL file (see the schema)"
            )
        text, source = Path(path).read_text("utf-8"), str(path)
    questions = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            labels = raw["options"]
            asked = raw["question"] if "question" in raw else raw["framings"].get("neutral", {})
            question = Question(
                raw["id"], raw.get("topic", ""), asked, labels, 1, len(next(iter(labels.values()), []))
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            raise LatentLangError(
                f"{source} line {number} is not a question ({err}); see the schema"
            ) from None
        _check(question, source)
        questions.append(question)
    if not questions:
        raise LatentLangError(f"{source} holds no questions")
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise LatentLangError(
            f"{source} repeats question ids: {sorted({i for i in ids if ids.count(i) > 1})}"
        )
    return questions, []


def load_templates(path: str | Path | None = None) -> dict[str, Templates]:
    """Per-language framing templates (``None``: the shipped ``value_framings.json``)."""
    if path is None:
        raw = json.loads(files("latentlang").joinpath("data", "value_framings.json").read_text("utf-8"))
    else:
        if not Path(path).is_file():
            raise LatentLangError(
                f"templates file {str(path)!r} does not exist; see data/value_framings.json"
            )
        raw = json.loads(Path(path).read_text("utf-8"))
    try:
        return {lang: Templates(**entry) for lang, entry in raw.items() if not lang.startswith("_")}
    except TypeError as err:
        raise LatentLangError(f"templates file {path}: {err}; see data/value_framings.json") from None


def question_text(
    question: Question, lang: str, framing: str, country: str, templates: dict[str, Templates]
) -> str:
    """The user-facing text: the framing, the question, its numbered options (for a labelled
    question) and the instruction.

    Raises:
        LatentLangError: The question lacks this language, no template has it, or the
            template has no nationality for the country.
    """
    if lang not in templates:
        raise LatentLangError(
            f"no prompt template for language {lang!r}; templates exist for {sorted(templates)}"
        )
    if lang not in question.text or (question.labels and lang not in question.labels):
        raise LatentLangError(
            f"question {question.id!r} has no {lang} text; add it (for the benchmark: a --translations "
            f"file) or leave {lang} out of --langs"
        )
    t = templates[lang]
    body = question.text[lang]
    if framing != "neutral":
        if country not in t.nationalities:
            raise LatentLangError(
                f"the {lang} templates have no nationality for {country!r}; "
                f"they have {sorted(t.nationalities)}"
            )
        body = getattr(t, framing).format(nationality=t.nationalities[country], question=body)
    if not question.labels:
        return body
    options = "\n".join(f"{i}. {label}" for i, label in enumerate(question.labels[lang], question.low))
    space = "" if t.question.endswith("：") else " "  # no space after a full-width colon
    return f"{t.question}{space}{body}\n{options}\n{t.instruction}"


def _check(question: Question, source: str) -> None:
    counts = {lang: len(labels) for lang, labels in question.labels.items()}
    if not counts or min(counts.values()) < 2:
        raise LatentLangError(
            f"question {question.id!r} in {source} has fewer than 2 options; give at least 2"
        )
    if len(set(counts.values())) != 1:
        raise LatentLangError(
            f"question {question.id!r} in {source} has different numbers of options per language: {counts}"
        )
