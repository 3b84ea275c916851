"""Run the leakage study: for every question × language × framing, generate the model's answer
(greedy; in its chat template when it has one) and read, at every layer, the logit lens's
distribution over the answer options at the position where the answer is decided (the last
prompt token).

An option's probability is the mass of its token set: the option's number as a token in ASCII,
full-width, Arabic-Indic and Persian digits, each with and without the word-start marker.
"""

import logging
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd
import torch

from latentlang.config import as_list, option
from latentlang.core.lens import TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.questions import FRAMINGS, Question, load_questions, load_templates, question_text
from latentlang.language.refusal import digit_variants, read_answer
from latentlang.results.leakage import LeakageResult
from latentlang.studies.runner import Study, StudyConfig, Work

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class LeakageConfig(StudyConfig):
    """Settings of ``latentlang leakage``."""

    questions: str | None = option(
        None, "question set (JSONL, see the schema); default: the shipped 64 questions"
    )
    templates: str | None = option(None, "per-language prompt templates (JSON); default: shipped")
    ids: list[str] | None = option(None, "run only these question ids (comma-separated); default: all")
    langs: list[str] = option(["en", "ar", "fa", "tr", "zh"], "languages, comma-separated")
    framings: list[str] = option(["neutral", "personal", "observer"], "framings, comma-separated")
    chat: str = option(
        "auto", "use the chat template: auto (if the model has one), yes or no", choices=["auto", "yes", "no"]
    )
    max_new_tokens: int = option(16, "tokens generated per answer")
    threshold: float = option(
        0.5, "option probability that counts as a confident hidden preference", fingerprint=False
    )
    min_mass: float = option(
        0.1, "least next-token probability on all option tokens for a layer to count", fingerprint=False
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.langs = as_list(self.langs, "langs")
        self.framings = as_list(self.framings, "framings")
        self.ids = None if self.ids is None else as_list(self.ids, "ids")
        self.out = self.out or "runs/leakage"
        unknown = set(self.framings) - set(FRAMINGS)
        if unknown:
            raise LatentLangError(f"unknown framing(s) {sorted(unknown)}; use {', '.join(FRAMINGS)}")
        if not 0 < self.threshold <= 1 or not 0 <= self.min_mass <= 1:
            raise LatentLangError(
                f"threshold must be in (0, 1] and min_mass in [0, 1], got {self.threshold}, {self.min_mass}"
            )
        if self.max_new_tokens < 1:
            raise LatentLangError("max_new_tokens must be at least 1")

    def meta(self) -> dict:
        return {"task": "leakage", **self.settings(), "threshold": self.threshold, "min_mass": self.min_mass}


@dataclass(frozen=True)
class Item:
    """One question in one language and framing, as the model sees it."""

    question: Question
    language: str
    framing: str
    text: str
    option_ids: tuple[tuple[int, ...], ...]


def option_token_ids(lm: LensModel, n_options: int) -> list[tuple[int, ...]]:
    """Per option number, the ids of every single token that writes it (all digit forms)."""
    return [
        tuple(sorted({i for v in digit_variants(n) for i in lm.vocab.exact(v)}))
        for n in range(1, n_options + 1)
    ]


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


def build_items(lm: LensModel, config: LeakageConfig, chat: bool) -> tuple[list[Item], list[str]]:
    """Every question × language × framing as a prompt, and the options that have no token."""
    questions, templates = load_questions(config.questions), load_templates(config.templates)
    if config.ids:
        unknown = sorted(set(config.ids) - {q.id for q in questions})
        if unknown:
            raise LatentLangError(
                f"unknown question id(s) {unknown}; the set has e.g. {[q.id for q in questions[:3]]}"
            )
        questions = [q for q in questions if q.id in config.ids]
    items, unmeasurable = [], []
    for question, lang, framing in product(questions, config.langs, config.framings):
        body = question_text(question, lang, framing, templates)
        ids = option_token_ids(lm, question.n_options(lang))
        missing = [n + 1 for n, found in enumerate(ids) if not found]
        if missing:
            unmeasurable.append(f"{question.id} ({lang}, {framing}): option(s) {missing} have no token")
            continue
        if chat:
            text = lm.tokenizer.apply_chat_template(
                [{"role": "user", "content": body}], tokenize=False, add_generation_prompt=True
            )
        else:
            text = f"{body}\n{templates[lang].answer}{answer_gap(lm)}"
        items.append(Item(question, lang, framing, text, tuple(ids)))
    for line in unmeasurable:
        log.warning("not measured: %s (no single token writes that number in this vocabulary)", line)
    return items, unmeasurable


def leakage_items(config: LeakageConfig, lm: LensModel) -> Work:
    """The items as the runner's work (refused on a model that does not run here: it generates)."""
    if not lm.backend.local:
        raise LatentLangError(
            f"leakage generates each answer, and latentlang does not generate on "
            f"{lm.backend.name.upper()} yet; run leakage on a local model (without --remote)"
        )
    chat = use_chat(lm, config.chat)
    items, unmeasurable = build_items(lm, config, chat)
    if not items:
        raise LatentLangError("no item can be measured: " + "; ".join(unmeasurable[:3]))
    longest = max(len(ids) for ids in lm.tokenizer([i.text for i in items])["input_ids"])
    return Work(
        items=items,
        keys=[(i.text, i.option_ids) for i in items],
        tokens=longest + config.max_new_tokens,
        meta={"chat": chat, "max_new_tokens": config.max_new_tokens, "unmeasurable": unmeasurable},
    )


def reread_answers(result: LeakageResult, config: LeakageConfig, work: Work) -> LeakageResult:
    """Read every generated text again with the current rules, so a saved run follows them."""
    questions = {item.question.id: item.question for item in work.items}
    rows = zip(result.items["generated"].astype(str), result.items["question_id"], result.items["language"])
    reads = [read_answer(text, questions[q].options[lang]) for text, q, lang in rows]
    result.items["answer"] = [r.option or 0 for r in reads]
    result.items["refused"] = [r.refused for r in reads]
    return result


def generate_and_read(lm: LensModel, work: Work, indices: list[int]) -> LeakageResult:
    """Generate the answers of some items and read their per-layer option distributions."""
    items = [work.items[i] for i in indices]
    chat, max_new_tokens = work.meta["chat"], work.meta["max_new_tokens"]
    batch = lm.tokenize([item.text for item in items], add_special_tokens=not chat)
    captured = lm.capture(batch)
    width = max(len(item.option_ids) for item in items)
    sets = [
        [list(ids) for ids in item.option_ids] + [list(item.option_ids[0])] * (width - len(item.option_ids))
        for item in items
    ]
    index = TokenSetIndex.from_lists(sets, lm.device)
    valid = torch.tensor(
        [[k < len(item.option_ids) for k in range(width)] for item in items], device=lm.device
    )
    readout = lm.lens.readout(captured.residuals[:, :, -1], index, top_k=1)
    layer_logp = readout.set_logprob.masked_fill(~valid[:, None], float("-inf"))  # [batch, layer, option]
    final_logp = torch.log_softmax(captured.final_logits.float(), -1)  # the model's own distribution
    gathered = final_logp.gather(1, index.ids.reshape(len(items), -1)).view(index.ids.shape)
    final_sets = torch.logsumexp(gathered.masked_fill(~index.mask, float("-inf")), -1)
    final_sets = final_sets.masked_fill(~valid, float("-inf"))
    texts = _generate(lm, batch, max_new_tokens)
    rows = []
    for item, text in zip(items, texts):
        answer = read_answer(text, item.question.options[item.language])
        rows.append(
            {
                "question_id": item.question.id,
                "topic": item.question.topic,
                "language": item.language,
                "framing": item.framing,
                "n_options": len(item.option_ids),
                "prompt": item.text,
                "generated": text,
                "answer": answer.option or 0,
                "refused": answer.refused,
            }
        )
    return LeakageResult(
        items=pd.DataFrame(rows),
        option_probs=_renormalised(layer_logp),
        option_mass=torch.logsumexp(layer_logp, -1).exp().cpu().numpy(),
        final_probs=_renormalised(final_sets),
        meta=work.meta,
    )


def _renormalised(logp: torch.Tensor) -> np.ndarray:
    """Softmax over the options (the last axis); padded options (-inf) become NaN."""
    probs = torch.softmax(logp, -1).cpu().numpy()
    return np.where(np.isneginf(logp.cpu().numpy()), np.nan, probs)


@torch.no_grad()
def _generate(lm: LensModel, batch, max_new_tokens: int) -> list[str]:
    """Greedy continuations of a left-padded batch."""
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else lm.tokenizer.eos_token_id
    out = lm.model.generate(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        do_sample=False,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad,
    )
    new = out[:, batch.input_ids.shape[1] :]
    return [lm.tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]


LEAKAGE = Study(
    "leakage",
    "logit leakage: the per-layer option distribution when the text refuses",
    LeakageConfig,
    LeakageResult,
    items=leakage_items,
    run_batch=generate_and_read,
    finish=reread_answers,
)


def run_leakage(config: LeakageConfig, lm: LensModel | None = None, progress: bool = True) -> LeakageResult:
    """Generate each item's answer and read its per-layer option distribution (resumable through
    ``config.out``)."""
    return LEAKAGE.run(config, lm, progress)
