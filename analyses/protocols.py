"""The two protocols side by side on the published data: latentlang's and Wendler et al.'s.

Runs translation into Chinese from de, fr, ru and en on Wendler et al.'s own word lists under
``--protocol latentlang`` and ``--protocol wendler2024`` (each run's outputs in
runs/protocols/PROTOCOL-translation-SRC-zh/), and writes into figures/protocols/ a figure of
P(English) under both (with the part of the notebooks' P(English) that sits on tokens which also
begin the source word) and every run's ``summary.csv`` in one table; the numbers go into
figures/README.md.

    python analyses/protocols.py --data PATH/TO/llm-latent-language/data/langs [--model SPEC] \
        [--published PATH/TO/llm-latent-language/R/data/inputs/7b_de_zh_dataset.csv]

With ``--published``, the prompts of the wendler2024 de→zh run are compared with the notebooks'
own published dataset (the prompts do not depend on the model; the token ids do).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from _common import fresh_run, parser, update_readme
from matplotlib.figure import Figure

import latentlang
from latentlang.language.codes import language_colors
from latentlang.outputs.files import write_outputs
from latentlang.outputs.style import save_figure
from latentlang.studies.latent import TranslationConfig

PROTOCOLS = ("latentlang", "wendler2024")


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--data", required=True, help="the published data/langs folder")
    options.add_argument("--sources", default="fr,de,ru,en", help="source languages (target: zh)")
    options.add_argument("--published", help="the notebooks' 7b_de_zh_dataset.csv, to compare prompts with")
    options.add_argument("--runs", default="runs/protocols", help="where each run's own outputs go")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    out = Path(args.out) / "protocols"
    results = {}
    for src in args.sources.split(","):
        for protocol in PROTOCOLS:
            folder = Path(args.runs) / f"{protocol}-translation-{src}-zh"
            config = TranslationConfig(
                src=src,
                tgt="zh",
                words=args.data,
                protocol=protocol,
                model=args.model,
                batch_size=args.batch_size,
                out=str(folder),
            )
            results[src, protocol] = fresh_run(config, lm)
            write_outputs(results[src, protocol], folder)
    save_figure(english_by_protocol(results, args.sources.split(",")), out / "english_by_protocol")
    summaries = [r.summary().assign(pair=f"{src}-zh", protocol=p) for (src, p), r in results.items()]
    pd.concat(summaries).to_csv(out / "summary.csv", index=False)
    text = table(results) + "\n\n" + english_gaps(results)
    if args.published:
        theirs = list(pd.read_csv(args.published)["prompt"])
        ours = list(results["de", "wendler2024"].dataset()["prompt"])
        same = sum(a == b for a, b in zip(ours, theirs))
        text += (
            f"\n\nde→zh under wendler2024: {same} of {len(theirs)} prompts byte-identical, in order, to the "
            f"notebooks' published `7b_de_zh_dataset.csv` ({len(ours)} prompts here)."
        )
    update_readme("protocols", text)


def english_by_protocol(results: dict, sources: list[str]) -> Figure:
    """Per source language: P(English) per layer under each protocol, and the notebooks' P(English)
    without its tokens that also begin the source word."""
    fig = Figure(figsize=(3.2 * len(sources), 3.2), layout="constrained")
    axes = fig.subplots(1, len(sources), sharey=True, squeeze=False)[0]
    en, src_color = language_colors(["en"])[0], "#777777"
    for ax, src in zip(axes, sources):
        ours, theirs = results[src, "latentlang"], results[src, "wendler2024"]
        layers = np.arange(ours.n_layers)
        ax.plot(layers, theirs.probs[:, :, 0].mean(0), color=en, label=f"wendler2024 (n={theirs.n_prompts})")
        if src != "en":
            own = (theirs.probs[:, :, 0] - theirs.from_source[:, :, 0]).mean(0)
            ax.plot(layers, own, color=en, linestyle="--", label="wendler2024 without source tokens")
        ax.plot(layers, ours.probs[:, :, 0].mean(0), color="black", label=f"latentlang (n={ours.n_prompts})")
        if src != "en":
            ax.plot(
                layers,
                theirs.probs[:, :, 1].mean(0),
                color=src_color,
                linestyle=":",
                label="P(source word), wendler2024",
            )
        ax.set_title(f"{src}→zh: P(en)", fontsize=9)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("probability")
    axes[0].legend(frameon=False, fontsize=7, loc="upper left")
    fig.suptitle(f"{ours.meta['model']}: English under the two protocols, Wendler et al.'s data", fontsize=10)
    return fig


def english_gaps(results: dict) -> str:
    """Per pair, the largest difference between the two protocols' mean P(en) over the layers."""
    gaps = []
    for src in dict.fromkeys(s for s, _ in results):
        ours, theirs = (results[src, p].probs[:, :, 0].mean(0) for p in PROTOCOLS)
        gaps.append(f"{src}→zh {np.abs(ours - theirs).max():.4f}")
    return "Largest difference in mean P(en) between the protocols, over all layers: " + ", ".join(gaps) + "."


def table(results: dict) -> str:
    """One row per pair and protocol: concepts, P(en) at the layer where the source word peaks and
    the part of it on source tokens, English's peak without them, the target at the last layer."""
    header = [
        "pair",
        "protocol",
        "concepts",
        "P(src) peak (layer)",
        "P(en) there",
        "of which source tokens",
        "peak P(en) without source tokens (layer)",
        "last-layer P(zh)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (src, protocol), result in results.items():
        means = result.probs.mean(0)  # [layer, language]
        shared = result.from_source.mean(0)
        own_en = means[:, 0] if src == "en" else means[:, 0] - shared[:, 0]
        zh = result.languages.index("zh")
        if src == "en":
            peak, src_cell, there, copy = int(means[:, 0].argmax()), "—", f"{means[:, 0].max():.3f}", "—"
        else:
            peak = int(means[:, 1].argmax())
            src_cell = f"{means[peak, 1]:.3f} ({peak})"
            there, copy = f"{means[peak, 0]:.3f}", f"{shared[peak, 0]:.3f}"
        best = int(own_en.argmax())
        lines.append(
            f"| {src}→zh | {protocol} | {result.n_prompts} | {src_cell} | {there} | {copy} | "
            f"{own_en[best]:.3f} ({best}) | {means[-1, zh]:.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
