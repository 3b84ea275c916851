"""Latent-language figures of the translation task for several language pairs on one model.

Writes figures/translation-SRC-TGT/ (summary.csv, latent_language.png/pdf, language_mass.png/pdf)
for each pair and the measured numbers into figures/README.md.

    python analyses/translation.py [--model SPEC] [--pairs fr-zh,de-ja] [--device cuda]
"""

from pathlib import Path

from _common import numbers_table, parser, run_into, update_readme

import latentlang
from latentlang.studies.latent import TranslationConfig

PAIRS = "fr-zh,de-zh,ru-zh,en-zh,fr-ja,de-fr"


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--pairs", default=PAIRS, help="comma-separated SRC-TGT pairs")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    rows = []
    for pair in args.pairs.split(","):
        src, tgt = pair.split("-")
        config = TranslationConfig(src=src, tgt=tgt, model=args.model, batch_size=args.batch_size)
        rows.append(run_into(config, lm, Path(args.out) / f"translation-{src}-{tgt}"))
    update_readme("translation", numbers_table(rows, "pair"))


if __name__ == "__main__":
    main()
