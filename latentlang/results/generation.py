"""``GenerationResult``: the lens at every position of generated (or given) texts, at every layer.

Axes: ``text``, ``position`` (a text's positions read, in order: for a generation, the prompt's
last token and every generated token; for a given text, every token), ``layer`` (0 = embeddings
... last), ``k`` (the lens's most probable next tokens, most probable first) and ``label`` (the
language labels, ``meta["labels"]``). Positions a text does not have (a shorter text, a
generation that ended) hold token ``-1``.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from jaxtyping import Float, Int, Shaped

from latentlang.errors import LatentLangError
from latentlang.results.routing import routing_shares, routing_table
from latentlang.results.storage import ArrayResult
from latentlang.results.token_grid import TokenGrid
from latentlang.results.traces import trace_table

_ARRAYS = (
    "tokens",
    "token_text",
    "top_ids",
    "top_text",
    "top_probs",
    "entropy_bits",
    "mass",
    "token_lang",
    "top_lang",
    "word_info",
    "word_positions",
    "word_probs",
)
#: The fields of ``word_info``, in order.
WORD_FIELDS = ("word", "lang", "part", "english")


@dataclass
class GenerationResult(ArrayResult):
    """Lens readings along texts.

    Attributes:
        tokens: The token at each position read (``-1``: no such position).
        token_text: Its text.
        top_ids: The lens's top-k next tokens there, per layer.
        top_text: Their texts.
        top_probs: Their probabilities.
        entropy_bits: The entropy of the lens's next-token distribution, in bits.
        mass: Each language label's share of the top-k probability mass.
        token_lang: The language label index of each position's token (``-1``: no position).
        top_lang: The label index of each of the lens's top-k tokens there, per layer.
        word_info: Per dictionary word of a text: :data:`WORD_FIELDS` (``""``: no such word).
        word_positions: The absolute position each word is read at (the one that predicts its
            first token; ``-1``: no such word).
        word_probs: P(its own set), P(its English translation's set), P(the control) per layer.
        texts: One row per text: ``prompt`` (empty for a given text), ``generated`` (the new text,
            or the given one), ``start`` (the absolute position of the first position read),
            ``n_positions``.
        meta: Model, labels, top-k, mode (``generate`` or ``text``), ...
    """

    ARRAYS = _ARRAYS
    TABLE = "texts"

    tokens: Int[np.ndarray, "text position"]
    token_text: Shaped[np.ndarray, "text position"]
    top_ids: Int[np.ndarray, "text position layer k"]
    top_text: Shaped[np.ndarray, "text position layer k"]
    top_probs: Float[np.ndarray, "text position layer k"]
    entropy_bits: Float[np.ndarray, "text position layer"]
    mass: Float[np.ndarray, "text position layer label"]
    token_lang: Int[np.ndarray, "text position"]
    top_lang: Int[np.ndarray, "text position layer k"]
    word_info: Shaped[np.ndarray, "text word 4"]
    word_positions: Int[np.ndarray, "text word"]
    word_probs: Float[np.ndarray, "text word layer 3"]
    texts: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, positions = self.tokens.shape
        if (
            len(self.texts) != n
            or self.top_ids.shape[:2] != (n, positions)
            or self.mass.shape[:3] != self.top_ids.shape[:3]
        ):
            raise ValueError(
                f"GenerationResult: tokens {self.tokens.shape}, top_ids {self.top_ids.shape}, "
                f"{len(self.texts)} texts"
            )

    @property
    def labels(self) -> list[str]:
        return list(self.meta.get("labels", [str(i) for i in range(self.mass.shape[-1])]))

    def to_dataframe(self) -> pd.DataFrame:
        """One row per (text, position, layer) that exists: ``text, position`` (absolute, in the
        prompt plus generation), ``layer``, ``token`` (the token at that position), ``top1`` and
        ``top1_prob`` (the lens's most probable next token there), ``entropy_bits`` and one
        ``mass_LANG`` column per label (the ``generation.csv`` table)."""
        text, pos, layer = np.nonzero(np.broadcast_to((self.tokens >= 0)[..., None], self.entropy_bits.shape))
        start = self.texts["start"].to_numpy()
        frame = {
            "text": text,
            "position": start[text] + pos,
            "layer": layer,
            "token": self.token_text[text, pos],
            "top1": self.top_text[text, pos, layer, 0],
            "top1_prob": self.top_probs[text, pos, layer, 0],
            "entropy_bits": self.entropy_bits[text, pos, layer],
        }
        mass = self.mass[text, pos, layer]
        frame |= {f"mass_{label}": mass[:, i] for i, label in enumerate(self.labels)}
        return pd.DataFrame(frame)

    def words(self) -> pd.DataFrame:
        """One row per dictionary word read: ``text, part, word, lang, english, position``,
        whether it is routed via English and each set's peak probability (``words.csv``)."""
        text, slot = np.nonzero(self.word_positions >= 0)
        frame = pd.DataFrame(
            {"text": text, **{f: self.word_info[text, slot, i] for i, f in enumerate(WORD_FIELDS)}}
        )
        frame["position"] = self.word_positions[text, slot]
        return routing_table(frame, self.word_probs[text, slot])

    def traces(self) -> pd.DataFrame:
        """Per text: its language, the share of its positions whose middle layers decode English,
        its own language or another, and where it switches language (``traces.csv``)."""
        first = np.where(self.texts["prompt"] != "", 1, 0)  # a generation: after the prompt's last token
        return trace_table(self.token_lang, self.top_lang[..., 0], self.texts, self.labels, first)

    def grid(self, text: int = 0) -> TokenGrid:
        """One text's readings as a :class:`TokenGrid` (layer × position; what ``explore`` and
        the token-grid figures show)."""
        if not 0 <= text < len(self.texts):
            raise LatentLangError(f"text {text} is out of range: this result holds {len(self.texts)} texts")
        n = int((self.tokens[text] >= 0).sum())
        labels = np.asarray(self.labels + ["none"])[self.top_lang[text, :n]]  # -1 (no token): "none"
        row = self.texts.iloc[text]
        return TokenGrid(
            prompt=str(row["prompt"]) + str(row["generated"]),
            model=str(self.meta.get("model", "?")),
            input_tokens=list(self.token_text[text, :n]),
            top_tokens=self.top_text[text, :n].transpose(1, 0, 2),
            top_probs=self.top_probs[text, :n].transpose(1, 0, 2),
            top_labels=labels.transpose(1, 0, 2),
            entropy=self.entropy_bits[text, :n].T,
            meta={"start": int(row["start"]), "lang": str(row.get("lang", ""))},
        )

    def _repr_html_(self) -> str:
        """The first text's interactive grid (see :meth:`grid` for the others)."""
        from latentlang.outputs.html import token_grid_html

        return token_grid_html(self.grid(0), last=None)

    def routing(self, confidence: float = 0.95, first: bool = False) -> pd.DataFrame:
        """The share of dictionary words routed via English per language and part of the text
        (``prompt``, ``text``), with Wilson intervals (``routing.csv``); ``first``: each word's
        first occurrence per text and part only."""
        return routing_shares(self.words(), confidence, first)

    @classmethod
    def concat(cls, parts: list["GenerationResult"], meta: dict | None = None) -> "GenerationResult":
        """Join results of consecutive batches along the text axis (positions padded with -1)."""

        def padded(array: np.ndarray, fill, width: int) -> np.ndarray:
            pad = [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
            return np.pad(array, pad, constant_values=fill)

        widths = {name: max(getattr(p, name).shape[1] for p in parts) for name in _ARRAYS}
        fills = {"tokens": -1, "token_text": "", "top_ids": -1, "top_text": "", "top_probs": 0.0}
        fills |= {
            "entropy_bits": np.nan,
            "mass": 0.0,
            "token_lang": -1,
            "top_lang": -1,
            "word_info": "",
            "word_positions": -1,
            "word_probs": np.nan,
        }
        return cls(
            **{
                name: np.concatenate([padded(getattr(p, name), fills[name], widths[name]) for p in parts])
                for name in _ARRAYS
            },
            texts=pd.concat([p.texts for p in parts], ignore_index=True),
            meta=parts[0].meta if meta is None else meta,
        )

    def __repr__(self) -> str:
        n, positions, layers, _ = self.top_ids.shape
        mode = self.meta.get("mode", "?")
        return f"GenerationResult({n} texts × up to {positions} positions × {layers} layers, {mode})"
