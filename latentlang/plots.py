"""Figures. Each function takes a result and returns a matplotlib ``Figure``; none shows or saves
it (the caller decides). Figures are built without pyplot, so making one changes no global state.
"""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from latentlang.results import LensResult

#: One colour per language in every figure; English orange, as in the published figures.
LANGUAGE_COLORS = {
    "en": "#e66101",
    "zh": "#1b9e77",
    "fr": "#5e3c99",
    "de": "#0571b0",
    "ja": "#d01c8b",
    "ru": "#a6761d",
    "es": "#66a61e",
    "it": "#e6ab02",
    "ko": "#7570b3",
    "ar": "#666666",
}
#: Colours for languages without one above, in order of appearance.
SPARE_COLORS = ["#1f78b4", "#33a02c", "#fb9a99", "#cab2d6", "#b15928", "#8dd3c7", "#bebada", "#80b1d3"]
OTHER_COLOR, NO_LETTERS_COLOR = "#bdbdbd", "#eeeeee"


def latent_language_figure(result: LensResult, confidence: float = 0.95, method: str = "t") -> Figure:
    """Mean probability of the concept's word per layer and language, with confidence bands
    (``method``: ``"t"`` or ``"bootstrap"``), under two strips: the mean entropy (bits) of the
    decoded distribution and the mean token energy, per layer."""
    summary = result.summary(confidence, method)
    fig = Figure(figsize=(7, 4.6), layout="constrained")
    entropy_ax, energy_ax, ax = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1, 9]})
    layers = np.arange(result.n_layers)
    for strip, values, name, cmap, unit in (
        (entropy_ax, result.entropy.mean(0), "entropy", "cividis", "bits"),
        (energy_ax, result.energy.mean(0), "energy", "magma", "× random"),
    ):
        image = strip.imshow(values[None, :], aspect="auto", cmap=cmap, extent=(-0.5, layers[-1] + 0.5, 0, 1))
        strip.set_yticks([])
        strip.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        bar = fig.colorbar(image, ax=strip, location="right", pad=0.01, aspect=4)
        bar.set_label(unit, fontsize=7)
        bar.ax.tick_params(labelsize=6)
    for lang, color in zip(result.languages, language_colors(result.languages)):
        rows = summary[summary["language"] == lang]
        ax.plot(rows["layer"], rows["mean"], color=color, marker="o", markersize=3, label=_role(result, lang))
        ax.fill_between(rows["layer"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("probability")
    ax.set_ylim(bottom=0)
    ax.set_xlim(-0.5, layers[-1] + 0.5)
    ax.legend(frameon=False, loc="upper left")
    ax.grid(alpha=0.3)
    interval = "bootstrap" if method == "bootstrap" else "t"
    fig.suptitle(
        f"{_what(result)} (n = {result.n_prompts} concepts, {confidence:.0%} {interval} CI)", fontsize=10
    )
    return fig


def language_mass_figure(result: LensResult, n_languages: int = 6) -> Figure:
    """Share of the top-k decoded probability held by each language, per layer (stacked).

    The ``n_languages`` languages with the most mass get their own band; the rest, and tokens
    with letters but no clear language, form "other"; tokens without letters (spaces,
    punctuation, digits) form "no letters". Bands sum to 1 at every layer.
    """
    mass = result.mass.mean(axis=0)  # [layer, label]
    labels = list(result.labels)
    words = [i for i, label in enumerate(labels) if label not in ("other", "none")]
    top = sorted(words, key=lambda i: mass[:, i].sum(), reverse=True)[:n_languages]
    rest = [i for i, label in enumerate(labels) if i not in top and label != "none"]
    series = [mass[:, i] for i in top] + [mass[:, rest].sum(axis=1), mass[:, labels.index("none")]]
    names = [labels[i] for i in top] + ["other", "no letters"]
    total = np.maximum(np.sum(series, axis=0), 1e-12)
    colors = language_colors(names[:-2]) + [OTHER_COLOR, NO_LETTERS_COLOR]
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.stackplot(np.arange(mass.shape[0]), [s / total for s in series], labels=names, colors=colors)
    ax.set_xlim(0, mass.shape[0] - 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"share of top-{result.top_ids.shape[-1]} mass")
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(f"{_what(result)}: language of the decoded tokens", fontsize=10)
    return fig


def language_colors(languages: list[str]) -> list[str]:
    """The colour of each language: fixed for common ones, spare colours for the rest."""
    spare = iter(SPARE_COLORS * (1 + len(languages) // len(SPARE_COLORS)))
    return [LANGUAGE_COLORS.get(lang) or next(spare) for lang in languages]


def _role(result: LensResult, lang: str) -> str:
    roles = [name for name in ("src", "tgt") if result.meta.get(name) == lang]
    if lang == "en" and "src" not in roles:
        roles.insert(0, "English")
    roles = [{"src": "source", "tgt": "target"}.get(r, r) for r in roles]
    return f"{lang} ({', '.join(roles)})" if roles else lang


def _what(result: LensResult) -> str:
    meta = result.meta
    task = meta.get("task", "task")
    pair = f" {meta['src']}→{meta['tgt']}" if "src" in meta and "tgt" in meta else ""
    return f"{meta.get('model', 'model')}, {task}{pair}"
