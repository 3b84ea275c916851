"""The figure of a steering run: per steered layer and strength α, the concept's output probability
in A and in B and the mass of language B in the whole next-token distribution."""

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from latentlang.results.steer import SteerResult


def steer_figure(result: SteerResult) -> Figure:
    """Three panels over the steered layer, one line per α (95% bands; the dotted line is the
    unsteered prompt): P(concept in A), P(concept in B), the next-token mass of B."""
    summary = result.summary()
    a, b = result.languages
    panels = [(f"p_concept_{a}", f"P(concept in {a})"), (f"p_concept_{b}", f"P(concept in {b})")]
    if f"mass_{b}" in summary:
        panels.append((f"mass_{b}", f"next-token mass of {b}"))
    labels = list(result.meta.get("labels", []))
    base = {
        f"p_concept_{a}": result.base_probs[:, 0].mean(),
        f"p_concept_{b}": result.base_probs[:, 1].mean(),
        f"mass_{b}": result.base_mass[:, labels.index(b)].mean() if b in labels else np.nan,
    }
    alphas = sorted(summary["alpha"].unique())
    colors = colormaps["viridis"](np.linspace(0, 0.9, len(alphas)))
    fig = Figure(figsize=(4 * len(panels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels), sharex=True)
    for ax, (column, title) in zip(np.atleast_1d(axes), panels):
        for alpha, color in zip(alphas, colors):
            rows = summary[summary["alpha"] == alpha]
            ax.plot(
                rows["layer"], rows[column], color=color, marker="o", markersize=3, label=f"α = {alpha:g}"
            )
            if f"{column}_ci_low" in rows:
                ax.fill_between(
                    rows["layer"],
                    rows[f"{column}_ci_low"],
                    rows[f"{column}_ci_high"],
                    color=color,
                    alpha=0.15,
                )
        ax.axhline(base[column], color="grey", linestyle=":", linewidth=1, label="unsteered")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("steered layer (0 = embeddings)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        top = summary.filter(like=column).to_numpy(dtype=float)
        ax.set_ylim(0, min(1.02, max(0.05, float(np.nanmax(top)) * 1.1)))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[-1].legend(frameon=False, fontsize=8)
    m = result.meta
    fig.suptitle(
        f"{m.get('model', 'model')}: {a}→{b} language vector added to {m.get('prompts', '?')} prompts "
        f"at {m.get('positions', 'last')} positions (n = {len(result.prompts)})",
        fontsize=10,
    )
    return fig
