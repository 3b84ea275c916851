"""A task over every language pair of a set, on one loaded model.

``latentlang grid --task translation --langs de,fr,ru,zh,ja,en`` runs translation for each ordered
pair (repetition and cloze: for each language), writes each pair's usual outputs into its own
folder, and summarises the grid per pair (:meth:`~latentlang.results.sets.GridResult.table`): the
layer from which the target leads every other measured language for good, and English's peak in
the middle layers (:mod:`latentlang.results.measures`).
"""

import dataclasses
from dataclasses import dataclass, field
from itertools import permutations

from latentlang.config import as_list, option
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.codes import check_language
from latentlang.outputs.files import write_outputs
from latentlang.results.sets import GridResult
from latentlang.studies.latent import TASKS, LensSettings, TaskConfig
from latentlang.studies.runner import Study


@dataclass(kw_only=True)
class GridConfig(LensSettings):
    """A task over every pair (or every language) of a language set; every other setting is
    each cell's (a ``None`` default is filled by the cell's own task and protocol)."""

    task: str = option("translation", "task to run", choices=sorted(TASKS))
    langs: list[str] = field(metadata={"help": "languages, comma-separated, e.g. de,fr,ru,zh,ja,en"})
    cloze: str | None = option(None, "cloze sentences for --task cloze (default: shipped)")

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise LatentLangError(f"unknown task {self.task!r}; use one of: {', '.join(sorted(TASKS))}")
        self.langs = list(dict.fromkeys(as_list(self.langs, "langs")))
        for lang in self.langs:
            check_language(lang)
        if len(self.langs) < 2:
            raise LatentLangError(
                f"a grid needs at least two languages, got --langs {','.join(self.langs)!r}; "
                "for one language run the task itself"
            )
        super().__post_init__()
        if self.out is None:
            self.out = f"runs/{'-'.join(['grid', *self.langs, *self.variant()])}"

    def runs(self) -> list[TaskConfig]:
        """One config per cell: ordered pairs for translation, single languages otherwise."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(LensSettings) if f.name != "out"}
        if self.task == "translation":
            cells = [{"src": s, "tgt": t} for s, t in permutations(self.langs, 2)]
        else:
            cells = [{"lang": lang} for lang in self.langs]
        if self.task == "cloze":
            shared["cloze"] = self.cloze
        task = TASKS[self.task].config
        return [
            task(**shared, **cell, out=f"{self.out}/{'-'.join([self.task, *cell.values()])}")
            for cell in cells
        ]


def run_grid(config: GridConfig, lm: LensModel | None = None, progress: bool = True) -> GridResult:
    """Run every cell of the grid on one loaded model; write each cell's outputs as it finishes."""
    runs = config.runs()
    lm = lm or config.load()
    cells = {}
    for run in runs:
        result = TASKS[config.task].run(run, lm, progress)
        write_outputs(result, run.out)
        cells[run.out.rsplit("/", 1)[-1]] = result
    return GridResult(cells, meta={"task": config.task, "langs": config.langs, "model": lm.name})


GRID = Study(
    "grid",
    "a task over every language pair of a set, on one loaded model",
    GridConfig,
    GridResult,
    run_all=run_grid,
)
