"""The logit-lens token grid: layer × position, each cell the top decoded token, coloured by its
language and shaded by its probability."""

from functools import lru_cache

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from latentlang.language.codes import language_colors
from latentlang.results.token_grid import TokenGrid


def token_grid_figure(grid: TokenGrid, last: int | None = 24, wrap: int | None = None) -> Figure:
    """Heatmap of the top decoded token per layer (rows, 0 at the bottom) and position (columns).

    Args:
        grid: The decoded grid of one prompt or text.
        last: Show only the last ``last`` positions (``None``: all).
        wrap: Positions per panel: a longer text is wrapped onto panels stacked top to bottom
            (``None``: one panel).
    """
    start = 0 if last is None else max(0, len(grid.input_tokens) - last)
    tokens, probs = grid.top_tokens[:, start:, 0], grid.top_probs[:, start:, 0]
    labels = grid.top_labels[:, start:, 0]
    names = [n for n in dict.fromkeys(labels.reshape(-1)) if n not in ("other", "none")]
    palette = dict(zip([*names, "other", "none"], language_colors([*names, "other", "none"])))
    rgb = np.array([[to_rgb(palette[label]) for label in row] for row in labels])
    shade = 1 - 0.85 * probs[..., None]  # white at p = 0, the full colour at p = 1
    image = rgb * (1 - shade) + shade
    layers, positions = probs.shape
    width = positions if wrap is None else min(wrap, positions)
    chunks = [slice(i, min(i + width, positions)) for i in range(0, positions, width)]
    fig = Figure(figsize=(0.62 * width + 1.8, (0.3 * layers + 1.1) * len(chunks) + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(chunks), 1, squeeze=False)[:, 0])
    family = _families()
    inputs = grid.input_tokens[start:]
    for ax, chunk in zip(axes, chunks):
        ax.imshow(
            image[:, chunk], origin="lower", aspect="auto", extent=(-0.5, width - 0.5, -0.5, layers - 0.5)
        )
        for (i, j), text in np.ndenumerate(tokens[:, chunk]):
            ax.text(j, i, _short(text), ha="center", va="center", fontsize=6, family=family)
        ax.set_xticks(
            range(chunk.stop - chunk.start),
            [_short(t) for t in inputs[chunk]],
            rotation=60,
            fontsize=7,
            family=family,
            ha="right",
        )
        ticks = range(0, layers, 2 if len(chunks) > 1 else 1)
        ax.set_yticks(ticks, [str(t) for t in ticks], fontsize=7)
        ax.set_ylabel("layer")
    axes[0].set_ylabel("layer (0 = embeddings)")
    axes[-1].set_xlabel("input token (the cell decodes the prediction made at it)")
    handles = [
        axes[0].scatter([], [], marker="s", color=palette[n], label=n) for n in [*names, "other", "none"]
    ]
    axes[0].legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
        fontsize=7,
        title="language",
        title_fontsize=7,
    )
    fig.suptitle(f"{grid.model}: top decoded token per layer (shade = probability)", fontsize=9)
    return fig


def _short(text: str, width: int = 7) -> str:
    """A token's text for a cell: control characters spelled out, ``$`` kept from mathtext."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.replace("$", r"\$")


@lru_cache(maxsize=1)
def _families() -> list[str]:
    """Font families to try in order: the default, then CJK fonts found on this system."""
    from matplotlib import font_manager, rcParams

    known = {f.name for f in font_manager.fontManager.ttflist}
    if not any("CJK" in name for name in known):
        for path in font_manager.findSystemFonts():
            if "CJK" in path and path.endswith((".ttc", ".otf", ".ttf")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError):
                    continue
        known = {f.name for f in font_manager.fontManager.ttflist}
    cjk = sorted(n for n in known if "Sans CJK" in n and "Mono" not in n and n.endswith(("JP", "SC")))
    return [*rcParams["font.sans-serif"][:1], *cjk]
