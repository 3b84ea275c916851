"""Several candidate latent languages at once: the concept's word in English and Japanese (and
the task's languages) per layer, beside the language-ID mass of the decoded tokens.

Shared tokens between languages (the first UTF-8 byte of 狗 and 犬) are excluded from both sets
rather than dropping the concept (--overlap exclude).

    python analyses/latent_languages.py [--model SPEC] [--src fr] [--tgt zh] [--latent en,ja]
"""

from pathlib import Path

from _common import numbers_table, parser, run_into, update_readme

import latentlang
from latentlang.config import split_list
from latentlang.studies.latent import TranslationConfig


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--src", default="fr")
    options.add_argument("--tgt", default="zh")
    options.add_argument("--latent", type=split_list, default="en,ja")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    config = TranslationConfig(
        src=args.src,
        tgt=args.tgt,
        latent=args.latent,
        overlap="exclude",
        model=args.model,
        batch_size=args.batch_size,
    )
    row = run_into(config, lm, Path(args.out) / f"latent-{'-'.join(args.latent)}-{args.src}-{args.tgt}")
    update_readme("latent-languages", numbers_table([row], "pair"))


if __name__ == "__main__":
    main()
