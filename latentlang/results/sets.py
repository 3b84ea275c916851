"""Results made of several latent-language runs: a language grid, and a paper's whole set."""

from dataclasses import dataclass, field

import pandas as pd

from latentlang.results.lens_result import LensResult
from latentlang.results.measures import key_numbers


@dataclass
class GridResult:
    """A task over every pair (or every language) of a language set.

    Attributes:
        cells: Cell name (``translation-de-zh``) -> its result.
        meta: The grid's settings (task, languages, model).
    """

    cells: dict[str, LensResult]
    meta: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per cell with its :func:`~latentlang.results.measures.key_numbers` (takeover
        layer, English's middle-layer peak, ...)."""
        return pd.DataFrame([{"cell": name, **key_numbers(result)} for name, result in self.cells.items()])

    def __repr__(self) -> str:
        return f"GridResult({self.meta.get('task', 'task')}: {len(self.cells)} cells {list(self.cells)})"


@dataclass
class ReproduceResult:
    """A published study rerun on its own data.

    Attributes:
        study: The study (``wendler2024``).
        runs: Run name (``translation-de-zh``) -> its result.
        pooled: Target language -> its translation runs from the non-English sources, pooled over
            their concepts (the paper's Fig. 2a curves).
        counts: One row per run and pooled target: ``run, task, src, tgt, n, n_single`` and the
            dropped concepts by reason, or the ``error`` that stopped the run (``n.csv``).
    """

    study: str
    runs: dict[str, LensResult]
    pooled: dict[str, LensResult]
    counts: pd.DataFrame

    def numbers(self) -> pd.DataFrame:
        """The key numbers of every run and pooled target (``numbers.csv``)."""
        named = [*self.runs.items(), *((f"translation-to-{tgt}", r) for tgt, r in self.pooled.items())]
        return pd.DataFrame([{"run": name, **key_numbers(result)} for name, result in named])

    def __repr__(self) -> str:
        return f"ReproduceResult({self.study}: {len(self.runs)} runs, pooled targets {list(self.pooled)})"
