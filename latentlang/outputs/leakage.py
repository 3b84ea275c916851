"""Figures of logit leakage: one question's layer × option heatmap, the share of silent items
with a confident hidden preference per layer, and the value shift between languages."""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from latentlang.language.codes import language_colors
from latentlang.results.leakage import LeakageResult


def question_figure(
    result: LeakageResult, question_id: str, framing: str | None = None, min_mass: float = 0.1
) -> Figure:
    """Layer × option heatmaps of one question, one panel per language (and framing): the lens's
    renormalised option distribution, the model's own final distribution as the top row, and the
    generated text below, marked when it refused or chose no option. Layers where the options
    hold less than ``min_mass`` of the next-token probability are greyed out."""
    items = result.items.reset_index(drop=True)
    rows = items[(items["question_id"] == question_id) & ((items["framing"] == framing) if framing else True)]
    if rows.empty:
        raise ValueError(
            f"no item of question {question_id!r}" + (f" in the {framing} framing" if framing else "")
        )
    fig = Figure(figsize=(2.6 * len(rows) + 1, 0.22 * result.n_layers + 2.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(rows), sharey=True, squeeze=False)[0])
    for ax, (index, row) in zip(axes, rows.iterrows()):
        n = int(row["n_options"])
        grid = np.vstack([result.option_probs[index, :, :n], result.final_probs[index, None, :n]])
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="Blues", vmin=0, vmax=1)
        ax.axhline(result.n_layers - 0.5, color="black", linewidth=1)
        thin = np.append(result.option_mass[index] < min_mass, False)
        ax.imshow(
            np.where(thin, 1.0, np.nan)[:, None] * np.ones((1, n)),
            origin="lower",
            aspect="auto",
            cmap="Greys",
            vmin=0,
            vmax=4,
            alpha=0.9,
        )
        ax.set_xticks(range(n), range(1, n + 1))
        ax.set_xlabel("option")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        said = (
            "refused" if row["refused"] else ("no option" if row["answer"] == 0 else f"said {row['answer']}")
        )
        color = "#b2182b" if said in ("refused", "no option") else "black"
        ax.set_title(f"{row['language']}, {row['framing']}: {said}", fontsize=8, color=color)
        text = str(row["generated"]).replace("\n", " ")
        ax.text(
            0.5,
            -0.16,
            text[:60] + ("…" if len(text) > 60 else ""),
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=6,
            wrap=True,
        )
    axes[0].set_ylabel(f"layer (grey: options hold < {min_mass:g}; top row: the model's own)")
    fig.colorbar(image, ax=axes.tolist(), shrink=0.8, label="P(option), renormalised")
    fig.suptitle(f"{result.meta.get('model', 'model')}: {question_id}", fontsize=10)
    return fig


def leak_share_figure(result: LeakageResult, threshold: float = 0.5, min_mass: float = 0.1) -> Figure:
    """Per layer and language: the share of items whose text refused or chose no option while the
    lens's option distribution puts at least ``threshold`` on one option (in layers where the
    options hold at least ``min_mass`` of the next-token probability)."""
    share = result.leak_share(threshold, min_mass)
    fig = _per_language_lines(
        share,
        "share",
        lambda lang, rows: f"{lang} (n = {int(rows['n'].iloc[0])} silent items)",
        f"share with max P(option) ≥ {threshold:g}",
        f"{result.meta.get('model', 'model')}: hidden preferences when the text gives no answer",
    )
    fig.axes[0].set_ylim(0, 1.02)
    return fig


def value_shift_figure(result: LeakageResult, reference: str = "en") -> Figure:
    """Per layer: mean Jensen–Shannon divergence between each language's option distribution and
    ``reference``'s, over the same questions and framings."""
    return _per_language_lines(
        result.value_shift(reference),
        "js_bits",
        lambda lang, _: f"{lang} vs {reference}",
        "Jensen–Shannon divergence (bits)",
        f"{result.meta.get('model', 'model')}: cross-lingual value shift",
    )


def _per_language_lines(frame, column: str, label, ylabel: str, title: str) -> Figure:
    """One line per language of ``frame[column]`` over ``frame["layer"]``."""
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    languages = list(frame["language"].unique())
    for lang, color in zip(languages, language_colors(languages)):
        rows = frame[frame["language"] == lang]
        ax.plot(rows["layer"], rows[column], marker="o", markersize=3, color=color, label=label(lang, rows))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
