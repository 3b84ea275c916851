"""The leakage study: for every question × language × framing × country, generate the model's
answer (greedy; in its chat template when it has one), read what it says (answered, refused, no
option) and, at the position where the answer is decided, the option distribution at every layer
(MENAValues' method: :mod:`latentlang.studies.answers`).

Questions are the shipped 64 (a multilingual demo), a JSONL file, or the MENAValues benchmark
(``.xlsx``, with ``--translations`` for languages other than English); persona and observer items
are built per country (``--countries``), the country the same in every language.
"""

import logging
from dataclasses import dataclass
from itertools import product

from latentlang.config import as_list, option
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.menavalues import COUNTRIES
from latentlang.language.questions import FRAMINGS, Question, load_questions, load_templates, question_text
from latentlang.results.leakage import LeakageResult
from latentlang.studies.answers import Item, option_candidates, read_answers, shares_first_token
from latentlang.studies.runner import Study, StudyConfig, Work

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class LeakageConfig(StudyConfig):
    """Settings of ``latentlang leakage``."""

    questions: str | None = option(
        None, "questions: a JSONL file (see the schema) or the MENAValues .xlsx; default: the shipped 64"
    )
    translations: str | None = option(
        None, "the benchmark's questions in other languages: CSV id, lang, question"
    )
    templates: str | None = option(None, "framing templates per language (JSON); default: shipped")
    ids: list[str] | None = option(None, "run only these question ids (comma-separated); default: all")
    limit: int | None = option(None, "run only the first N questions (for a quick run)")
    langs: list[str] = option(["en", "ar", "fa", "tr", "zh"], "languages, comma-separated")
    framings: list[str] = option(["neutral", "persona", "observer"], "framings, comma-separated")
    countries: list[str] = option(
        ["Egypt", "Iran"], "the persona's and observer's countries, comma-separated"
    )
    chat: str = option(
        "auto", "use the chat template: auto (if the model has one), yes or no", choices=["auto", "yes", "no"]
    )
    max_new_tokens: int = option(15, "tokens generated per answer (MENAValues: 15)")
    threshold: float = option(
        0.75, "option probability above which a preference is confident (MENAValues: 0.75)", fingerprint=False
    )
    min_mass: float = option(
        0.1, "least next-token probability on all option tokens for a layer to count", fingerprint=False
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.langs = as_list(self.langs, "langs")
        self.framings = as_list(self.framings, "framings")
        self.countries = as_list(self.countries, "countries")
        self.ids = None if self.ids is None else as_list(self.ids, "ids")
        self.out = self.out or "runs/leakage"
        unknown = set(self.framings) - set(FRAMINGS)
        if unknown:
            raise LatentLangError(f"unknown framing(s) {sorted(unknown)}; use {', '.join(FRAMINGS)}")
        strange = [c for c in self.countries if c not in COUNTRIES]
        if strange:
            raise LatentLangError(
                f"unknown country {strange[0]!r}; the benchmark's are: {', '.join(COUNTRIES)}"
            )
        if not 0 < self.threshold <= 1 or not 0 <= self.min_mass <= 1:
            raise LatentLangError(
                f"threshold must be in (0, 1] and min_mass in [0, 1], got {self.threshold}, {self.min_mass}"
            )
        if self.max_new_tokens < 1 or (self.limit is not None and self.limit < 1):
            raise LatentLangError("max_new_tokens and limit must be at least 1")

    def meta(self) -> dict:
        return {"task": "leakage", **self.settings(), "threshold": self.threshold, "min_mass": self.min_mass}


def use_chat(lm: LensModel, chat: str) -> bool:
    """Whether prompts go through the chat template."""
    has_template = bool(getattr(lm.tokenizer, "chat_template", None))
    if chat == "yes" and not has_template:
        raise LatentLangError(f"{lm.name} has no chat template, but --chat yes asked for one; use --chat no")
    return has_template if chat == "auto" else chat == "yes"


def answer_gap(lm: LensModel) -> str:
    """What ends a plain prompt after "Answer:" so that the next token is the option's number.

    Tokenizers that write " 1" as a bare space token then "1" (Gemma's) need the space in the
    prompt, or the next token is the space; those with a "▁1"/"Ġ1" token (Llama's) do not.
    """
    pieces = lm.tokenizer(" 1", add_special_tokens=False)["input_ids"]
    return " " if len(pieces) > 1 and not lm.tokenizer.decode(pieces[:1]).strip() else ""


def chosen_questions(config: LeakageConfig) -> tuple[list[Question], list]:
    """The questions the config selects (``ids``, then ``limit``), and the benchmark's skipped cells."""
    questions, skipped = load_questions(config.questions, config.translations)
    if config.ids:
        unknown = sorted(set(config.ids) - {q.id for q in questions})
        if unknown:
            raise LatentLangError(
                f"unknown question id(s) {unknown[:5]}; the set has e.g. {[q.id for q in questions[:3]]}"
            )
        questions = [q for q in questions if q.id in config.ids]
    return questions[: config.limit], skipped


def build_items(lm: LensModel, config: LeakageConfig, chat: bool) -> tuple[list[Item], list[str], list]:
    """Every question × language × framing (× country, for persona and observer) as a prompt; the
    items that cannot be measured (no text in the language, no option any token writes), which
    are skipped and listed; the benchmark's skipped cells."""
    questions, skipped = chosen_questions(config)
    templates = load_templates(config.templates)
    items, unmeasurable = [], []
    for question, lang, framing in product(questions, config.langs, config.framings):
        candidates = tuple(option_candidates(lm.tokenizer, o) for o in question.options)
        missing = [o for o, ids in zip(question.options, candidates) if not ids]
        shared = shares_first_token(lm.tokenizer, question.options)
        if lang not in question.text:
            unmeasurable.append(f"question {question.id!r} has no {lang} text ({framing})")
            continue
        for country in [""] if framing == "neutral" else config.countries:
            body = question_text(question, lang, framing, country, templates)
            if len(missing) == len(candidates):
                unmeasurable.append(f"{question.id} ({lang}, {framing}): no option has a token")
                continue
            if chat:
                text = lm.tokenizer.apply_chat_template(
                    [{"role": "user", "content": body}], tokenize=False, add_generation_prompt=True
                )
            else:
                text = f"{body}\n{templates[lang].answer}{answer_gap(lm)}"
            items.append(Item(question, lang, framing, country, text, candidates, shared))
    for line in unmeasurable:
        log.warning("not measured: %s", line)
    return items, unmeasurable, skipped


def leakage_items(config: LeakageConfig, lm: LensModel) -> Work:
    """The items as the runner's work (refused on a model that does not run here: it generates)."""
    if not lm.backend.local:
        raise LatentLangError(
            f"leakage generates each answer, and latentlang does not generate on "
            f"{lm.backend.name.upper()} yet; run leakage on a local model (without --remote)"
        )
    chat = use_chat(lm, config.chat)
    items, unmeasurable, skipped = build_items(lm, config, chat)
    if not items:
        raise LatentLangError(
            "no item can be measured: " + ("; ".join(unmeasurable[:3]) or "no question selected")
        )
    lengths = [len(ids) for ids in lm.tokenizer([i.text for i in items])["input_ids"]]
    order = sorted(range(len(items)), key=lengths.__getitem__)  # similar lengths pad least
    items = [items[i] for i in order]
    surveys = {item.question.id: item.question.surveys for item in items if item.question.surveys}
    centres = {item.question.id: item.question.survey_centres for item in items if item.question.surveys}
    return Work(
        items=items,
        keys=[(i.text, i.candidates) for i in items],
        tokens=max(lengths) + config.max_new_tokens,
        meta={
            "chat": chat,
            "max_new_tokens": config.max_new_tokens,
            "unmeasurable": unmeasurable,
            "last_layer_only": sorted({i.question.id for i in items if i.shared_first_token}),
            "skipped": [d.as_dict() for d in skipped],
            "surveys": surveys,
            "survey_centres": centres,
        },
    )


def generate_and_read(lm: LensModel, work: Work, indices: list[int]) -> LeakageResult:
    """Generate the answers of some items and read their per-layer option distributions."""
    return read_answers(lm, [work.items[i] for i in indices], work.meta["chat"], work.meta["max_new_tokens"])


LEAKAGE = Study(
    "leakage",
    "logit leakage: the per-layer option distribution when the text refuses",
    LeakageConfig,
    LeakageResult,
    items=leakage_items,
    run_batch=generate_and_read,
)


def run_leakage(config: LeakageConfig, lm: LensModel | None = None, progress: bool = True) -> LeakageResult:
    """Generate each item's answer and read its per-layer option distribution (resumable through
    ``config.out``)."""
    return LEAKAGE.run(config, lm, progress)
