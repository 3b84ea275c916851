"""Rerun a published study on the paper's own data, with the paper's protocol, in one command.

``latentlang reproduce wendler2024 --data DIR`` runs Wendler et al.'s (2024) whole set on one
loaded model: translation for every ordered pair of de, en, fr, ru, zh (their Table 4), repetition
and cloze in each language (Tables 2 and 3), all with the ``wendler2024`` protocol
(:mod:`latentlang.studies.protocols`), and the translation curves per target over the non-English
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

from latentlang.config import as_list, option
from latentlang.core.loading import ModelConfig
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.codes import check_language
from latentlang.outputs.files import write_outputs
from latentlang.results.lens_result import LensResult
from latentlang.results.sets import ReproduceResult
from latentlang.studies.grid import GridConfig
from latentlang.studies.latent import TASKS, TaskConfig
from latentlang.studies.runner import Study
from latentlang.studies.sampling import TOKEN_FILTERS

log = logging.getLogger(__name__)
#: Published studies ``reproduce`` knows.
STUDIES = ("wendler2024", "menavalues")


@dataclass(kw_only=True)
class ReproduceConfig(ModelConfig):
    """A published study's whole set of runs on its own data."""

    study: str = field(metadata={"help": "the study to rerun", "choices": list(STUDIES)})
    data: str = field(
        metadata={
            "help": "the paper's data: wendler2024, the data/langs folder of epfl-dlab/llm-latent-language; "
            "menavalues, MenaValues Benchmark.xlsx"
        }
    )
    langs: list[str] | None = option(
        None,
        "the paper's languages (default: wendler2024 de,en,fr,ru,zh; menavalues en and the countries' own)",
    )
    tasks: list[str] = option(["translation", "repetition", "cloze"], "which of the paper's tasks")
    tokens: str = option(
        "all", "target words that are one token (single), several (multi) or all", choices=TOKEN_FILTERS
    )
    out: str | None = option(
        None, "output folder (default: runs/reproduce-STUDY[-TOKENS])", fingerprint=False
    )
    batch_size: int | None = option(None, "prompts per forward pass (default: automatic)", fingerprint=False)
    top_k: int = option(10, "decoded tokens kept per layer")
    translations: str | None = option(
        None, "menavalues: the questions in ar, fa, tr (CSV id, lang, question)"
    )
    countries: list[str] | None = option(None, "menavalues: the personas' countries (default: all 16)")
    limit: int | None = option(None, "menavalues: only the first N items (for a quick run)")

    def __post_init__(self) -> None:
        if self.study not in STUDIES:
            raise LatentLangError(
                f"unknown study {self.study!r}; latentlang reproduces: {', '.join(STUDIES)}"
            )
        if self.study == "menavalues":
            self.out = self.out or "runs/reproduce-menavalues"
            return  # its settings are checked by the leakage configs it builds
        self.langs = self.langs or ["de", "en", "fr", "ru", "zh"]
        if not Path(self.data).is_dir():
            raise LatentLangError(
                f"--data {self.data!r} is not a folder; give the paper's data folder (for wendler2024, "
                "data/langs of epfl-dlab/llm-latent-language, with one {lang}/clean.csv per language)"
            )
        self.langs = list(dict.fromkeys(as_list(self.langs, "langs")))
        self.tasks = as_list(self.tasks, "tasks")
        for lang in self.langs:
            check_language(lang)
        unknown = set(self.tasks) - set(TASKS)
        if unknown or not self.tasks:
            raise LatentLangError(f"--tasks takes some of {', '.join(TASKS)}, got {','.join(self.tasks)!r}")
        self.out = self.out or f"runs/reproduce-{self.study}" + (
            "" if self.tokens == "all" else f"-{self.tokens}"
        )

    def runs(self) -> list[TaskConfig]:
        """One config per run, in the paper's protocol, each with its own folder under ``out``."""
        model = {
            name: getattr(self, name)
            for name in ("model", "backend", "device", "dtype", "device_map", "remote")
        }
        runs = []
        for task in self.tasks:
            grid = GridConfig(
                **model,
                task=task,
                langs=self.langs,
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


def reproduce(config: ReproduceConfig, lm: LensModel | None = None, progress: bool = True):
    """Run every run of the study on one loaded model, writing each run's outputs as it finishes.

    wendler2024: returns a :class:`ReproduceResult`, the translation runs pooled per target over
    the non-English sources; a run that cannot be made from the data (a language without cloze
    sentences, too few concepts) is reported in the counts and the others go on. menavalues:
    returns the :class:`~latentlang.results.leakage.LeakageResult` of the paper's whole grid
    (:func:`latentlang.studies.menavalues.reproduce_menavalues`).
    """
    if config.study == "menavalues":
        from latentlang.studies.menavalues import reproduce_menavalues

        return reproduce_menavalues(config, lm, progress)
    runs = config.runs()
    lm = lm or config.load()
    results: dict[str, LensResult] = {}
    rows = []
    bar = tqdm(runs, desc=f"reproduce {config.study}", unit="run", disable=not progress)
    for run in bar:
        name = Path(run.out).name
        bar.set_postfix_str(name)
        row = {"run": name, "task": run.TASK, "src": run.task_languages[0], "tgt": run.task_languages[-1]}
        try:
            result = TASKS[run.TASK].run(run, lm, progress)
        except LatentLangError as err:
            log.warning("%s: %s", name, err)
            rows.append({**row, "error": str(err)})
            continue
        write_outputs(result, run.out)
        results[name] = result
        rows.append({**row, **_counts(result, lm)})
    pooled = {}
    for tgt in config.langs:
        parts = [r for r in results.values() if r.meta["task"] == "translation" and r.meta["tgt"] == tgt]
        parts = [r for r in parts if r.meta["src"] != "en"]
        if parts:
            pooled[tgt] = union = pooled_sources(parts)
            rows.append(
                {
                    "run": f"translation-to-{tgt}",
                    "task": "translation",
                    "src": union.meta["src"],
                    "tgt": tgt,
                    **_counts(union, lm),
                }
            )
    return ReproduceResult(config.study, results, pooled, pd.DataFrame(rows))


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


def _counts(result: LensResult, lm: LensModel) -> dict:
    words = result.prompts[f"word_{result.meta['tgt']}"]
    dropped = result.dropped()["reason"].value_counts()
    return {
        "n": result.n_prompts,
        "n_single": int(sum(lm.vocab.is_single_token(w) for w in words)),
        **{f"dropped_{reason.replace(' ', '_')}": int(k) for reason, k in dropped.items()},
    }


REPRODUCE = Study(
    "reproduce",
    "rerun a published study on its own data with its protocol: wendler2024",
    ReproduceConfig,
    ReproduceResult,
    run_all=reproduce,
    positional=("study",),
)
