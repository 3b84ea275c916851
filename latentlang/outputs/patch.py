"""The figure of a patching run: per patch layer, the output probability of the source and the
target concept in the source's and the target's output language (Dumas et al.'s Fig. 2 style)."""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from latentlang.results.patch import SETS, PatchResult

#: How each set is drawn: (label template, colour, line style).
_STYLE = {
    "src_concept_src_lang": ("source concept in {src}", "#1b9e77", "-"),
    "src_concept_tgt_lang": ("source concept in {tgt}", "#1b9e77", "--"),
    "tgt_concept_src_lang": ("target concept in {src}", "#d95f02", "--"),
    "tgt_concept_tgt_lang": ("target concept in {tgt}", "#d95f02", "-"),
}


def patch_figure(result: PatchResult) -> Figure:
    """Mean output probability of the four token sets per patch layer, with 95% bands."""
    summary = result.summary()
    src, tgt = result.meta.get("languages", ["source", "target"])
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    for name in SETS:
        label, color, style = _STYLE[name]
        x = summary["layer"].to_numpy()
        ax.plot(
            x,
            summary[f"p_{name}"],
            style,
            color=color,
            marker="o",
            markersize=3,
            label=label.format(src=src, tgt=tgt),
        )
        ax.fill_between(
            x, summary[f"p_{name}_ci_low"], summary[f"p_{name}_ci_high"], color=color, alpha=0.12, linewidth=0
        )
    ax.set_ylim(0, max(1e-3, float(np.nanmax(summary.filter(like="_ci_high").to_numpy()))) * 1.05)
    ax.set_xlabel(f"patched layer ({result.meta.get('mode', 'from')}; 0 = embeddings)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("probability at the output")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    m = result.meta
    inputs = m.get("inputs") or []
    source = m.get("source", "?")
    if len(inputs) > 1:  # the mean over several source languages
        source = f"mean of {','.join(inputs)}:{source.split(':')[-1]}"
    fig.suptitle(
        f"{m.get('model', 'model')}: {source} latents patched into {m.get('target', '?')} "
        f"(n = {len(result.pairs)} pairs)",
        fontsize=10,
    )
    return fig
