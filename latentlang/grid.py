"""A task over every language pair of a set, on one loaded model.

``latentlang grid --task translation --langs de,fr,ru,zh,ja,en`` runs translation for each ordered
pair (repetition and cloze: for each language), writes each pair's usual outputs into its own
folder, and summarises the grid per pair (:func:`grid_table`): the layer from which the target
leads every other measured language for good, and English's peak in the middle layers
(:mod:`latentlang.measures`).
"""

import dataclasses
from dataclasses import dataclass, field
from itertools import permutations

import pandas as pd

from latentlang.errors import LatentLangError
from latentlang.experiments import TASKS, RunConfig, run_task, write_outputs
from latentlang.languages import check_language
from latentlang.measures import key_numbers
from latentlang.models import LensModel
from latentlang.results import LensResult


@dataclass(kw_only=True)
class GridConfig(RunConfig):
    """A task over every pair (or every language) of a language set."""

    task: str = field(default="translation", metadata={"help": "task to run", "choices": sorted(TASKS)})
    langs: str = field(metadata={"help": "comma-separated languages, e.g. de,fr,ru,zh,ja,en"})
    cloze: str | None = field(
        default=None, metadata={"help": "cloze sentences for --task cloze (default: shipped)"}
    )
    n_shots: int | None = field(
        default=None, metadata={"help": "demonstrations per prompt (default: the task's own)"}
    )
    TASK = "grid"

    @property
    def SHOTS(self) -> str:  # noqa: N802 - the class attribute of the task configs
        """Which protocol default gives ``n_shots``: the grid's task's."""
        return TASKS[self.task].SHOTS

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise LatentLangError(f"unknown task {self.task!r}; use one of: {', '.join(sorted(TASKS))}")
        for lang in self.languages_of_grid:
            check_language(lang)
        if len(self.languages_of_grid) < 2:
            raise LatentLangError(
                f"a grid needs at least two languages, got --langs {self.langs!r}; "
                "for one language run the task itself"
            )
        super().__post_init__()

    @property
    def languages_of_grid(self) -> list[str]:
        return list(dict.fromkeys(lang.strip() for lang in self.langs.split(",") if lang.strip()))

    @property
    def task_languages(self) -> list[str]:
        return self.languages_of_grid

    def runs(self) -> list[RunConfig]:
        """One config per cell: ordered pairs for translation, single languages otherwise."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(RunConfig) if f.name != "out"}
        if self.task == "translation":
            cells = [{"src": s, "tgt": t} for s, t in permutations(self.languages_of_grid, 2)]
        else:
            cells = [{"lang": lang} for lang in self.languages_of_grid]
        if self.task == "cloze":
            shared["cloze"] = self.cloze
        configs = []
        for cell in cells:
            name = "-".join([self.task, *cell.values()])
            configs.append(TASKS[self.task](**shared, **cell, out=f"{self.out}/{name}"))
        return configs


def run_grid(config: GridConfig, lm: LensModel | None = None, progress: bool = True) -> dict[str, LensResult]:
    """Run every cell of the grid on one loaded model; write each cell's outputs.

    Returns:
        Cell name (``translation-de-zh``) -> its result.
    """
    runs = config.runs()
    lm = lm or config.load()
    results = {}
    for run in runs:
        result = run_task(run, lm=lm, progress=progress)
        write_outputs(result, run.out, ci=config.ci)
        results[run.out.rsplit("/", 1)[-1]] = result
    return results


def grid_table(results: dict[str, LensResult]) -> pd.DataFrame:
    """One row per cell with its :func:`~latentlang.measures.key_numbers` (takeover layer,
    English's middle-layer peak, ...)."""
    return pd.DataFrame([{"cell": name, **key_numbers(result)} for name, result in results.items()])
