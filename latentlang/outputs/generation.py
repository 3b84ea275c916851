"""Figures of a :class:`~latentlang.results.generation.GenerationResult`: the language mass along
a text and the per-word English routing (the token grid over a whole text is
:func:`latentlang.outputs.token_grid.token_grid_figure` of ``result.grid(text)``, wrapped)."""

from statistics import NormalDist

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from latentlang.language.codes import language_colors
from latentlang.outputs.token_grid import _families, _short
from latentlang.results.generation import GenerationResult
from latentlang.results.measures import middle_layers, wilson_interval

#: The three token sets read per word, in ``word_probs`` order.
SETS = ("own word", "English translation", "control")


def language_mass_along_figure(result: GenerationResult, text: int = 0, n_languages: int = 5) -> Figure:
    """The language mass of the lens's top-k tokens at each position of one text, averaged over
    the middle layers (top) and at the last layer (bottom), for its most present languages."""
    n = int((result.tokens[text] >= 0).sum())
    mass = result.mass[text, :n]  # [position, layer, label]
    labels = result.labels
    middle = mass[:, middle_layers(mass.shape[1])].mean(1)
    panels = {"middle layers (mean)": middle, "last layer": mass[:, -1]}
    spoken = [i for i, label in enumerate(labels) if label not in ("other", "none")]
    top = sorted(spoken, key=lambda i: -(middle[:, i].sum() + mass[:, -1, i].sum()))[:n_languages]
    colors = language_colors([labels[i] for i in top])
    fig = Figure(figsize=(max(6.0, 0.22 * n + 2), 4.6), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (title, values) in zip(axes, panels.items()):
        for i, color in zip(top, colors):
            ax.plot(range(n), values[:, i], color=color, marker="o", markersize=2.5, label=labels[i])
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"share of top-{result.top_ids.shape[-1]}")
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="language")
    axes[-1].set_xticks(
        range(n),
        [_short(t) for t in result.token_text[text, :n]],
        rotation=70,
        fontsize=6,
        family=_families(),
        ha="right",
    )
    axes[-1].set_xlabel("token (each reading predicts the next one)")
    row = result.texts.iloc[text]
    fig.suptitle(
        f"{result.meta.get('model', '?')}: language of the lens's top tokens along text {text}"
        f" ({row.get('lang', '') or '?'})",
        fontsize=9,
    )
    return fig


def routing_figure(result: GenerationResult, confidence: float = 0.95) -> Figure:
    """Per language of the dictionary words read: the mean P(own word), P(English translation)
    and P(control) per layer with normal confidence bands (the middle layers shaded), and the
    share of words routed via English with Wilson intervals (the last panel)."""
    table = result.words()
    text, slot = np.nonzero(result.word_positions >= 0)
    probs = result.word_probs[text, slot]  # [word, layer, 3], rows in table order
    langs = list(dict.fromkeys(table["lang"]))
    if not langs:
        raise ValueError("no dictionary word was read in this result: nothing to plot")
    fig = Figure(figsize=(3.0 * (len(langs) + 1), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(langs) + 1, squeeze=False)[0])
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    layers = np.arange(probs.shape[1])
    n_layers = probs.shape[1]
    middle = (n_layers // 4, n_layers - n_layers // 4 - 1)  # as routed_via_english reads them
    colors = language_colors(["xx", "en", "other"])
    for ax, lang in zip(axes, langs):
        mine = probs[(table["lang"] == lang).to_numpy()]
        for k, (name, color) in enumerate(zip(SETS, colors)):
            mean = mine[..., k].mean(0)
            half = z * mine[..., k].std(0, ddof=1) / np.sqrt(len(mine)) if len(mine) > 1 else 0 * mean
            ax.plot(layers, mean, color=color, linestyle=":" if k == 2 else "-", label=name)
            ax.fill_between(layers, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)
        ax.axvspan(middle[0] - 0.5, middle[-1] + 0.5, color="#999999", alpha=0.12, linewidth=0)
        ax.set_title(f"{lang} words (n = {len(mine)})", fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("P(set) at the position predicting the word")
    axes[0].legend(frameon=False, fontsize=7, loc="upper left")
    shares = result.routing(confidence).groupby("lang").sum(numeric_only=True).reindex(langs)
    share = shares["routed"] / shares["n"]
    low, high = wilson_interval(shares["routed"].to_numpy(), shares["n"].to_numpy(), confidence)
    bar = axes[-1]
    bar.bar(langs, share, color=language_colors(langs))
    bar.errorbar(langs, share, yerr=[share - low, high - share], fmt="none", ecolor="#333333", capsize=3)
    bar.set_ylim(0, 1)
    bar.set_title(f"routed via English ({confidence:.0%} Wilson CI)", fontsize=9)
    bar.set_ylabel("share of words")
    fig.suptitle(
        f"{result.meta.get('model', '?')}: does the lens decode a word's English first?", fontsize=10
    )
    return fig
