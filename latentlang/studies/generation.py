"""The lens over generated text: ``latentlang generate``.

Greedy decoding with the KV cache, reading at every generated position and every layer what the
lens decodes there (top-k, entropy, language mass of the top-k) as the tokens are produced: each
step's residuals are reduced on the device and dropped, so memory does not grow with the text
beyond those few numbers. Positions read: the prompt's last token (it predicts the first new
token) and every generated token (each predicts the next; one more token is generated than
kept, so the last kept token has its reading too); a generation that ends stops there.
``--text FILE`` reads a given text or reasoning trace instead, at every token, in one forward
pass. Prompts come from ``--prompt``, a file (``--prompts``) or, without either, the prompts
shipped with latentlang (short text openings in de, fr, ru, zh and ja).
"""

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from latentlang.config import option
from latentlang.core.generate import generate_streaming
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.datasets import load_words
from latentlang.language.langid import language_mass
from latentlang.language.segment import Dictionary
from latentlang.results.generation import GenerationResult
from latentlang.studies.routing import read_words, word_items
from latentlang.studies.runner import Study, StudyConfig, Work

SHIPPED_PROMPTS = "generation_prompts.jsonl"


@dataclass(kw_only=True)
class GenerateConfig(StudyConfig):
    """Settings of ``latentlang generate``."""

    prompt: str | None = option(None, "one prompt to continue")
    prompts: str | None = option(
        None,
        "prompts: a .txt file (one per line), or .jsonl/.csv with a 'prompt' field (default: the shipped)",
    )
    text: str | None = option(
        None,
        "read given text instead of generating: a file holding one text, or .jsonl/.csv with a 'text' field",
    )
    chat: bool = option(False, "wrap each prompt in the model's chat template")
    words: str | None = option(
        None,
        "dictionary: a word list (CSV or published folder) or a CSV of word,lang,en rows (default: shipped)",
    )
    max_new_tokens: int = option(32, "tokens to generate per prompt")
    top_k: int = option(10, "most probable next tokens kept per position and layer")

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [name for name in ("prompt", "prompts", "text") if getattr(self, name) is not None]
        if len(given) > 1:
            raise LatentLangError(f"give one of --prompt, --prompts and --text, not {' and '.join(given)}")
        for name in ("prompts", "text"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise LatentLangError(f"--{name} {path!r} is not a file")
        if self.words is not None and not Path(self.words).exists():
            raise LatentLangError(f"--words {self.words!r} does not exist")
        if self.max_new_tokens < 1 or self.top_k < 1:
            raise LatentLangError(
                f"max_new_tokens and top_k must be >= 1, got {self.max_new_tokens}, {self.top_k}"
            )
        self.out = self.out or "runs/generate"

    @property
    def mode(self) -> str:
        return "text" if self.text is not None else "generate"


def read_entries(path: str | Path | None, field: str) -> tuple[list[dict], int]:
    """The rows of a prompts or texts file and how many were skipped (no ``field``, or empty).

    ``.jsonl``: one object per line; ``.csv``: a column named ``field``; otherwise a ``.txt`` of
    prompts, one per line, or (for texts) the whole file as one text. ``None``: the shipped prompts.
    """
    if path is None:
        lines = files("latentlang").joinpath("data", SHIPPED_PROMPTS).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()], 0
    path = Path(path)
    if path.suffix == ".jsonl":
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line) if line.strip() else {})
            except json.JSONDecodeError:
                rows.append({})
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if field not in frame:
            raise LatentLangError(f"{path} has no {field!r} column")
        rows = frame.to_dict("records")
    elif field == "text":
        rows = [{"text": path.read_text(encoding="utf-8")}]
    else:
        rows = [{"prompt": line} for line in path.read_text(encoding="utf-8").splitlines()]
    kept = [row for row in rows if isinstance(row, dict) and str(row.get(field, "")).strip()]
    return kept, len(rows) - len(kept)


@dataclass(frozen=True)
class Texts:
    """The prompts or texts to read and the dictionary their words are looked up in."""

    texts: list[str]
    dictionary: Dictionary

    def __len__(self) -> int:
        return len(self.texts)


def load_dictionary(path: str | None) -> tuple[Dictionary, int]:
    """The dictionary of ``--words`` (a ``word, lang, en`` CSV, else a word list) and how many of
    its rows were skipped."""
    if path is not None and Path(path).is_file():
        columns = set(pd.read_csv(path, nrows=0).columns)
        if {"word", "lang", "en"} <= columns:
            return Dictionary.from_csv(path)
    words = load_words(path)
    return Dictionary.from_word_list(words), len(words.skipped)


