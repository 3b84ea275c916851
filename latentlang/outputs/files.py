"""The files a result produces: one :func:`write_outputs` per result type, each returning the
paths it wrote (the CLI, the studies made of other runs and the analyses scripts all use it).

A run folder already holds ``result.npz`` when the runner wrote it (a run with an ``out``
folder); ``result.save(path)`` writes one for a result computed in memory.
"""

from functools import singledispatch
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from latentlang.outputs.ablate import ablate_figure
from latentlang.outputs.curves import (
    language_mass_figure,
    latent_language_figure,
    latent_languages_figure,
    source_split_figure,
)
from latentlang.outputs.generation import language_mass_along_figure, routing_figure
from latentlang.outputs.grids import grid_figure, grid_summary_figure
from latentlang.outputs.html import save_html
from latentlang.outputs.leakage import (
    leak_share_figure,
    question_figure,
    survey_divergence_figure,
    value_shift_figure,
)
from latentlang.outputs.patch import patch_figure
from latentlang.outputs.steer import steer_figure
from latentlang.outputs.style import save_figure
from latentlang.outputs.token_grid import token_grid_figure
from latentlang.results.ablate import AblateResult
from latentlang.results.generation import GenerationResult
from latentlang.results.leakage import LeakageResult, example_question
from latentlang.results.lens_result import LensResult
from latentlang.results.patch import PatchResult
from latentlang.results.sets import GridResult, ReproduceResult
from latentlang.results.steer import SteerResult
from latentlang.results.surveys import (
    consistency,
    consistency_summary,
    divergence_by_layer,
    survey_divergence,
)
from latentlang.results.token_grid import TokenGrid


@singledispatch
def write_outputs(result, out: str | Path) -> list[Path]:
    """Write ``result``'s tables and figures (PNG and PDF) into the folder ``out``; return the
    paths written."""
    raise TypeError(f"latentlang writes no outputs for a {type(result).__name__}")


@write_outputs.register
def _(result: LensResult, out: str | Path) -> list[Path]:
    """``summary.csv`` (intervals by the run's method, ``meta["ci"]``), ``dataset.csv`` (the
    prompts and token ids in the published layout), ``dropped.csv`` (what was left out, and why)
    and the figures: latent language, language mass, for translation the source split, with
    several latent languages their curves."""
    ci = result.meta.get("ci", "t")
    tables = {"summary": result.summary(method=ci), "dataset": result.dataset(), "dropped": result.dropped()}
    figures = {
        "latent_language": latent_language_figure(result, method=ci),
        "language_mass": language_mass_figure(result),
    }
    if result.meta.get("src") != result.meta.get("tgt"):  # translation: how much of P(en) copies the source
        figures["source_split"] = source_split_figure(result, method=ci)
    if len(result.meta.get("latent", [])) > 1:  # several candidate latent languages
        figures["latent_languages"] = latent_languages_figure(result, method=ci)
    return _write(out, tables, figures)


@write_outputs.register
def _(result: GridResult, out: str | Path) -> list[Path]:
    """``grid.csv`` (one row per cell, :meth:`GridResult.table`, without the per-layer entropy
    lists), the small multiples of the cells' curves and the per-pair heatmaps (each cell's own
    outputs are in its folder)."""
    table = result.table()
    figures = {"grid": grid_figure(result.cells), "grid_summary": grid_summary_figure(table)}
    return _write(out, {"grid": table.drop(columns=["entropy_bits"])}, figures, dpi=170)


@write_outputs.register
def _(result: ReproduceResult, out: str | Path) -> list[Path]:
    """``n.csv`` (concepts measured per run), ``numbers.csv`` (key numbers of every run) and per
    pooled target ``translation-to-TGT/`` with its ``summary.csv`` and latent-language figure."""
    written = _write(out, {"n": result.counts, "numbers": result.numbers()}, {})
    for tgt, pooled in result.pooled.items():
        folder = Path(out) / f"translation-to-{tgt}"
        written += _write(
            folder, {"summary": pooled.summary()}, {"latent_language": latent_language_figure(pooled)}
        )
    return written


@write_outputs.register
def _(result: TokenGrid, out: str | Path) -> list[Path]:
    """``token_grid.csv`` (long format) and the figure of its last ``meta["last"]`` positions."""
    figure = token_grid_figure(result, last=result.meta.get("last", 24))
    return _write(out, {"token_grid": result.to_dataframe()}, {"token_grid": figure})


