"""``AblateResult``: what projecting a word's unembedding directions out of the residual did.

Axes: ``prompt``, ``layer`` (the first residual layer ablated; every later one is too,
``meta["layers"]``), ``condition`` (the prompt's own concept's word ablated, or a control
concept's: :data:`CONDITIONS`) and ``set`` (the concept in the prompt's target language, and in
the ablated language: :data:`SETS`).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from jaxtyping import Float

from latentlang.results.lens_result import mean_interval
from latentlang.results.storage import ArrayResult

CONDITIONS = ("ablated", "control")
SETS = ("target", "ablated_word")
_ARRAYS = ("probs", "base_probs")


@dataclass
class AblateResult(ArrayResult):
    """Ablation results.

    Attributes:
        probs: The model's output probability of the concept in the target language and of the
            ablated word, per prompt, first ablated layer, condition.
        base_probs: The same without any ablation.
        prompts: One row per prompt: ``concept, control, text, n_rows, n_control_rows`` (how many
            unembedding rows each condition projects out).
        meta: The prompts' languages, the ablated language, layers, positions, basis, ...
    """

    ARRAYS = _ARRAYS
    TABLE = "prompts"

    probs: Float[np.ndarray, "prompt layer 2 2"]
    base_probs: Float[np.ndarray, "prompt 2"]
    prompts: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.prompts)
        if self.probs.shape[0] != n or self.probs.shape[2:] != (2, 2) or self.base_probs.shape != (n, 2):
            raise ValueError(
                f"AblateResult: probs {self.probs.shape}, base {self.base_probs.shape}, {n} prompts"
            )

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """One row per first ablated layer: the mean output probability of the target concept and
        of the ablated word under each condition (Student-t intervals), the unablated means, the
        paired difference ablated − control with its interval, and ``n`` (the ``ablate.csv``
        table)."""
        n, n_layer = self.probs.shape[:2]
        table = {"layer": np.asarray(self.meta.get("layers", range(n_layer)))}
        for s, name in enumerate(SETS):
            for c, condition in enumerate(CONDITIONS):
                mean, low, high = mean_interval(self.probs[:, :, c, s], confidence, "t")
                key = f"p_{name}_{condition}"
                table |= {key: mean, f"{key}_ci_low": low, f"{key}_ci_high": high}
            table[f"p_{name}_unablated"] = np.full(n_layer, self.base_probs[:, s].mean())
            mean, low, high = mean_interval(self.probs[:, :, 0, s] - self.probs[:, :, 1, s], confidence, "t")
            key = f"delta_{name}"
            table |= {key: mean, f"{key}_ci_low": low, f"{key}_ci_high": high}
        return pd.DataFrame({**table, "n": n})

    def to_dataframe(self) -> pd.DataFrame:
        """Long format: ``concept, control, layer, condition, set, prob``."""
        p, k, c, s = np.indices(self.probs.shape).reshape(4, -1)
        return pd.DataFrame(
            {
                "concept": self.prompts["concept"].to_numpy()[p],
                "control": self.prompts["control"].to_numpy()[p],
                "layer": np.asarray(self.meta.get("layers", range(self.probs.shape[1])))[k],
                "condition": np.asarray(CONDITIONS)[c],
                "set": np.asarray(SETS)[s],
                "prob": self.probs.reshape(-1),
            }
        )

    def __repr__(self) -> str:
        m = self.meta
        return (
            f"AblateResult({m.get('ablate', '?')} word out of {m.get('prompts', '?')} prompts: "
            f"{len(self.prompts)} prompts × {self.probs.shape[1]} layers)"
        )
