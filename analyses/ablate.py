"""Ablation on the default model: the English word's unembedding directions (as the lens reads
them) projected out of French→Chinese translation prompts from each layer on, at every position
and at the last one only, against a control word's; and the Chinese answer's own directions, the
check that the method can remove a word at all.

Writes figures/ablate-*/ (ablate.csv, ablate_prompts.csv, dropped.csv, ablate.png/pdf) and the
measured numbers into figures/README.md.

    python analyses/ablate.py [--model SPEC] [--limit 48] [--device cuda]
"""

from _common import parser, run_named, update_readme

import latentlang
from latentlang.studies.ablate import AblateConfig, run_ablate


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--limit", type=int, default=48, help="prompts per run")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    common = {"prompts": "fr:zh", "limit": args.limit, "model": args.model, "batch_size": args.batch_size}
    runs = {
        "ablate-en-from-fr-zh": AblateConfig(**common, ablate="en"),
        "ablate-en-from-fr-zh-last": AblateConfig(**common, ablate="en", positions="last"),
        "ablate-zh-from-fr-zh": AblateConfig(**common, ablate="zh", span="whole"),
    }
    results = run_named(runs, lm, run_ablate, args.out)
    update_readme("ablate", "\n\n".join(describe(name, result) for name, result in results.items()))


def describe(name: str, result) -> str:
    """Per first ablated layer: P(target) ablated, with the control ablated, and the paired
    difference; and the layers where the difference's 95% interval lies below zero."""
    s = result.summary()
    m = result.meta
    rows = [
        f"**`{name}/`** ({m['ablate']} word, {m['positions']} positions, {len(result.prompts)} prompts, "
        f"{len(m['dropped'])} concepts dropped; {result.prompts['n_rows'].mean():.1f} rows ablated on "
        f"average, control {result.prompts['n_control_rows'].mean():.1f}). Unablated P(concept in zh) "
        f"{s['p_target_unablated'].iloc[0]:.3f}.",
        "",
        "| from layer | P(target), word ablated | P(target), control ablated | difference |",
        "|---|---|---|---|",
    ]
    for row in s.itertuples():
        r = row._asdict()
        rows.append(
            f"| {row.layer} | {_cell(r, 'p_target_ablated')} | {_cell(r, 'p_target_control')} | "
            f"{_cell(r, 'delta_target', signed=True)} |"
        )
    below = [int(row.layer) for row in s.itertuples() if row.delta_target_ci_high < 0]
    rows.append(
        f"\nThe word's ablation lowers P(target) more than the control's (95%) from layers {below or 'none'}."
    )
    return "\n".join(rows)


def _cell(row: dict, name: str, signed: bool = False) -> str:
    f = "+.3f" if signed else ".3f"
    return f"{row[name]:{f}} ({row[name + '_ci_low']:{f}}–{row[name + '_ci_high']:{f}})"


if __name__ == "__main__":
    main()