@write_outputs.register
def _(result: LeakageResult, out: str | Path) -> list[Path]:
    """``leakage.csv`` (long format), ``items.csv`` (texts, outcomes, answer positions), with survey
    data ``survey_divergence.csv``, and the figures: the leak share per layer, the value shift
    (with English and another language), the distance to each population per layer, and the
    layer × option heatmap of the question with the most leaking items (by the run's
    ``threshold`` and ``min_mass``)."""
    threshold, min_mass = result.meta.get("threshold", 0.75), result.meta.get("min_mass", 0.1)
    tables = {"leakage": result.to_dataframe(), "items": result.items.drop(columns="prompt")}
    figures = {"leak_share": leak_share_figure(result, threshold, min_mass)}
    divergence = survey_divergence(result)
    if len(divergence):
        tables["survey_divergence"] = divergence
        tables["consistency"] = consistency_summary(consistency(result))
        figures["survey_divergence"] = survey_divergence_figure(
            divergence_by_layer(divergence), result.meta.get("model", "model")
        )
    languages = set(result.items["language"])
    if "en" in languages and len(languages) > 1:
        figures["value_shift"] = value_shift_figure(result)
    example = example_question(result, threshold, min_mass)
    framing = str(result.items["framing"].iloc[0])
    figures[f"question-{example}"] = question_figure(result, example, framing, min_mass)
    return _write(out, tables, figures, dpi=170)


@write_outputs.register
def _(result: PatchResult, out: str | Path) -> list[Path]:
    """``patch.csv`` (one row per patch layer: the four sets' mean output probability with their
    intervals, and ``n``), ``patch_curves.csv`` (the patched runs' lens curves, mean per patch
    layer, layer and set), ``dropped.csv`` and the figure."""
    curves = result.to_dataframe().groupby(["patch", "layer", "set"], sort=False)["prob"].mean().reset_index()
    dropped = pd.DataFrame(result.meta.get("dropped", []), columns=["concept", "reason", "detail"])
    tables = {"patch": result.summary(), "patch_curves": curves, "dropped": dropped}
    return _write(out, tables, {"patch": patch_figure(result)})


@write_outputs.register
def _(result: SteerResult, out: str | Path) -> list[Path]:
    """``steer.csv`` (one row per α and steered layer: the concept's output probability in A and
    in B with intervals, its paired change from the unsteered prompt, each language's next-token
    mass, with generation the share of continuations in A and B), ``steer_prompts.csv`` (every
    prompt, α and layer, with the continuation and its language), ``dropped.csv`` and the figure."""
    dropped = pd.DataFrame(result.meta.get("dropped", []), columns=["concept", "reason", "detail"])
    tables = {"steer": result.summary(), "steer_prompts": result.to_dataframe(), "dropped": dropped}
    return _write(out, tables, {"steer": steer_figure(result)})


@write_outputs.register
def _(result: AblateResult, out: str | Path) -> list[Path]:
    """``ablate.csv`` (one row per first ablated layer: the target concept's and the ablated
    word's output probability ablated, with the control ablated and unablated, and the paired
    difference), ``ablate_prompts.csv`` (every prompt, layer and condition), ``dropped.csv`` and the
    figure."""
    dropped = pd.DataFrame(result.meta.get("dropped", []), columns=["concept", "reason", "detail"])
    tables = {"ablate": result.summary(), "ablate_prompts": result.to_dataframe(), "dropped": dropped}
    return _write(out, tables, {"ablate": ablate_figure(result)})


@write_outputs.register
def _(result: GenerationResult, out: str | Path) -> list[Path]:
    """``generation.csv`` (one row per text, position and layer: the token there, the lens's top
    next token and its probability, the entropy and each language's mass), ``words.csv`` (each
    dictionary word read: routed via English or not, each set's peak probability), ``routing.csv``
    (the share routed per language and part, with intervals), ``traces.csv`` (per text: the share
    of positions whose middle layers decode English, its language or another, and its switch
    points), ``texts.csv`` (each prompt and what was generated, or the given text), the first
    text's token grid (wrapped every 32 positions), as an interactive ``text-0.html`` too, and its
    language mass along the text, and the per-word routing figure (when a dictionary word was
    read). Any other text: ``explore(result, text=i)``."""
    tables = {
        "generation": result.to_dataframe(),
        "words": result.words(),
        "routing": result.routing(),
        "traces": result.traces(),
        "texts": result.texts,
    }
    grid = result.grid(0)
    figures = {
        "token_grid": token_grid_figure(grid, last=None, wrap=32),
        "language_mass": language_mass_along_figure(result, 0),
    }
    if (result.word_positions >= 0).any():
        figures["routing"] = routing_figure(result)
    written = _write(out, tables, figures, dpi=150)
    return [*written, save_html(grid, Path(out) / "text-0.html")]


def _write(
    out: str | Path, tables: dict[str, pd.DataFrame], figures: dict[str, Figure], dpi: int = 200
) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
        written.append(out / f"{name}.csv")
    for name, fig in figures.items():
        written += save_figure(fig, out / name, dpi=dpi)
    return written
