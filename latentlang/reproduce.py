"""Rerun a published study on the paper's own data, with the paper's protocol, in one command.

``latentlang reproduce wendler2024 --data DIR`` runs Wendler et al.'s (2024) whole set on one
loaded model: translation for every ordered pair of de, en, fr, ru, zh (their Table 4), repetition
and cloze in each language (Tables 2 and 3), all with the ``wendler2024`` protocol
(:mod:`latentlang.protocols`), and the translation curves per target over the non-English
sources together (their Fig. 2a and Table 1). Each run writes its figures, ``summary.csv``,
``dataset.csv`` and ``dropped.csv`` into its own folder; ``n.csv`` lists the concepts measured per
pair (and how many target words are one token: the paper's bracketed counts), and
``numbers.csv`` the key numbers of every run. Finished runs are kept: an interrupted command
resumes where it stopped.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from latentlang.errors import LatentLangError
from latentlang.experiments import TASKS, RunConfig, run_task, write_outputs
from latentlang.grid import GridConfig
from latentlang.languages import check_language
from latentlang.loading import ModelConfig, option
from latentlang.measures import key_numbers
from latentlang.models import LensModel
from latentlang.results import LensResult
from latentlang.sampling import TOKEN_FILTERS

log = logging.getLogger(__name__)
#: Published studies ``reproduce`` knows.
STUDIES = ("wendler2024",)


@dataclass(kw_only=True)
class ReproduceConfig(ModelConfig):
    """A published study's whole set of runs on its own data."""

    study: str = field(metadata={"help": "the study to rerun", "choices": list(STUDIES)})
    data: str = field(
        metadata={
            "help": "the paper's data folder (wendler2024: data/langs of epfl-dlab/llm-latent-language)"
        }
    )
    langs: str = option("de,en,fr,ru,zh", "the paper's languages")
    tasks: str = option("translation,repetition,cloze", "which of the paper's tasks")
    tokens: str = option(
        "all", "target words that are one token (single), several (multi) or all", choices=list(TOKEN_FILTERS)
    )
    out: str | None = option(None, "output folder (default: runs/reproduce-STUDY[-TOKENS])")
    batch_size: int | None = option(None, "prompts per forward pass (default: automatic)")
    top_k: int = option(10, "decoded tokens kept per layer")

    def __post_init__(self) -> None:
        if self.study not in STUDIES:
            raise LatentLangError(
                f"unknown study {self.study!r}; latentlang reproduces: {', '.join(STUDIES)}"
            )
        if not Path(self.data).is_dir():
            raise LatentLangError(
                f"--data {self.data!r} is not a folder; give the paper's data folder (for wendler2024, "
                "data/langs of epfl-dlab/llm-latent-language, with one {lang}/clean.csv per language)"
            )
        for lang in self.languages:
            check_language(lang)
        unknown = set(self.task_names) - set(TASKS)
        if unknown or not self.task_names:
            raise LatentLangError(f"--tasks takes some of {', '.join(TASKS)}, got {self.tasks!r}")
        self.out = self.out or f"runs/reproduce-{self.study}" + (
            "" if self.tokens == "all" else f"-{self.tokens}"
        )

    @property
    def languages(self) -> list[str]:
        return list(dict.fromkeys(x.strip() for x in self.langs.split(",") if x.strip()))

    @property
    def task_names(self) -> list[str]:
        return [x.strip() for x in self.tasks.split(",") if x.strip()]

    def runs(self) -> list[RunConfig]:
        """One config per run, in the paper's protocol, each with its own folder under ``out``."""
        model = {
            name: getattr(self, name)
            for name in ("model", "backend", "device", "dtype", "device_map", "remote")
        }
        runs = []
        for task in self.task_names:
            grid = GridConfig(
                **model,
                task=task,
                langs=",".join(self.languages),
                words=self.data,
                cloze=self.data if task == "cloze" else None,
                protocol=self.study,
                tokens=self.tokens,
                batch_size=self.batch_size,
                top_k=self.top_k,
                out=self.out,
            )
            runs += grid.runs()
        return runs


def reproduce(config: ReproduceConfig, lm: LensModel | None = None, progress: bool = True) -> pd.DataFrame:
    """Run every run of the study on one loaded model, write each run's outputs, the per-target
    translation curves over the non-English sources, ``n.csv`` and ``numbers.csv``.

    A run that cannot be made from the data (a language without cloze sentences, too few concepts)
    is reported in ``n.csv`` and the others go on.

    Returns:
        The ``n.csv`` table: one row per run (``task, src, tgt, n, n_single`` and the dropped
        concepts by reason, or the ``error`` that stopped it).
    """
    runs = config.runs()
    lm = lm or config.load()
    out = Path(config.out)
    results: dict[str, LensResult] = {}
    rows, numbers = [], []
    bar = tqdm(runs, desc=f"reproduce {config.study}", unit="run", disable=not progress)
    for run in bar:
        name = Path(run.out).name
        bar.set_postfix_str(name)
        row = {"run": name, "task": run.TASK, "src": run.task_languages[0], "tgt": run.task_languages[-1]}
        try:
            result = run_task(run, lm=lm, progress=progress)
        except LatentLangError as err:
            log.warning("%s: %s", name, err)
            rows.append({**row, "error": str(err)})
            continue
        write_outputs(result, run.out)
        results[name] = result
        rows.append({**row, **_counts(result, lm)})
        numbers.append({"run": name, **key_numbers(result)})
    for tgt in config.languages:
        parts = [r for n, r in results.items() if r.meta["task"] == "translation" and r.meta["tgt"] == tgt]
        parts = [r for r in parts if r.meta["src"] != "en"]
        if parts:
            union = pooled_sources(parts)
            write_pooled(union, out / f"translation-to-{tgt}")
            numbers.append({"run": f"translation-to-{tgt}", **key_numbers(union)})
            rows.append(
                {
                    "run": f"translation-to-{tgt}",
                    "task": "translation",
                    "src": union.meta["src"],
                    "tgt": tgt,
                    **_counts(union, lm),
                }
            )
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "n.csv", index=False)
    pd.DataFrame(numbers).to_csv(out / "numbers.csv", index=False)
    return table


def pooled_sources(results: list[LensResult]) -> LensResult:
    """Translation results into one target from several sources, pooled over their concepts
    (English and the target's curves only: the paper's "union of German/French/Russian")."""
    tgt = results[0].meta["tgt"]
    languages = list(dict.fromkeys(["en", tgt]))
    parts = [r.select_languages(languages) for r in results]
    meta = {
        **results[0].meta,
        "src": "+".join(r.meta["src"] for r in results),
        "latent": ["en"],
        "dropped": [d for r in results for d in r.meta.get("dropped", [])],
    }
    return LensResult.concat(parts, meta=meta)


def write_pooled(result: LensResult, out: Path) -> None:
    """A pooled result's ``summary.csv`` and latent-language figure."""
    from latentlang.plots import latent_language_figure, save_figure

    out.mkdir(parents=True, exist_ok=True)
    result.summary().to_csv(out / "summary.csv", index=False)
    save_figure(latent_language_figure(result), out / "latent_language")


def _counts(result: LensResult, lm: LensModel) -> dict:
    words = result.prompts[f"word_{result.meta['tgt']}"]
    dropped = result.dropped()["reason"].value_counts()
    return {
        "n": result.n_prompts,
        "n_single": int(sum(lm.vocab.is_single_token(w) for w in words)),
        **{f"dropped_{reason.replace(' ', '_')}": int(k) for reason, k in dropped.items()},
    }
