"""Wendler et al. (2024) rerun on their own data with their protocol: ``latentlang reproduce
wendler2024``, and how its concept counts compare with the paper's tables.

Runs the whole set into runs/reproduce-wendler2024/ (resumable), copies ``n.csv``, ``numbers.csv``
and the pooled →zh and the fr→zh figures into figures/wendler2024/, and writes into
figures/README.md the concepts per run next to the paper's (its Tables 1–4, Llama-2's tokenizer:
the counts depend on the vocabulary through the overlap rule) and the key numbers.

    python analyses/reproduce_wendler.py --data PATH/TO/llm-latent-language/data/langs [--model SPEC]
"""

import shutil
from pathlib import Path

import pandas as pd
from _common import parser, update_readme

import latentlang
from latentlang.outputs.files import write_outputs
from latentlang.studies.reproduce import ReproduceConfig, reproduce

#: Concepts per run as the paper reports them (Wendler et al., 2024, Tables 1-4; Llama-2):
#: translation SRC→TGT, repetition and cloze per language, and the pooled non-English sources.
PAPER_N = {
    **{
        f"translation-{s}-{t}": n
        for (s, t), n in {
            ("de", "en"): 120,
            ("de", "fr"): 56,
            ("de", "ru"): 105,
            ("de", "zh"): 120,
            ("en", "de"): 104,
            ("en", "fr"): 57,
            ("en", "ru"): 114,
            ("en", "zh"): 132,
            ("fr", "de"): 93,
            ("fr", "en"): 118,
            ("fr", "ru"): 104,
            ("fr", "zh"): 118,
            ("ru", "de"): 90,
            ("ru", "en"): 114,
            ("ru", "fr"): 49,
            ("ru", "zh"): 115,
            ("zh", "de"): 104,
            ("zh", "en"): 132,
            ("zh", "fr"): 57,
            ("zh", "ru"): 115,
        }.items()
    },
    **{
        f"{task}-{lang}": n
        for task in ("repetition", "cloze")
        for lang, n in {"de": 104, "en": 132, "fr": 56, "ru": 115, "zh": 139}.items()
    },
    **{f"translation-to-{t}": n for t, n in {"de": 287, "fr": 162, "ru": 324, "zh": 353}.items()},
}
#: Files of the run folder kept in figures/wendler2024/.
KEEP = [
    "n.csv",
    "numbers.csv",
    "translation-to-zh/latent_language.png",
    "translation-to-zh/latent_language.pdf",
    "translation-fr-zh/source_split.png",
    "translation-fr-zh/source_split.pdf",
]


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--data", required=True, help="the published data/langs folder")
    options.add_argument("--runs", default="runs/reproduce-wendler2024", help="where the runs go")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    config = ReproduceConfig(
        study="wendler2024", data=args.data, model=args.model, out=args.runs, batch_size=args.batch_size
    )
    result = reproduce(config, lm=lm)
    write_outputs(result, config.out)
    table = result.counts
    out = Path(args.out) / "wendler2024"
    for name in KEEP:
        target = out / name.replace("/", "_")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(args.runs) / name, target)
    update_readme("wendler2024", counts_table(table, Path(args.runs)))


def counts_table(table: pd.DataFrame, runs: Path) -> str:
    """Per run: concepts here and in the paper, single-token targets, English's peak and the part
    of it on tokens that also begin the source word, and the target at the last layer."""
    numbers = pd.read_csv(runs / "numbers.csv").set_index("run")
    header = [
        "run",
        "concepts",
        "paper (Llama-2)",
        "one-token targets",
        "peak P(en) (layer)",
        "of which source tokens",
        "last-layer P(target)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.to_dict("records"):
        name = row["run"]
        if isinstance(row.get("error"), str):
            lines.append(f"| {name} | error: {row['error']} | {PAPER_N.get(name, '')} | | | | |")
            continue
        key = numbers.loc[name]
        tgt = row["tgt"]
        peak = f"{key['peak_p_en']:.3f} ({int(key['peak_layer_en'])})"
        shared = ""
        if row["src"] not in ("en", tgt) and "+" not in str(row["src"]):
            summary = pd.read_csv(runs / name / "summary.csv")
            en = summary[summary.language == "en"].set_index("layer")
            shared = f"{en.loc[int(key['peak_layer_en']), 'from_source']:.3f}"
        last = f"{key[f'last_p_{tgt}']:.3f}" if f"last_p_{tgt}" in key else ""
        paper = PAPER_N.get(name, "")
        lines.append(f"| {name} | {row['n']} | {paper} | {row['n_single']} | {peak} | {shared} | {last} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
