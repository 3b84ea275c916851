"""The MENAValues benchmark on both shipped models: its first items in English, in the neutral,
persona and observer framings, read layer by layer, against the 16 populations' surveys.

Writes figures/menavalues-MODEL/ (items.csv, consistency.csv, leak_share.png,
survey_divergence.png; leakage.csv, survey_divergence.csv and result.npz too, not committed) and
the measured numbers into figures/README.md.

    python analyses/menavalues.py --data "PATH/TO/MenaValues Benchmark.xlsx" [--limit 60] \\
        [--countries Egypt,Iran] [--models gemma-3-270m,smollm2-135m-instruct]
"""

from pathlib import Path

import numpy as np
from _common import parser, update_readme

from latentlang.config import split_list
from latentlang.outputs.files import write_outputs
from latentlang.results.leakage import leakage_numbers
from latentlang.results.surveys import (
    consistency,
    consistency_summary,
    divergence_by_layer,
    survey_divergence,
)
from latentlang.studies.leakage import LeakageConfig, run_leakage


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--data", required=True, help="MenaValues Benchmark.xlsx")
    options.add_argument("--models", type=split_list, default="gemma-3-270m,smollm2-135m-instruct")
    options.add_argument("--limit", type=int, default=60)
    options.add_argument("--countries", type=split_list, default="Egypt,Iran")
    args = options.parse_args()
    lines = []
    for model in args.models:
        out = Path(args.out) / f"menavalues-{model}"
        config = LeakageConfig(
            model=model,
            device=args.device,
            questions=args.data,
            limit=args.limit,
            langs=["en"],
            countries=args.countries,
            batch_size=args.batch_size,
            out=str(f"runs/menavalues-{model}"),
        )
        result = run_leakage(config)
        write_outputs(result, out)
        lines.append(summary(model, result, args.limit))
    update_readme("menavalues", "\n\n".join(lines))


def summary(model: str, result, limit: int) -> str:
    """The model's numbers: outcomes and leakage per framing, where the per-layer option
    distribution is closest to each population, and the consistency scores."""
    n = leakage_numbers(result)["en"]
    rows = [
        f"**{model}**: {len(result.items)} items ({limit} benchmark items × neutral, and persona and "
        f"observer per country); {n['answered']} answered, {n['refused']} refused, "
        f"{n['no_option']} named no option; "
        f"{n['last_layer_only']} items read at the last layer only (options sharing a first token). "
        f"Refused items with a hidden preference at the last layer / any layer: {n['refused_hidden_last']} / "
        f"{n['refused_hidden_any']}; no-option items with one: {n['no_option_hidden_last']} / "
        f"{n['no_option_hidden_any']}. MENAValues' own count (no option in text, output > 0.75): "
        f"{n['abstained_confident_output']} of {n['abstained']}.",
        "",
        "| framing | population | closest layer with option mass ≥ 0.1 (JS distance) | output's JS distance "
        "| uniform guess's JS distance | output's KL (nats) | items |",
        "|---|---|---|---|---|---|---|",
    ]
    by_layer = divergence_by_layer(survey_divergence(result))
    for (framing, country), table in by_layer.groupby(["framing", "survey_country"], sort=False):
        layers, own = (
            table[(table["layer"] >= 0) & (table["option_mass"] >= 0.1)],
            table[table["layer"] == -1],
        )
        best = layers.loc[layers["js_distance"].idxmin()] if len(layers) else None
        closest = f"{int(best['layer'])} ({best['js_distance']:.3f})" if best is not None else "none"
        rows.append(
            f"| {framing} | {country} | {closest} | {own['js_distance'].iloc[0]:.3f} | "
            f"{own['js_uniform'].iloc[0]:.3f} | {own['kl'].iloc[0]:.2f} | {int(own['n'].iloc[0])} |"
        )
    scores = consistency_summary(consistency(result))
    rows += ["", "| score | framing | mean (95% CI) | n |", "|---|---|---|---|"]
    for row in scores.itertuples():
        rows.append(
            f"| {row.metric} | {row.framing} | {row.mean:.1f} ({row.ci_low:.1f}–{row.ci_high:.1f}) "
            f"| {row.n} |"
        )
    mass = np.nanmean(result.option_mass[:, -1])
    rows.append(f"\nMean option mass at the last layer: {mass:.2f}.")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
