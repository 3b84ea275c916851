"""The figure of an ablation run: per first ablated layer, the output probability of the target
concept with the concept's word ablated, with a control word ablated, and unablated."""

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from latentlang.results.ablate import AblateResult

#: How each condition is drawn: (label, colour, line style).
_STYLE = {
    "ablated": ("{lang} word ablated", "#d95f02", "-"),
    "control": ("control word ablated", "#7570b3", "--"),
}


def ablate_figure(result: AblateResult) -> Figure:
    """Two panels over the first ablated layer (95% bands; dotted: unablated): P(the concept in
    the target language) and P(the ablated word) at the output."""
    summary = result.summary()
    m = result.meta
    lang, target = m.get("ablate", "?"), m.get("languages", ["?", "?"])[1]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    for ax, (name, title) in zip(
        axes, [("target", f"P(concept in {target})"), ("ablated_word", f"P({lang} word)")]
    ):
        x = summary["layer"]
        for condition, (label, color, style) in _STYLE.items():
            key = f"p_{name}_{condition}"
            ax.plot(
                x, summary[key], style, color=color, marker="o", markersize=3, label=label.format(lang=lang)
            )
            ax.fill_between(x, summary[f"{key}_ci_low"], summary[f"{key}_ci_high"], color=color, alpha=0.15)
        ax.plot(x, summary[f"p_{name}_unablated"], ":", color="grey", label="unablated")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("first ablated layer (0 = embeddings; every later one too)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(
        f"{m.get('model', 'model')}: {lang} word's unembedding {m.get('basis', 'rows')} projected out of "
        f"{m.get('prompts', '?')} prompts at {m.get('positions', 'all')} positions "
        f"(n = {len(result.prompts)})",
        fontsize=10,
    )
    return fig
