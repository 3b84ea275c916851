"""Latent-language figures of the translation task for several language pairs on one model.

Writes ``figures/translation-SRC-TGT/`` (summary.csv, latent_language.png/pdf,
language_mass.png/pdf, result.npz) for each pair, and ``figures/translation.md``: a table of what
each pair measured (the numbers the README quotes).

    python analyses/translation.py                        # default model, default pairs
    python analyses/translation.py --model PATH --pairs fr-zh,de-ja --device cuda
"""

import argparse
from pathlib import Path

import numpy as np
from scipy import stats

import latentlang
from latentlang.experiments import TranslationConfig, run_task, write_outputs

PAIRS = ["fr-zh", "de-zh", "ru-zh", "en-zh", "fr-ja", "de-fr"]


def describe(result: latentlang.LensResult) -> dict:
    """The measured numbers of one pair: peaks and last-layer means per language."""
    wide = result.summary().pivot(index="layer", columns="language", values="mean")
    row = {"pair": f"{result.meta['src']}→{result.meta['tgt']}", "concepts": result.n_prompts}
    for lang in result.languages:
        row[f"peak P({lang})"] = f"{wide[lang].max():.3f} @ {int(wide[lang].idxmax())}"
        row[f"last P({lang})"] = f"{wide[lang].iloc[-1]:.3f}"
    # Layers where English's word beats the target's, with a paired 95% t-interval above zero
    # and a mean P(en) of at least 0.01 (smaller leads are real but negligible).
    if "en" in result.languages and result.meta["src"] != "en":
        en, tgt = result.languages.index("en"), result.languages.index(result.meta["tgt"])
        diff = result.probs[:, :, en] - result.probs[:, :, tgt]
        half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(0, ddof=1) / np.sqrt(len(diff))
        leads = (diff.mean(0) - half > 0) & (result.probs[:, :, en].mean(0) >= 0.01)
        row["layers with P(en) > P(tgt) (95%, P(en) >= 0.01)"] = str(np.flatnonzero(leads).tolist())
    entropy = result.entropy.mean(0)
    row["mean entropy (bits) per layer"] = " ".join(f"{e:.1f}" for e in entropy)
    # Language ID of the top-k decoded tokens: English's largest share of the top-k mass.
    mass = result.mass.mean(0)
    share = mass[:, result.labels.index("en")] / mass.sum(1)
    row["peak en share of top-k mass"] = f"{share.max():.2f} @ {int(share.argmax())}"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=latentlang.DEFAULT_MODEL)
    parser.add_argument("--pairs", default=",".join(PAIRS), help="comma-separated SRC-TGT pairs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="figures")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    lm = latentlang.load_model(args.model, device=args.device)
    rows = []
    for pair in args.pairs.split(","):
        src, tgt = pair.split("-")
        out = Path(args.out) / f"translation-{src}-{tgt}"
        config = TranslationConfig(
            src=src, tgt=tgt, model=args.model, out=str(out), batch_size=args.batch_size
        )
        result = run_task(config, lm=lm)
        write_outputs(result, out)
        rows.append(describe(result))
        print(rows[-1])
    lines = [
        f"# Translation task on {args.model}",
        "",
        "Made by `python analyses/translation.py`. Layer 0 is "
        "the embedding output; `peak P(x) = p @ L` is the largest mean probability and its layer.",
        "",
    ]
    for row in rows:
        lines.append(
            f"- **{row.pop('pair')}** ({row.pop('concepts')} concepts): "
            + "; ".join(f"{k} = {v}" for k, v in row.items())
        )
    (Path(args.out) / "translation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
