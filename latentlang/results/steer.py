"""``SteerResult``: what adding a language vector did to translation prompts, per strength and layer.

Axes: ``prompt``, ``alpha`` (the strengths, ``meta["alphas"]``), ``layer`` (the residual layer
steered, ``meta["layers"]``), ``set`` (the concept in A, in B: ``meta["languages"]``) and
``label`` (the language labels of the next-token mass, ``meta["labels"]``).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from jaxtyping import Float, Shaped

from latentlang.language.refusal import translation_answer
from latentlang.results.lens_result import mean_interval
from latentlang.results.measures import wilson_interval
from latentlang.results.storage import ArrayResult

_ARRAYS = ("probs", "mass", "texts", "text_lang", "base_probs", "base_mass", "base_text", "base_lang")


@dataclass
class SteerResult(ArrayResult):
    """Steering results.

    Attributes:
        probs: The model's output probability of the concept in A and in B, per prompt, α, layer.
        mass: The language labels' mass over the whole next-token distribution, likewise.
        texts: The greedy continuation under each edit (empty without ``--generate``).
        text_lang: The language label of its answer, up to the closing quote (empty without
            ``--generate``).
        base_probs: ``probs`` of the unsteered prompt.
        base_mass: ``mass`` of the unsteered prompt.
        base_text: The unsteered continuation.
        base_lang: Its language label.
        prompts: One row per prompt: ``concept, text``.
        meta: Languages A and B, layers, α values, labels, vector norms, ...
    """

    ARRAYS = _ARRAYS
    TABLE = "prompts"

    probs: Float[np.ndarray, "prompt alpha layer 2"]
    mass: Float[np.ndarray, "prompt alpha layer label"]
    texts: Shaped[np.ndarray, "prompt alpha layer"]
    text_lang: Shaped[np.ndarray, "prompt alpha layer"]
    base_probs: Float[np.ndarray, "prompt 2"]
    base_mass: Float[np.ndarray, "prompt label"]
    base_text: Shaped[np.ndarray, " prompt"]
    base_lang: Shaped[np.ndarray, " prompt"]
    prompts: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, alphas, layers, _ = self.probs.shape
        shapes = {name: getattr(self, name).shape[:3] for name in ("mass", "texts", "text_lang")}
        if len(self.prompts) != n or any(s != (n, alphas, layers) for s in shapes.values()):
            raise ValueError(
                f"SteerResult: probs {self.probs.shape}, {shapes} and {len(self.prompts)} prompts"
            )

    @property
    def languages(self) -> tuple[str, str]:
        a, b = self.meta.get("languages", ("A", "B"))
        return a, b

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """One row per (α, layer): the concept's mean output probability in A and in B with
        Student-t intervals, its change from the unsteered prompt (paired), the mean mass of each
        language label, with generation the share of answers in A and in B and the share that
        are the concept's word there (Wilson intervals), and ``n`` (the ``steer.csv`` table)."""
        n, n_alpha, n_layer, _ = self.probs.shape
        alphas = self.meta.get("alphas", list(range(n_alpha)))
        layers = self.meta.get("layers", list(range(n_layer)))
        table = {"alpha": np.repeat(alphas, n_layer), "layer": np.tile(layers, n_alpha)}
        flat = self.probs.reshape(n, n_alpha * n_layer, 2)
        for s, lang in enumerate(self.languages):
            values = {
                f"p_concept_{lang}": flat[..., s],
                f"delta_p_concept_{lang}": flat[..., s] - self.base_probs[:, s, None],
            }
            for name, value in values.items():
                mean, low, high = mean_interval(value, confidence, "t")
                table |= {name: mean, f"{name}_ci_low": low, f"{name}_ci_high": high}
        mass = self.mass.reshape(n, n_alpha * n_layer, -1).mean(0)
        for i, label in enumerate(self.meta.get("labels", range(mass.shape[-1]))):
            table[f"mass_{label}"] = mass[:, i]
        if (self.text_lang != "").any():
            langs = self.text_lang.reshape(n, -1)
            shares = {f"text_{lang}": langs == lang for lang in self.languages}
            for lang in self.languages:
                if f"words_{lang}" in self.prompts:  # the answer is the concept's word in lang
                    shares[f"answer_is_word_{lang}"] = self.answer_is_word(lang).reshape(n, -1)
            for name, hit in shares.items():
                k = hit.sum(0)
                low, high = wilson_interval(k, np.full(k.shape, n), confidence)
                table |= {name: k / n, f"{name}_ci_low": low, f"{name}_ci_high": high}
        return pd.DataFrame({**table, "n": n})

    def answer_is_word(self, lang: str) -> np.ndarray:
        """Per prompt, α and layer: whether the continuation's answer (up to its closing quote)
        is one of the concept's words in ``lang`` (case-insensitive)."""
        words = [set(w.casefold().split("|")) for w in self.prompts[f"words_{lang}"]]
        answers = np.vectorize(lambda t: translation_answer(t).casefold(), otypes=[str])(self.texts)
        return np.array(
            [[[a in words[p] for a in row] for row in answers[p]] for p in range(len(words))], dtype=bool
        )

    def to_dataframe(self) -> pd.DataFrame:
        """Long format: one row per prompt, α and layer, with both probabilities, the mass of A
        and B and, with generation, the continuation and its language."""
        n, n_alpha, n_layer, _ = self.probs.shape
        p, a, k = (axis.reshape(-1) for axis in np.indices((n, n_alpha, n_layer)))
        labels = list(self.meta.get("labels", []))
        a_lang, b_lang = self.languages
        frame = {
            "concept": self.prompts["concept"].to_numpy()[p],
            "alpha": np.asarray(self.meta.get("alphas", range(n_alpha)))[a],
            "layer": np.asarray(self.meta.get("layers", range(n_layer)))[k],
            f"p_concept_{a_lang}": self.probs[..., 0].reshape(-1),
            f"p_concept_{b_lang}": self.probs[..., 1].reshape(-1),
        }
        for lang in (a_lang, b_lang):
            if lang in labels:
                frame[f"mass_{lang}"] = self.mass[..., labels.index(lang)].reshape(-1)
        frame |= {"text": self.texts.reshape(-1), "text_lang": self.text_lang.reshape(-1)}
        return pd.DataFrame(frame)

    def __repr__(self) -> str:
        a, b = self.languages
        n, n_alpha, n_layer, _ = self.probs.shape
        return f"SteerResult({a} → {b}: {n} prompts × {n_alpha} strengths × {n_layer} layers)"
