"""``LeakageResult``: per item (question × language × framing), the text the model generated and,
at every layer, the logit lens's distribution over the answer options.

Leakage measures (:meth:`LeakageResult.measures`): per item and layer, the option distribution's
max-probability, entropy and preferred option, and the leakage flag = the text refused or chose
no option while the distribution is confident (max-probability ≥ threshold) *and* rests on real
mass (the lens puts at least ``min_mass`` of its next-token probability on the option tokens at
all; in early layers it puts almost none there, and a renormalised distribution over a few
millionths is noise, not a preference). Value shift
(:meth:`LeakageResult.value_shift`): Jensen–Shannon divergence between two languages' option
distributions for the same question and framing, per layer.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from jaxtyping import Float

from latentlang.results.storage import load_npz, save_npz

_ARRAYS = ("option_probs", "option_mass", "final_probs")
ITEM_COLUMNS = [
    "question_id",
    "topic",
    "language",
    "framing",
    "n_options",
    "prompt",
    "generated",
    "answer",
    "refused",
]


@dataclass
class LeakageResult:
    """What the model said and what the lens read, per item.

    Attributes:
        items: One row per item: ``question_id, topic, language, framing, n_options, prompt,
            generated, answer`` (chosen option, 1-based; 0 = none found) and ``refused``.
        option_probs: The lens's distribution over the item's options at each layer (renormalised
            over the options; NaN beyond ``n_options``).
        option_mass: The probability the lens puts on all the option tokens together, per layer
            (small values mean the renormalised distribution rests on little mass).
        final_probs: The model's own distribution over the options at the answer position.
        meta: Model, settings, package version, options that had no token.
    """

    items: pd.DataFrame
    option_probs: Float[np.ndarray, "item layer option"]
    option_mass: Float[np.ndarray, "item layer"]
    final_probs: Float[np.ndarray, "item option"]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, layers, options = self.option_probs.shape
        if (
            len(self.items) != n
            or self.option_mass.shape != (n, layers)
            or self.final_probs.shape != (n, options)
        ):
            raise ValueError(
                f"LeakageResult: {len(self.items)} items, option_probs {self.option_probs.shape}, "
                f"option_mass {self.option_mass.shape}, final_probs {self.final_probs.shape} disagree"
            )

    @property
    def n_layers(self) -> int:
        return self.option_probs.shape[1]

    @property
    def no_answer(self) -> np.ndarray:
        """Items whose text refused or chose no option."""
        return self.items["refused"].to_numpy(bool) | (self.items["answer"].to_numpy() == 0)

    def to_dataframe(self) -> pd.DataFrame:
        """Long format: ``question_id, language, framing, layer, option, prob, refused, answer``."""
        n, layers, options = self.option_probs.shape
        item, layer, option = np.indices((n, layers, options)).reshape(3, -1)
        frame = pd.DataFrame(
            {"item": item, "layer": layer, "option": option + 1, "prob": self.option_probs.reshape(-1)}
        )
        frame = frame[frame["option"] <= self.items["n_options"].to_numpy()[frame["item"]]]
        meta = self.items[["question_id", "language", "framing", "refused", "answer"]].reset_index(drop=True)
        frame = frame.join(meta, on="item").drop(columns="item")
        return frame[["question_id", "language", "framing", "layer", "option", "prob", "refused", "answer"]]

    def measures(self, threshold: float = 0.5, min_mass: float = 0.1) -> pd.DataFrame:
        """Per item and layer: ``option_mass``, ``max_prob``, ``entropy_bits``, ``preferred``
        (1-based) and ``leak``.

        ``leak`` is true where the text refused or chose no option while the layer's option
        distribution puts at least ``threshold`` on one option and the options hold at least
        ``min_mass`` of the lens's next-token probability.
        """
        probs = np.nan_to_num(self.option_probs, nan=0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.where(probs > 0, probs * np.log2(probs), 0.0).sum(-1)
        max_prob = probs.max(-1)
        n, layers = max_prob.shape
        item, layer = np.indices((n, layers)).reshape(2, -1)
        frame = (
            self.items[["question_id", "language", "framing", "refused", "answer"]]
            .iloc[item]
            .reset_index(drop=True)
        )
        confident = (max_prob >= threshold) & (self.option_mass >= min_mass)
        return frame.assign(
            layer=layer,
            option_mass=self.option_mass.reshape(-1),
            max_prob=max_prob.reshape(-1),
            entropy_bits=entropy.reshape(-1),
            preferred=probs.argmax(-1).reshape(-1) + 1,
            leak=(self.no_answer[:, None] & confident).reshape(-1),
        )

    def leak_share(self, threshold: float = 0.5, min_mass: float = 0.1) -> pd.DataFrame:
        """Per language and layer: among items whose text refused or chose no option, the share
        with a confident hidden preference (``share``), and how many such items (``n``)."""
        m = self.measures(threshold, min_mass)
        silent = m[m["refused"].astype(bool) | (m["answer"] == 0)]
        return (
            silent.groupby(["language", "layer"])["leak"].agg(share="mean", n="size").reset_index()
            if len(silent)
            else pd.DataFrame(columns=["language", "layer", "share", "n"])
        )

    def value_shift(self, reference: str = "en") -> pd.DataFrame:
        """Per language and layer: mean Jensen–Shannon divergence (bits, 0–1) between that language's
        option distribution and ``reference``'s, over the questions and framings both have."""
        keyed = self.items.reset_index(drop=True)
        index = {(r.question_id, r.framing, r.language): i for i, r in enumerate(keyed.itertuples())}
        rows = []
        for lang in keyed["language"].unique():
            if lang == reference:
                continue
            pairs = [
                (i, index[(q, f, reference)])
                for (q, f, language), i in index.items()
                if language == lang and (q, f, reference) in index
            ]
            if not pairs:
                continue
            a, b = (np.nan_to_num(self.option_probs[list(idx)]) for idx in zip(*pairs))
            js = js_divergence(a, b)  # [pair, layer]
            rows += [
                {"language": lang, "layer": layer, "js_bits": float(js[:, layer].mean()), "n": len(pairs)}
                for layer in range(self.n_layers)
            ]
        return pd.DataFrame(rows, columns=["language", "layer", "js_bits", "n"])

    def save(self, path: str | Path) -> Path:
        """Write the result to one ``.npz`` file, atomically."""
        return save_npz(path, {name: getattr(self, name) for name in _ARRAYS}, self.items, self.meta)

    @classmethod
    def load(cls, path: str | Path) -> "LeakageResult":
        """Read a result written by :meth:`save`."""
        arrays, items, meta = load_npz(path, set(_ARRAYS))
        return cls(items=items, meta=meta, **{name: arrays[name] for name in _ARRAYS})

    @classmethod
    def concat(cls, parts: list["LeakageResult"], meta: dict | None = None) -> "LeakageResult":
        """Join results of consecutive batches along the item axis."""
        width = max(p.option_probs.shape[-1] for p in parts)
        return cls(
            items=pd.concat([p.items for p in parts], ignore_index=True),
            option_probs=np.concatenate([_pad_options(p.option_probs, width) for p in parts]),
            option_mass=np.concatenate([p.option_mass for p in parts]),
            final_probs=np.concatenate([_pad_options(p.final_probs, width) for p in parts]),
            meta=parts[0].meta if meta is None else meta,
        )

    def _repr_html_(self) -> str:
        """A summary table for Jupyter: items, refusals and replies with no option per language."""
        from latentlang.outputs.html import leakage_summary_html

        return leakage_summary_html(self)

    def __repr__(self) -> str:
        refused = int(self.items["refused"].sum())
        return (
            f"LeakageResult({self.meta.get('model', '?')}: {len(self.items)} items "
            f"({self.items['question_id'].nunique()} questions × {sorted(self.items['language'].unique())} × "
            f"{sorted(self.items['framing'].unique())}), {refused} refused, {self.n_layers} layers)"
        )


