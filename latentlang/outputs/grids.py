"""Figures of a language grid: small multiples of the latent-language curves, and heatmaps of the
per-pair summary (:meth:`latentlang.results.sets.GridResult.table`)."""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from latentlang.outputs.curves import draw_curves
from latentlang.results.lens_result import LensResult


def grid_figure(results: dict[str, LensResult]) -> Figure:
    """Small multiples: rows are source languages, columns target languages (one row of cells
    for tasks in one language). Each cell shows that run's latent-language curves."""
    srcs, tgts = _axes_of(r.meta for r in results.values())
    cells = {(r.meta["src"], r.meta["tgt"]): r for r in results.values()}
    if all(s == t for s, t in cells):  # repetition / cloze: one row
        srcs = ["·"]
        cells = {("·", t): r for (_, t), r in cells.items()}
    top = max(float(r.summary()["ci_high"].max()) for r in results.values())
    fig = Figure(figsize=(2.3 * len(tgts) + 0.6, 1.9 * len(srcs) + 0.8), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(srcs), len(tgts), sharex=True, sharey=True, squeeze=False))
    for i, src in enumerate(srcs):
        for j, tgt in enumerate(tgts):
            ax = axes[i, j]
            if (src, tgt) not in cells:
                ax.axis("off")
                continue
            result = cells[(src, tgt)]
            draw_curves(ax, result, legend=False)
            ax.set_ylim(0, 1.05 * top)
            ax.set_title(f"{result.meta['src']}→{result.meta['tgt']}" if src != "·" else tgt, fontsize=8)
            ax.tick_params(labelsize=6)
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            # languages by code ("en (English)" and "en (target)" are one entry); the control whole
            handles.setdefault(label if label.startswith("control") else label.split(" ")[0], handle)
    handles = dict(sorted(handles.items(), key=lambda item: item[0].startswith("control")))  # control last
    fig.legend(handles.values(), handles.keys(), loc="outside right center", frameon=False, fontsize=8)
    first = next(iter(results.values()))
    fig.supxlabel("layer (0 = embeddings)", fontsize=9)
    fig.supylabel("probability", fontsize=9)
    fig.suptitle(f"{first.meta.get('model', 'model')}, {first.meta.get('task', 'task')} grid", fontsize=10)
    return fig


def grid_summary_figure(table: pd.DataFrame) -> Figure:
    """Heatmaps over source × target: the layer from which the target leads for good, and
    English's peak probability in the middle layers."""
    srcs, tgts = _axes_of(table.to_dict("records"))
    panels = [("takeover_layer", "target leads from layer", "viridis", "{:.0f}")]
    if "peak_en_middle" in table:
        panels.append(("peak_en_middle", "peak P(en), middle layers", "Oranges", "{:.2f}"))
    fig = Figure(figsize=(4.2 * len(panels), 0.45 * len(srcs) + 1.8), layout="constrained")
    for ax, (column, title, cmap, fmt) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        grid = table.pivot_table(index="src", columns="tgt", values=column, dropna=False)
        grid = grid.reindex(index=srcs, columns=tgts)
        image = ax.imshow(grid.to_numpy(dtype=float), cmap=cmap, aspect="auto")
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    fmt.format(value),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if image.norm(value) > 0.5 and cmap == "viridis" else "black",
                )
        ax.set_xticks(range(len(tgts)), tgts)
        ax.set_yticks(range(len(srcs)), srcs)
        ax.set_xlabel("target")
        ax.set_ylabel("source")
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def _axes_of(records) -> tuple[list[str], list[str]]:
    """Row and column languages; for a pair grid both in one order, so the diagonal is empty."""
    records = list(records)
    srcs = list(dict.fromkeys(r["src"] for r in records))
    tgts = list(dict.fromkeys(r["tgt"] for r in records))
    if set(srcs) & set(tgts) and srcs != tgts:
        srcs = tgts = list(dict.fromkeys([*srcs, *tgts]))
    return srcs, tgts
