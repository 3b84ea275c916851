"""Steering with a language vector on the default model: German→French translation prompts, the
French→Chinese vector (mean residual of the shipped Chinese cloze sentences minus the French ones)
added at each layer with several strengths; then, on fewer prompts and layers, the greedy
continuation and its language.

Writes figures/steer-de-fr-toward-zh/ and figures/steer-de-fr-toward-zh-generate/ (steer.csv,
steer_prompts.csv, dropped.csv, steer.png/pdf) and the measured numbers into figures/README.md.

    python analyses/steer.py [--model SPEC] [--limit 60] [--generate-limit 40] [--device cuda]
"""

import numpy as np
from _common import parser, run_named, update_readme

import latentlang
from latentlang.language.refusal import translation_answer
from latentlang.studies.steer import SteerConfig, run_steer


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--limit", type=int, default=60, help="prompts in the per-layer run")
    options.add_argument("--generate-limit", type=int, default=40, help="prompts in the generation run")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    common = {"prompts": "de:fr", "toward": "zh", "model": args.model, "batch_size": args.batch_size}
    runs = {
        "steer-de-fr-toward-zh": SteerConfig(**common, limit=args.limit),
        "steer-de-fr-toward-zh-generate": SteerConfig(
            **common,
            limit=args.generate_limit,
            layers=[4, 6, 8, 10, 12, 14],
            alphas=[1.0, 2.0, 4.0],
            generate=8,
        ),
    }
    results = run_named(runs, lm, run_steer, args.out)
    update_readme("steer", "\n\n".join(describe(name, result) for name, result in results.items()))


def describe(name: str, result) -> str:
    """Per α, the steered layer that raises the concept in B most (paired change, 95%), the
    concept in A and B's next-token mass there; with generation, the layers where most answers
    are in B and where most are the concept's B word."""
    a, b = result.languages
    s = result.summary()
    labels = result.meta["labels"]
    base_mass = result.base_mass[:, labels.index(b)].mean()
    p_a, p_b = result.base_probs.mean(0)
    head = (
        f"**`{name}/`** ({len(result.prompts)} prompts, {len(result.meta['dropped'])} concepts dropped; "
        f"vector from {result.meta['n_texts'][a]} {a} and {result.meta['n_texts'][b]} {b} texts). Unsteered: "
        f"P(concept in {a}) {p_a:.3f}, in {b} {p_b:.3f}, next-token mass of {b} {base_mass:.3f}"
    )
    generated = f"text_{b}" in s
    if generated:
        right = {
            lang: np.mean([_is_word(t, w) for t, w in zip(result.base_text, result.prompts[f"words_{lang}"])])
            for lang in (a, b)
        }
        head += (
            f"; unsteered answers: {(result.base_lang == a).mean():.2f} in {a} ({right[a]:.2f} the "
            f"concept's {a} word), {(result.base_lang == b).mean():.2f} in {b} ({right[b]:.2f} the "
            f"concept's {b} word)"
        )
    rows = [head + ".", ""]
    header = ["α", "best layer", f"Δ P(concept in {b})", f"P(concept in {a})", f"mass of {b}"]
    header += [f"answers in {b}", f"answers the concept's {b} word"] if generated else []
    rows += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for alpha, group in s.groupby("alpha"):
        row = group.loc[group[f"delta_p_concept_{b}"].idxmax()]
        cells = [
            f"{alpha:g}",
            str(int(row["layer"])),
            _cell(row, f"delta_p_concept_{b}", signed=True),
            _cell(row, f"p_concept_{a}"),
            f"{row[f'mass_{b}']:.3f}",
        ]
        if generated:
            for column in (f"text_{b}", f"answer_is_word_{b}"):
                best = group.loc[group[column].idxmax()]
                cells.append(f"{_cell(best, column)} at layer {int(best['layer'])}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _is_word(text: str, words: str) -> bool:
    return translation_answer(text).casefold() in set(words.casefold().split("|"))


def _cell(row, name: str, signed: bool = False) -> str:
    f = "+.3f" if signed else ".3f"
    return f"{row[name]:{f}} ({row[name + '_ci_low']:{f}}–{row[name + '_ci_high']:{f}})"


if __name__ == "__main__":
    main()
