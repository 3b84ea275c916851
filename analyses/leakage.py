"""Logit leakage on both shipped models: Gemma-3-270M (base, plain prompts) and
SmolLM2-135M-Instruct (chat template), all shipped questions, languages and framings.

Writes figures/leakage-MODEL/ (items.csv, leak_share.png, value_shift.png, a question heatmap;
leakage.csv and result.npz too, not committed) and the measured numbers into figures/README.md.

    python analyses/leakage.py [--models gemma-3-270m,smollm2-135m-instruct] [--langs en,ar,fa,tr,zh]
"""

from pathlib import Path

from _common import parser, update_readme

from latentlang.config import split_list
from latentlang.outputs.files import write_outputs
from latentlang.results.leakage import leakage_numbers
from latentlang.studies.leakage import LeakageConfig, run_leakage


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--models", type=split_list, default="gemma-3-270m,smollm2-135m-instruct")
    options.add_argument("--langs", type=split_list, default="en,ar,fa,tr,zh")
    options.add_argument("--framings", type=split_list, default="neutral,persona,observer")
    options.add_argument("--countries", type=split_list, default="Egypt")
    args = options.parse_args()
    header = [
        "model",
        "language",
        "items",
        "answered",
        "refused",
        "refused items leaking: last layer / any layer",
        "no option",
        "no-option items with a hidden preference: last / any",
        "text agrees with the lens (answered items)",
        "mean option mass, last layer",
        "JS to en, last layer (bits)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in args.models:
        out = Path(args.out) / f"leakage-{model}"
        config = LeakageConfig(
            model=model,
            device=args.device,
            langs=args.langs,
            framings=args.framings,
            countries=args.countries,
            batch_size=args.batch_size,
            out=str(out),
        )
        result = run_leakage(config)
        write_outputs(result, out)
        for lang, n in leakage_numbers(result).items():
            lines.append(
                f"| {model} | {lang} | {n['items']} | {n['answered']} | {n['refused']} | "
                f"{n['refused_hidden_last']} / {n['refused_hidden_any']} | {n['no_option']} | "
                f"{n['no_option_hidden_last']} / {n['no_option_hidden_any']} | "
                f"{n['text_agrees_with_lens']:.0%} | {n['option_mass_last']:.2f} | "
                f"{n.get('js_to_en_last', float('nan')):.3f} |"
            )
    update_readme("leakage", "\n".join(lines))


if __name__ == "__main__":
    main()
