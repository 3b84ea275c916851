"""Multiple-choice value questions, their schema, and the prompts built from them.

A question set is a JSONL file, one question per line::

    {"id": "family_importance", "topic": "family",
     "options": {"en": ["Very important", "Rather important", "Not very important",
                        "Not at all important"], "ar": [...], ...},
     "framings": {"neutral":  {"en": "How important is family in life?", ...},
                  "personal": {"en": "How important is family in your life?", ...},
                  "observer": {"en": "How important is family in the life of a typical person
                                      from {country}?", ...}}}

``options`` holds 2 or more ordered labels per language (the same number in every language; the
prompt numbers them ``1.``, ``2.``, ...); ``framings`` holds the question per framing and
language; the observer framing's ``{country}`` is filled per language from the templates file
(``leakage_templates.json``: ``country``, ``question``, ``instruction``, ``answer`` per language).
latentlang ships 64 questions in en, ar, fa, tr and zh (``data/questions.jsonl``).
"""

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from latentlang.errors import LatentLangError

FRAMINGS = ("neutral", "personal", "observer")


@dataclass(frozen=True)
class Question:
    """One multiple-choice question in several languages and framings.

    Attributes:
        id: Unique identifier.
        topic: Theme (family, religion, ...).
        options: Language -> ordered option labels.
        framings: Framing -> language -> question text.
    """

    id: str
    topic: str
    options: dict[str, list[str]]
    framings: dict[str, dict[str, str]]

    def n_options(self, lang: str) -> int:
        return len(self.options[lang])


@dataclass(frozen=True)
class Templates:
    """Per-language words around a question: labels, the instruction, the observer's country."""

    country: str
    question: str
    instruction: str
    answer: str


def load_questions(path: str | Path | None = None) -> list[Question]:
    """Read and check a question set (``None``: the shipped one).

    Raises:
        LatentLangError: The file is missing or malformed, a question has fewer than 2 options,
            or its languages disagree on the number of options.
    """
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
            question = Question(raw["id"], raw.get("topic", ""), raw["options"], raw["framings"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
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
    return questions


def load_templates(path: str | Path | None = None) -> dict[str, Templates]:
    """Per-language templates (``None``: the shipped ``leakage_templates.json``)."""
    if path is None:
        raw = json.loads(files("latentlang").joinpath("data", "leakage_templates.json").read_text("utf-8"))
    else:
        raw = json.loads(Path(path).read_text("utf-8"))
    return {lang: Templates(**entry) for lang, entry in raw.items()}


def question_text(question: Question, lang: str, framing: str, templates: dict[str, Templates]) -> str:
    """The user-facing text: the question, its numbered options and the instruction.

    Raises:
        LatentLangError: The question lacks this language or framing, or no template has it.
    """
    if lang not in templates:
        raise LatentLangError(
            f"no prompt template for language {lang!r}; templates exist for {sorted(templates)}"
        )
    if (
        framing not in question.framings
        or lang not in question.framings[framing]
        or lang not in question.options
    ):
        raise LatentLangError(
            f"question {question.id!r} has no {lang} text for the {framing} framing; "
            f"add it or leave {lang} out of --langs"
        )
    t = templates[lang]
    body = question.framings[framing][lang].replace("{country}", t.country)
    options = "\n".join(f"{i}. {label}" for i, label in enumerate(question.options[lang], 1))
    space = "" if t.question.endswith("：") else " "  # no space after a full-width colon
    return f"{t.question}{space}{body}\n{options}\n{t.instruction}"


def _check(question: Question, source: str) -> None:
    counts = {lang: len(labels) for lang, labels in question.options.items()}
    if not counts or min(counts.values()) < 2:
        raise LatentLangError(
            f"question {question.id!r} in {source} has fewer than 2 options; give at least 2"
        )
    if len(set(counts.values())) != 1:
        raise LatentLangError(
            f"question {question.id!r} in {source} has different numbers of options per language: {counts}"
        )
    unknown = set(question.framings) - set(FRAMINGS)
    if unknown:
        raise LatentLangError(
            f"question {question.id!r} in {source} has unknown framing(s) {sorted(unknown)}; use {FRAMINGS}"
        )
