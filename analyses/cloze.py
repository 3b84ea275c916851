"""Latent-language figures of the cloze task (shipped sentences, two demonstrations).

Writes figures/cloze-LANG/ for each language and the measured numbers into figures/README.md.

    python analyses/cloze.py [--model SPEC] [--langs de,fr,ru,zh,ja] [--device cuda]
"""

from pathlib import Path

from _common import numbers_table, parser, run_into, update_readme

import latentlang
from latentlang.experiments import ClozeConfig


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--langs", default="de,fr,ru,zh,ja", help="comma-separated languages")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    rows = [
        run_into(
            ClozeConfig(lang=lang, model=args.model, batch_size=args.batch_size),
            lm,
            Path(args.out) / f"cloze-{lang}",
        )
        for lang in args.langs.split(",")
    ]
    update_readme("cloze", numbers_table(rows, "language"))


if __name__ == "__main__":
    main()
