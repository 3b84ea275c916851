"""The translation task over every ordered pair of a language set, on one loaded model.

The cells' runs go to runs/ (not committed); the small multiples (grid.png/pdf), the per-pair
summary heatmaps (grid_summary.png/pdf) and grid.csv go to figures/grid/, and the measured
numbers into figures/README.md.

    python analyses/grid.py [--model SPEC] [--langs de,fr,ru,zh,ja,en] [--device cuda]
"""

from pathlib import Path

from _common import parser, update_readme

import latentlang
from latentlang.config import split_list
from latentlang.outputs.files import write_outputs
from latentlang.studies.grid import GridConfig, run_grid
from latentlang.studies.runner import OtherRunError, clear_run


def main() -> None:
    options = parser(__doc__)
    options.add_argument(
        "--langs", type=split_list, default="de,fr,ru,zh,ja,en", help="comma-separated languages"
    )
    options.add_argument("--task", default="translation")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    config = GridConfig(
        task=args.task,
        langs=args.langs,
        model=args.model,
        batch_size=args.batch_size,
        out=f"runs/grid-{args.task}",
    )
    try:
        result = run_grid(config, lm=lm)
    except OtherRunError:  # cells made by an older version: regenerate them with the current code
        for cell in config.runs():
            clear_run(cell.out)
        result = run_grid(config, lm=lm)
    write_outputs(result, Path(args.out) / f"grid-{args.task}")
    table = result.table()
    finite = table.dropna(subset=["takeover_layer"])
    lines = [
        f"{len(table)} pairs of {','.join(args.langs)}; the target leads for good from layer "
        f"{finite.takeover_layer.min():.0f}–{finite.takeover_layer.max():.0f} "
        f"(median {finite.takeover_layer.median():.0f}; never in {len(table) - len(finite)} pairs: "
        f"{', '.join(table[table.takeover_layer.isna()].cell.str.removeprefix(args.task + '-')) or 'none'}).",
        f"Peak P(en) in the middle layers, pairs without English: median "
        f"{table[(table.src != 'en') & (table.tgt != 'en')].peak_en_middle.median():.3f}, "
        f"max {table[(table.src != 'en') & (table.tgt != 'en')].peak_en_middle.max():.3f}.",
    ]
    update_readme(f"grid-{args.task}", "\n".join(lines))


if __name__ == "__main__":
    main()
