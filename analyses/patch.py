"""Concept and language patching on the default model (Dumas et al., 2025): German→Italian
prompts' latents patched into French→Chinese prompts about another concept, from each layer on,
with one source language and with the mean over four.

Writes figures/patch-*/ (patch.csv, patch_curves.csv, dropped.csv, patch.png/pdf) and the
measured numbers into figures/README.md.

    python analyses/patch.py [--model SPEC] [--limit 60] [--device cuda]
"""

from pathlib import Path

import numpy as np
from _common import fresh_run, parser, update_readme

import latentlang
from latentlang.outputs.files import write_outputs
from latentlang.results.patch import SETS
from latentlang.studies.patch import PatchConfig, run_patch


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--limit", type=int, default=60, help="concept pairs per run")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    lines, results = [], []
    for name, mean_over in (
        ("patch-de-it-into-fr-zh", None),
        ("patch-mean-into-fr-zh", ["de", "es", "ru", "ja"]),
    ):
        out = Path(args.out) / name
        config = PatchConfig(
            source="de:it",
            target="fr:zh",
            mean_over=mean_over,
            limit=args.limit,
            model=args.model,
            batch_size=args.batch_size,
            out=f"runs/{name}",
        )
        result = fresh_run(config, lm, run_patch)
        write_outputs(result, out)
        lines.append(describe(name, mean_over, result))
        results.append(result)
    lines.append(mean_gain(*results))
    update_readme("patch", "\n\n".join(lines))


def mean_gain(single, mean) -> str:
    """The paired difference, over the same concept pairs, in the output's probability of the source
    concept in the target's language: the mean latent's minus the single latent's, per patch layer."""
    same = (
        single.pairs[["source_concept", "target_concept"]] == mean.pairs[["source_concept", "target_concept"]]
    ).all()
    if not bool(same.all()):
        return "The two runs measured different concept pairs: no paired comparison."
    diff = mean.probs[:, :, -1, 1] - single.probs[:, :, -1, 1]  # [pair, patch layer]
    half = 1.96 * diff.std(axis=0, ddof=1) / np.sqrt(len(diff))
    cells = ", ".join(
        f"{j}: {d:+.3f} ({d - h:+.3f}–{d + h:+.3f})" for j, (d, h) in enumerate(zip(diff.mean(0), half))
    )
    return (
        f"Mean latent minus the German one, source concept in zh, paired 95% over {len(diff)} pairs, "
        f"by patch layer: {cells}."
    )


def describe(name: str, mean_over, result) -> str:
    """Per patch layer, which set the output puts most on, and the layers where the source
    concept in the target's language leads with a 95% interval above every other set."""
    summary = result.summary()
    rows = [
        f"**{'mean over ' + ','.join(mean_over) if mean_over else 'de'} → it latents into fr → zh** "
        f"({len(result.pairs)} concept pairs, {len(result.meta['dropped'])} dropped): unpatched, the output "
        f"puts {result.unpatched[:, -1, 3].mean():.3f} on the target concept in zh.",
        "",
        "| patched from layer | " + " | ".join(SETS) + " |",
        "|---|" + "---|" * len(SETS),
    ]
    for row in summary.itertuples():
        cells = [_cell(row._asdict(), f"p_{s}") for s in SETS]
        rows.append(f"| {row.layer} | " + " | ".join(cells) + " |")
    final = result.probs[:, :, -1]
    lead = [
        j for j in range(final.shape[1]) if all(_above(final[:, j, 1] - final[:, j, s]) for s in (0, 2, 3))
    ]
    rows.append(
        f"\nThe source concept in zh leads every other set (paired 95%) from patch layers {lead or 'none'}."
    )
    return "\n".join(rows)


def _cell(row: dict, name: str) -> str:
    return f"{row[name]:.3f} ({row[name + '_ci_low']:.3f}–{row[name + '_ci_high']:.3f})"


def _above(diff: np.ndarray) -> bool:
    """Whether a paired 95% normal interval of the mean difference lies above zero."""
    return bool(diff.mean() - 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) > 0)


if __name__ == "__main__":
    main()