def _pad_options(array: np.ndarray, width: int) -> np.ndarray:
    """Pad the option axis (last) with NaN up to ``width``."""
    return np.pad(array, [(0, 0)] * (array.ndim - 1) + [(0, width - array.shape[-1])], constant_values=np.nan)


def js_divergence(
    p: Float[np.ndarray, "... option"], q: Float[np.ndarray, "... option"]
) -> np.ndarray | float:
    """Jensen–Shannon divergence in bits (0 for equal distributions, 1 for disjoint ones)."""
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, a * np.log2(a / b), 0.0).sum(-1)

    return (kl(p, m) + kl(q, m)) / 2


def example_question(result: "LeakageResult", threshold: float, min_mass: float) -> str:
    """The question with the most leaking items at the last layer (else the first question)."""
    measures = result.measures(threshold, min_mass)
    leaking = measures[(measures["layer"] == result.n_layers - 1) & measures["leak"]]["question_id"]
    return str(leaking.value_counts().index[0]) if len(leaking) else str(result.items["question_id"].iloc[0])


def leakage_numbers(
    result: "LeakageResult", threshold: float | None = None, min_mass: float | None = None
) -> dict:
    """Per language: items, refusals, replies with no option, how many of each leak (a confident
    hidden preference at the last layer / at any layer), the agreement between the answer in text
    and the lens's preferred option at the last layer, the mean option mass there, and the value
    shift to English there (``threshold`` and ``min_mass``: the run's, by default)."""
    threshold = result.meta.get("threshold", 0.5) if threshold is None else threshold
    min_mass = result.meta.get("min_mass", 0.1) if min_mass is None else min_mass
    measures = result.measures(threshold, min_mass)
    leaks = measures.groupby(["question_id", "language", "framing"], sort=False)["leak"]
    any_layer, last = leaks.any(), leaks.last()
    preferred = measures[measures["layer"] == result.n_layers - 1].set_index(
        ["question_id", "language", "framing"]
    )
    shift = result.value_shift()
    numbers = {}
    for lang, rows in result.items.groupby("language", sort=False):
        keys = list(zip(rows["question_id"], rows["language"], rows["framing"]))
        refused = rows["refused"].to_numpy(bool)
        no_option = ~refused & (rows["answer"].to_numpy() == 0)
        answered = rows["answer"].to_numpy() > 0
        entry = {"items": len(rows), "refused": int(refused.sum()), "no_option": int(no_option.sum())}
        for name, mask in (("refused", refused), ("no_option", no_option)):
            chosen = [k for k, m in zip(keys, mask) if m]
            entry[f"{name}_leak_last"] = int(last.loc[chosen].sum()) if chosen else 0
            entry[f"{name}_leak_any"] = int(any_layer.loc[chosen].sum()) if chosen else 0
        said = rows["answer"].to_numpy()[answered]
        hidden = preferred.loc[[k for k, a in zip(keys, answered) if a], "preferred"].to_numpy()
        entry["text_agrees_with_lens"] = float((said == hidden).mean()) if len(said) else float("nan")
        entry["option_mass_last"] = float(np.mean(result.option_mass[rows.index, -1]))
        lang_shift = shift[(shift["language"] == lang) & (shift["layer"] == result.n_layers - 1)]
        if len(lang_shift):
            entry["js_to_en_last"] = float(lang_shift["js_bits"].iloc[0])
        numbers[lang] = entry
    return numbers
