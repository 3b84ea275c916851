"""Figures of logit leakage: one question's layer × option heatmap, the share of silent items
with a confident hidden preference per layer, and the value shift between languages."""

import numpy as np
from matplotlib import colormaps
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
        low = int(row["low"]) if "low" in row else 1
        ax.set_xticks(range(n), range(low, low + n))
        ax.set_xlabel("option")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        outcome = row.get(
            "outcome", "refused" if row["refused"] else "no_option" if row["answer"] == 0 else ""
        )
        said = f"said {int(row['answer']) + low - 1}" if outcome == "answered" else outcome.replace("_", " ")
        color = "#b2182b" if said in ("refused", "no option") else "black"
        who = f" ({row['country']})" if row.get("country") else ""
        ax.set_title(f"{row['language']}, {row['framing']}{who}: {said}", fontsize=8, color=color)
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


def leak_share_figure(result: LeakageResult, threshold: float = 0.75, min_mass: float = 0.1) -> Figure:
    """Per layer and language, among the items whose text refused (solid) or named no option
    without refusing (dashed): the share with a hidden preference (more than ``threshold`` on one
    option, where the options hold at least ``min_mass`` of the next-token probability), with
    Wilson 95% bands; the legend gives each line's ``n`` (a share of 1 item jumps between 0 and 1)."""
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    languages = list(result.items["language"].unique())
    for outcome, style in (("refused", "-"), ("no_option", "--")):
        share = result.leak_share(threshold, min_mass, outcome=outcome)
        for lang, color in zip(languages, language_colors(languages)):
            rows = share[share["language"] == lang]
            if rows.empty:
                continue
            label = f"{lang}, {outcome.replace('_', ' ')} (n = {int(rows['n'].iloc[0])})"
            ax.plot(rows["layer"], rows["share"], style, marker="o", markersize=3, color=color, label=label)
            ax.fill_between(
                rows["layer"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.12, linewidth=0
            )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"share with max P(option) > {threshold:g}")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=7)
    fig.suptitle(
        f"{result.meta.get('model', 'model')}: hidden preferences when the text gives no answer", fontsize=10
    )
    return fig


def survey_divergence_figure(by_layer, model: str = "model") -> Figure:
    """Per framing, the mean Jensen–Shannon distance between the model's option distribution at
    each layer and each population's survey answers (the dot at the right: the model's own
    output): which layer is closest to whom. ``by_layer`` is
    :func:`latentlang.results.surveys.divergence_by_layer`."""
    framings = list(by_layer["framing"].unique())
    fig = Figure(figsize=(4.2 * len(framings) + 1.5, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(framings), sharey=True, squeeze=False)[0])
    countries = list(by_layer["survey_country"].unique())
    colors = {country: colormaps["tab20"](i % 20) for i, country in enumerate(countries)}
    for ax, framing in zip(axes, framings):
        rows = by_layer[by_layer["framing"] == framing]
        last = int(rows["layer"].max())
        for country in countries:
            mine = rows[rows["survey_country"] == country]
            layers = mine[mine["layer"] >= 0]
            ax.plot(layers["layer"], layers["js_distance"], color=colors[country], linewidth=1, label=country)
            own = mine[mine["layer"] == -1]
            ax.plot([last + 1] * len(own), own["js_distance"], "o", color=colors[country], markersize=3)
        ax.set_title(f"{framing} (n = {int(rows['n'].max())} items per population)", fontsize=8)
        ax.set_xlabel("layer (dot: the model's output)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Jensen–Shannon distance to the survey")
    axes[-1].legend(frameon=False, fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"{model}: distance to each population's answers, per layer", fontsize=10)
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
