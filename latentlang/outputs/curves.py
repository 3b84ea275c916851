"""Latent-language curves and the language-mass stack of one result."""

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import MaxNLocator

from latentlang.language.codes import language_colors
from latentlang.outputs.style import describe, role_label
from latentlang.results.lens_result import LensResult

#: The energy strip's unit, by definition (see :meth:`latentlang.core.lens.LogitLens.energy`).
ENERGY_UNITS = {"latentlang": "× random", "wendler2024": "RMS cos /\nRMS token cos"}


def latent_language_figure(result: LensResult, confidence: float = 0.95, method: str | None = None) -> Figure:
    """Mean probability of the concept's word per layer and language, with confidence bands
    (``method``: ``"t"``, ``"normal"`` or ``"bootstrap"``; default the run's), under two strips:
    the mean entropy (bits) of the decoded distribution and the mean token energy, per layer."""
    method = method or result.meta.get("ci", "t")
    fig = Figure(figsize=(7, 4.6), layout="constrained")
    _curves_with_strips(fig, result, confidence, method)
    fig.suptitle(
        f"{describe(result)} (n = {result.n_prompts} concepts, {confidence:.0%} {method} CI)", fontsize=10
    )
    return fig


def source_split_figure(result: LensResult, confidence: float = 0.95, method: str | None = None) -> Figure:
    """Where each latent language's probability sits: on tokens that also begin the source word
    (source copying the token set credits to that language, hatched) or on its own tokens
    (solid), stacked per layer; the source and target words' curves beside them.

    Under latentlang's protocol a concept whose English and source sets overlap is dropped, so the
    hatched part is 0; under the notebooks' rule it can carry most of P(English).
    """
    method = method or result.meta.get("ci", "t")
    summary = result.summary(confidence, method)
    src, tgt = result.meta.get("src"), result.meta.get("tgt")
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    colors = dict(zip(result.languages, language_colors(result.languages)))
    for lang in [
        x for x in result.meta.get("latent", ["en"]) if x in result.languages and x not in (src, tgt)
    ]:
        rows = summary[summary["language"] == lang]
        shared = rows["from_source"].to_numpy()
        own = rows["mean"].to_numpy() - shared
        ax.fill_between(
            rows["layer"], 0, own, color=colors[lang], alpha=0.55, linewidth=0, label=f"P({lang}): own tokens"
        )
        ax.fill_between(
            rows["layer"],
            own,
            own + shared,
            facecolor="none",
            edgecolor=colors[lang],
            hatch="////",
            linewidth=0,
            label=f"P({lang}): tokens that also begin the {src} word",
        )
    for lang in dict.fromkeys([src, tgt]):
        if lang in result.languages:
            rows = summary[summary["language"] == lang]
            ax.plot(
                rows["layer"],
                rows["mean"],
                color=colors[lang],
                marker="o",
                markersize=3,
                label=role_label(result, lang),
            )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.5, result.n_layers - 0.5)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("probability")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, loc="upper left", fontsize=8)
    fig.suptitle(
        f"{describe(result)}: source copying inside P(English) (n = {result.n_prompts})", fontsize=10
    )
    return fig


def language_mass_figure(result: LensResult, n_languages: int = 6) -> Figure:
    """Share of the top-k decoded probability held by each language, per layer (stacked).

    The ``n_languages`` languages with the most mass get their own band; the rest, and tokens
    with letters but no clear language, form "other"; tokens without letters (spaces,
    punctuation, digits) form "no letters". Bands sum to 1 at every layer.
    """
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    draw_language_mass(fig.subplots(), result, n_languages)
    fig.suptitle(f"{describe(result)}: language of the decoded tokens", fontsize=10)
    return fig


def latent_languages_figure(
    result: LensResult, confidence: float = 0.95, method: str | None = None
) -> Figure:
    """Several latent languages side by side: one curve per candidate language's word (left) and
    the language-ID mass of the decoded tokens (right), for a run with ``--latent en,ja,...``."""
    method = method or result.meta.get("ci", "t")
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.15, 1])
    _curves_with_strips(left, result, confidence, method)
    left.suptitle(f"word probability per language ({confidence:.0%} CI)", fontsize=9)
    draw_language_mass(right.subplots(), result)
    right.suptitle("language of the decoded tokens", fontsize=9)
    fig.suptitle(f"{describe(result)}: candidate latent languages (n = {result.n_prompts})", fontsize=10)
    return fig


def draw_curves(
    ax: Axes, result: LensResult, confidence: float = 0.95, method: str | None = None, legend=True
) -> None:
    """One line per measured language with its confidence band, and a dotted line of the same
    colour for its control (another concept's word at the same prompts: the chance level)."""
    summary = result.summary(confidence, method)
    for lang, color in zip(result.languages, language_colors(result.languages)):
        rows = summary[summary["language"] == lang]
        ax.plot(
            rows["layer"], rows["mean"], color=color, marker="o", markersize=3, label=role_label(result, lang)
        )
        ax.fill_between(rows["layer"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.2, linewidth=0)
        # x markers keep the control visible where it coincides with the measured line
        ax.plot(
            rows["layer"],
            rows["control"],
            color=color,
            linestyle=":",
            linewidth=1.2,
            marker="x",
            markersize=4,
        )
    ax.plot(
        [],
        [],
        color="#555555",
        linestyle=":",
        linewidth=1.2,
        marker="x",
        markersize=4,
        label="control: another concept's word",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.set_xlim(-0.5, result.n_layers - 0.5)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(frameon=False, loc="upper left", fontsize=8)


def draw_language_mass(ax: Axes, result: LensResult, n_languages: int = 6) -> None:
    """The stacked language-mass bands (see :func:`language_mass_figure`)."""
    mass = result.mass.mean(axis=0)  # [layer, label]
    labels = list(result.labels)
    words = [i for i, label in enumerate(labels) if label not in ("other", "none")]
    top = sorted(words, key=lambda i: mass[:, i].sum(), reverse=True)[:n_languages]
    rest = [i for i, label in enumerate(labels) if i not in top and label != "none"]
    series = [mass[:, i] for i in top] + [mass[:, rest].sum(axis=1), mass[:, labels.index("none")]]
    names = [labels[i] for i in top] + ["other", "no letters"]
    total = np.maximum(np.sum(series, axis=0), 1e-12)
    colors = language_colors([labels[i] for i in top] + ["other", "none"])
    ax.stackplot(np.arange(mass.shape[0]), [s / total for s in series], labels=names, colors=colors)
    ax.set_xlim(0, mass.shape[0] - 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"share of top-{result.top_ids.shape[-1]} mass")
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)


def _curves_with_strips(fig: Figure | SubFigure, result: LensResult, confidence: float, method: str) -> None:
    entropy_ax, energy_ax, ax = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1, 9]})
    for strip, values, name, cmap, unit in (
        (entropy_ax, result.entropy.mean(0), "entropy", "cividis", "bits"),
        (
            energy_ax,
            result.energy.mean(0),
            "energy",
            "magma",
            ENERGY_UNITS[result.meta.get("energy", "latentlang")],
        ),
    ):
        image = strip.imshow(
            values[None, :], aspect="auto", cmap=cmap, extent=(-0.5, result.n_layers - 0.5, 0, 1)
        )
        strip.set_yticks([])
        strip.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        bar = fig.colorbar(image, ax=strip, location="right", pad=0.01, aspect=4)
        bar.set_label(unit, fontsize=7)
        bar.ax.tick_params(labelsize=6)
    draw_curves(ax, result, confidence, method)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("probability")
