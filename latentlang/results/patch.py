"""``PatchResult``: what patching one translation prompt's latents into another did, layer by layer.

Axes: ``pair`` (a source concept patched into a target prompt about another concept),
``patch`` (the residual layer patched: 0 = embeddings ... last), ``layer`` (where the lens reads
the patched run: the last layer is the model's output) and ``set`` (the four token sets, in
:data:`SETS` order).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from jaxtyping import Float

from latentlang.results.lens_result import mean_interval
from latentlang.results.storage import ArrayResult

#: The four token sets: the source concept and the target concept, each in the source prompt's
#: output language and the target prompt's.
SETS = ("src_concept_src_lang", "src_concept_tgt_lang", "tgt_concept_src_lang", "tgt_concept_tgt_lang")
_ARRAYS = ("probs", "unpatched", "source_own")


@dataclass
class PatchResult(ArrayResult):
    """Patching results.

    Attributes:
        probs: P(token set) read by the lens in the patched run, per pair, patch layer, layer, set.
        unpatched: The same in the target prompt's own run (no patch), per pair, layer, set.
        source_own: The same in the source prompt's own run, per pair, layer, set.
        pairs: One row per pair: ``source_concept, target_concept, source_text, target_text`` and
            each set's words.
        meta: Model, the two pairs, the mode, the languages averaged over, version, ...
    """

    ARRAYS = _ARRAYS
    TABLE = "pairs"

    probs: Float[np.ndarray, "pair patch layer set"]
    unpatched: Float[np.ndarray, "pair layer set"]
    source_own: Float[np.ndarray, "pair layer set"]
    pairs: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, patches, layers, sets = self.probs.shape
        if self.unpatched.shape != (n, layers, sets) or self.source_own.shape != (n, layers, sets):
            raise ValueError(f"PatchResult: probs {self.probs.shape} and the unpatched runs disagree")
        if len(self.pairs) != n or sets != len(SETS):
            raise ValueError(
                f"PatchResult: {len(self.pairs)} pairs and {sets} sets for probs {self.probs.shape}"
            )

    @property
    def n_layers(self) -> int:
        return self.probs.shape[2]

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """One row per patch layer: the mean final-layer probability of each set over the pairs,
        ``SET``, ``SET_ci_low``, ``SET_ci_high`` (Student-t), and ``n`` (the ``patch.csv`` table)."""
        final = self.probs[:, :, -1]  # [pair, patch, set]
        table = {"layer": np.arange(final.shape[1])}
        for s, name in enumerate(SETS):
            mean, low, high = mean_interval(final[:, :, s], confidence, "t")
            table |= {f"p_{name}": mean, f"p_{name}_ci_low": low, f"p_{name}_ci_high": high}
        return pd.DataFrame({**table, "n": len(final)})

    def to_dataframe(self) -> pd.DataFrame:
        """Long format of the patched runs' lens curves: ``pair, patch, layer, set, prob``."""
        pair, patch, layer, s = np.indices(self.probs.shape).reshape(4, -1)
        return pd.DataFrame(
            {
                "pair": pair,
                "patch": patch,
                "layer": layer,
                "set": np.asarray(SETS)[s],
                "prob": self.probs.reshape(-1),
            }
        )

    def __repr__(self) -> str:
        m = self.meta
        return (
            f"PatchResult({m.get('source', '?')} into {m.get('target', '?')}, mode {m.get('mode', '?')}: "
            f"{len(self.pairs)} pairs × {self.probs.shape[1]} patch layers)"
        )