def generation_items(config: GenerateConfig, lm: LensModel) -> Work:
    """The prompts (chat-wrapped with ``--chat``) or the given texts."""
    if not lm.backend.local and config.mode == "generate":
        raise LatentLangError(
            f"{lm.name} runs on {lm.backend.where}; latentlang generates on local models only"
        )
    field = "text" if config.mode == "text" else "prompt"
    source = config.text if config.mode == "text" else config.prompts
    entries, skipped = (
        ([{"prompt": config.prompt}], 0) if config.prompt is not None else read_entries(source, field)
    )
    if not entries:
        raise LatentLangError(f"{source} holds no {field}; give one per line (or a {field!r} field)")
    texts = [str(e[field]) for e in entries]
    if config.chat and config.mode == "generate":
        texts = [
            lm.tokenizer.apply_chat_template(
                [{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True
            )
            for t in texts
        ]
    lengths = [len(ids) for ids in lm.tokenizer(texts, add_special_tokens=not config.chat)["input_ids"]]
    extra = config.max_new_tokens + 1 if config.mode == "generate" else 0
    dictionary, skipped_words = load_dictionary(config.words)
    return Work(
        items=Texts(texts, dictionary),
        keys=[texts, sorted(dictionary.entries.items())],
        tokens=max(lengths) + extra,
        meta={
            "mode": config.mode,
            "chat": config.chat,
            "top_k": config.top_k,
            "max_new_tokens": config.max_new_tokens,
            "labels": list(lm.languages.labels),
            "skipped": skipped,
            "dictionary_rows_skipped": skipped_words,
            "langs": [str(e.get("lang", "")) for e in entries],
        },
    )


def step_reader(lm: LensModel, top_k: int, tags: torch.Tensor, n_labels: int, steps: list):
    """The reader :func:`generate_streaming` calls at each step: the lens's top-k, their
    probabilities, the entropy and the language mass of the top-k at every layer, reduced on the
    device and appended to ``steps`` on the host."""

    def on_step(_step: int, residuals: torch.Tensor) -> None:
        r = lm.lens.readout(residuals, None, top_k)
        mass = language_mass(r.top_ids, r.top_logprob, tags, n_labels)
        steps.append((r.top_ids.cpu(), r.top_logprob.exp().cpu(), r.entropy_bits.cpu(), mass.cpu()))

    return on_step


@torch.no_grad()
def generation_batch(lm: LensModel, work: Work, indices: list[int]) -> GenerationResult:
    """Generate from some prompts reading every step, or read some given texts at every token."""
    texts = [work.items.texts[i] for i in indices]
    if work.meta["mode"] == "text":
        return _read_texts(lm, work, texts, [work.meta["langs"][i] for i in indices])
    meta, top_k = work.meta, work.meta["top_k"]
    batch = lm.tokenize(texts, add_special_tokens=not meta["chat"])
    steps: list[tuple[torch.Tensor, ...]] = []
    on_step = step_reader(lm, top_k, lm.token_tags, len(lm.languages.labels), steps)
    new, _ = generate_streaming(lm, batch, meta["max_new_tokens"] + 1, on_step)
    new = new.cpu()
    ends = {lm.tokenizer.eos_token_id, lm.tokenizer.pad_token_id} | set(_eos_ids(lm))
    n, width = len(texts), meta["max_new_tokens"] + 1
    tokens = np.full((n, width), -1, dtype=np.int64)
    generated, generated_ids = [], []
    for row in range(n):
        kept = []
        for token in new[row, : meta["max_new_tokens"]].tolist():
            if token in ends:
                break
            kept.append(token)
        tokens[row, 0] = int(batch.input_ids[row, -1])
        tokens[row, 1 : 1 + len(kept)] = kept
        generated.append(lm.tokenizer.decode(kept, skip_special_tokens=True))
        generated_ids.append(kept)
    lengths = batch.attention_mask.sum(-1).cpu().numpy()
    arrays = [torch.stack([s[f] for s in steps], dim=1).numpy() for f in range(4)]  # [text, step, layer, ...]
    arrays = [
        np.pad(
            a,
            [(0, 0), (0, width - a.shape[1])] + [(0, 0)] * (a.ndim - 2),
            constant_values=-1 if f == 0 else 0,
        )
        for f, a in enumerate(arrays)
    ]
    frame = pd.DataFrame(
        {
            "prompt": texts,
            "generated": generated,
            "start": lengths - 1,
            "n_positions": (tokens >= 0).sum(1),
            "lang": [work.meta["langs"][i] for i in indices],
        }
    )
    sequences = [
        batch.input_ids[row, -int(lengths[row]) :].tolist() + tokens[row, 1 : 1 + len(kept)].tolist()
        for row, kept in enumerate(generated_ids)
    ]
    words = _words(lm, work.items.dictionary, sequences, [int(n) for n in lengths], frame["lang"].tolist())
    return _result(lm, tokens, arrays[0], arrays[1], arrays[2], arrays[3], words, frame, meta)


def _read_texts(lm: LensModel, work: Work, texts: list[str], langs: list[str]) -> GenerationResult:
    """Given texts read at every token, in one forward pass per batch."""
    batch = lm.tokenize(texts)
    lengths = batch.attention_mask.sum(-1)
    width = int(lengths.max())
    seq = batch.input_ids.shape[1]
    positions = torch.arange(seq - width, seq, device=batch.input_ids.device).expand(len(texts), -1)
    r = lm.read(batch, None, work.meta["top_k"], positions=positions)
    mass = language_mass(r.top_ids, r.top_logprob, lm.token_tags, len(lm.languages.labels))
    shape = (len(texts), width)
    valid = (torch.arange(width, device=lengths.device)[None] >= width - lengths[:, None]).cpu().numpy()
    tokens = np.where(valid, batch.input_ids[:, seq - width :].cpu().numpy(), -1)
    # Rows shorter than the longest: their positions start later; shift them to the front.
    order = np.argsort(~valid, axis=1, kind="stable")

    def per_position(x: torch.Tensor) -> np.ndarray:
        x = x.cpu().numpy().reshape(*shape, *x.shape[1:])
        return np.take_along_axis(x, order.reshape(*shape, *([1] * (x.ndim - 2))), axis=1)

    frame = pd.DataFrame(
        {
            "prompt": [""] * len(texts),
            "generated": texts,
            "start": 0,
            "n_positions": lengths.cpu().numpy(),
            "lang": langs,
        }
    )
    sequences = [lm.tokenizer(t)["input_ids"] for t in texts]
    words = _words(lm, work.items.dictionary, sequences, [0] * len(texts), langs)
    return _result(
        lm,
        np.take_along_axis(tokens, order, axis=1),
        per_position(r.top_ids),
        per_position(r.top_logprob.exp()),
        per_position(r.entropy_bits),
        per_position(mass),
        words,
        frame,
        work.meta,
    )


def _words(
    lm: LensModel, dictionary: Dictionary, sequences: list[list[int]], starts: list[int], langs: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dictionary words of each text read per layer, as padded ``word_info``,
    ``word_positions`` and ``word_probs`` arrays."""
    items = word_items(lm, sequences, starts, langs, dictionary)
    probs = read_words(lm, sequences, items)
    width = max([sum(i.text == t for i in items) for t in range(len(sequences))] + [1])
    info = np.full((len(sequences), width, 4), "", dtype=object)
    positions = np.full((len(sequences), width), -1, dtype=np.int64)
    word_probs = np.full((len(sequences), width, lm.n_layers + 1, 3), np.nan, dtype=np.float32)
    slot = [0] * len(sequences)
    for item, p in zip(items, probs):
        k = slot[item.text]
        info[item.text, k] = (item.word.text, item.word.lang, item.part, "|".join(item.english))
        positions[item.text, k], word_probs[item.text, k] = item.position, p
        slot[item.text] += 1
    return info.astype(str), positions, word_probs


def _result(lm: LensModel, tokens, top_ids, top_probs, entropy, mass, words, frame, meta) -> GenerationResult:
    """The arrays with each token's text (empty where there is no position)."""
    ids = np.unique(np.concatenate([tokens.ravel(), top_ids.ravel()]))
    texts = {int(i): lm.token_text(int(i)) for i in ids if i >= 0} | {-1: ""}
    decode = np.vectorize(lambda i: texts[int(i)], otypes=[str])
    tags = lm.languages.tags
    return GenerationResult(
        tokens,
        decode(tokens),
        top_ids,
        decode(top_ids),
        top_probs.astype(np.float32),
        entropy.astype(np.float32),
        mass.astype(np.float32),
        np.where(tokens >= 0, tags[np.maximum(tokens, 0)], -1).astype(np.int16),
        np.where(top_ids >= 0, tags[np.maximum(top_ids, 0)], -1).astype(np.int16),
        *words,
        frame,
        meta=meta,
    )


def _eos_ids(lm: LensModel) -> list[int]:
    config = getattr(lm.model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


GENERATE = Study(
    "generate",
    "generate greedily (or read a given text) and read the lens at every position and layer",
    GenerateConfig,
    GenerationResult,
    items=generation_items,
    run_batch=generation_batch,
)


def run_generation(
    config: GenerateConfig, lm: LensModel | None = None, progress: bool = True
) -> GenerationResult:
    """Run the generation lens (resumable through ``config.out``)."""
    return GENERATE.run(config, lm, progress)
