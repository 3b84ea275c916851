"""``latentlang`` command line. Options are generated from the config dataclasses, so the CLI and
the Python API take the same settings with the same checks.

Errors the user can fix print one line and exit with status 2; an interrupted run keeps its
finished batches and resumes when the same command is run again.
"""

import argparse
import dataclasses
import logging
import sys
import types
import typing
from pathlib import Path

from latentlang.errors import LatentLangError


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type, positional: tuple = ()) -> None:
    """Add one ``--option`` per dataclass field (help text, type and choices from the field); the
    fields named in ``positional`` become positional arguments."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        kind = hints[f.name]
        if isinstance(kind, types.UnionType):  # e.g. str | None
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if f.name in positional:
            parser.add_argument(f.name, choices=f.metadata.get("choices"), help=f.metadata.get("help", ""))
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if kind is bool:
            parser.add_argument(
                "--" + f.name.replace("_", "-"),
                dest=f.name,
                action="store_true",
                help=f.metadata.get("help", ""),
            )
            continue
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=kind,
            required=required,
            default=None if required else f.default,
            choices=f.metadata.get("choices"),
            help=f.metadata.get("help", "")
            + ("" if required or f.default is None else f" (default: {f.default})"),
        )


def _run(config_class: type, args: argparse.Namespace) -> int:
    from latentlang.experiments import run_task, write_outputs

    config = config_class(**_fields_of(config_class, args))
    result = run_task(config, progress=not args.quiet)
    written = write_outputs(result, config.out, ci=config.ci)
    _report(result)
    print(f"wrote {config.out}/: result.npz, {', '.join(p.name for p in written.values())}")
    return 0


def _report(result) -> None:
    """A few lines of what was measured: last-layer means and each language's peak."""
    from latentlang.measures import key_numbers

    numbers = key_numbers(result)
    last = ", ".join(f"{lang} {numbers[f'last_p_{lang}']:.3f}" for lang in result.languages)
    print(f"{result.n_prompts} concepts; mean probability at the last layer: {last}")
    for lang in result.languages:
        print(f"  peak P({lang}) = {numbers[f'peak_p_{lang}']:.3f} at layer {numbers[f'peak_layer_{lang}']}")
    if numbers.get("en_leads_tgt_layers"):
        tgt, layers = result.meta["tgt"], numbers["en_leads_tgt_layers"]
        print(f"  P(en) > P({tgt}) (paired 95%, P(en) >= 0.01) at layers {layers}")


def _grid(args: argparse.Namespace) -> int:
    from latentlang.grid import GridConfig, grid_table, run_grid
    from latentlang.plots import grid_figure, grid_summary_figure, save_figure

    config = GridConfig(**_fields_of(GridConfig, args))
    results = run_grid(config, progress=not args.quiet)
    table = grid_table(results)
    table.to_csv(f"{config.out}/grid.csv", index=False)
    for name, fig in (("grid", grid_figure(results)), ("grid_summary", grid_summary_figure(table))):
        save_figure(fig, Path(config.out) / name)
    columns = ["cell", "concepts", "takeover_layer", "peak_en_middle", "peak_en_middle_layer"]
    print(table[[c for c in columns if c in table]].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {config.out}/: grid.csv, grid.png/pdf, grid_summary.png/pdf and one folder per cell")
    return 0


def _tokens(args: argparse.Namespace) -> int:
    from latentlang.plots import save_figure, token_grid_figure
    from latentlang.token_grid import TokenGridConfig, token_grid

    config = TokenGridConfig(**_fields_of(TokenGridConfig, args))
    lm = config.load()
    grid = token_grid(lm, config.prompt, top_k=config.top_k)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    grid.to_dataframe().to_csv(out / "token_grid.csv", index=False)
    save_figure(token_grid_figure(grid, last=config.last), out / "token_grid")
    print(f"wrote {out}/: token_grid.csv, token_grid.png, token_grid.pdf")
    return 0


def _leakage(args: argparse.Namespace) -> int:
    from latentlang.leakage import LeakageConfig, run_leakage
    from latentlang.leakage.outputs import leakage_numbers, write_outputs

    config = LeakageConfig(**_fields_of(LeakageConfig, args))
    result = run_leakage(config, progress=not args.quiet)
    written = write_outputs(result, config.out, config.threshold, config.min_mass)
    for lang, n in leakage_numbers(result, config.threshold, config.min_mass).items():
        print(
            f"{lang}: {n['items']} items; {n['refused']} refused ({n['refused_leak_any']} with a confident "
            f"hidden preference at some layer), {n['no_option']} gave no option ({n['no_option_leak_any']})"
        )
    if result.meta.get("unmeasurable"):
        print(f"not measured (an option number has no token): {len(result.meta['unmeasurable'])} items")
    print(f"wrote {config.out}/: result.npz, {', '.join(written)}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from latentlang.reproduce import ReproduceConfig, reproduce

    config = ReproduceConfig(**_fields_of(ReproduceConfig, args))
    table = reproduce(config, progress=not args.quiet)
    columns = [c for c in ("run", "n", "n_single", "error") if c in table]
    print(table[columns].to_string(index=False, na_rep=""))
    print(f"wrote {config.out}/: n.csv, numbers.csv and one folder per run")
    return 0


def _fields_of(config_class: type, args: argparse.Namespace) -> dict:
    names = {f.name for f in dataclasses.fields(config_class)}
    return {k: v for k, v in vars(args).items() if k in names}


#: Sub-command -> (task name, one-line help).
COMMANDS = {
    "translate": ("translation", "few-shot translation: P(English) vs P(source) vs P(target) per layer"),
    "repeat": ("repetition", "few-shot repetition of a word in one language"),
    "cloze": ("cloze", "few-shot fill-in-the-blank: a sentence describing the masked word"),
}


def build_parser() -> argparse.ArgumentParser:
    from latentlang.experiments import TASKS

    parser = argparse.ArgumentParser(prog="latentlang", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command, (task, help) in COMMANDS.items():
        sub = commands.add_parser(
            command, help=help, description=f"{help}. Writes summary.csv, figures and the full result."
        )
        add_config_arguments(sub, TASKS[task])
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.set_defaults(func=lambda args, config_class=TASKS[task]: _run(config_class, args))
    from latentlang.grid import GridConfig
    from latentlang.leakage import LeakageConfig
    from latentlang.reproduce import ReproduceConfig
    from latentlang.token_grid import TokenGridConfig

    for command, config_class, func, help in (
        ("grid", GridConfig, _grid, "a task over every language pair of a set, on one loaded model"),
        (
            "tokens",
            TokenGridConfig,
            _tokens,
            "logit-lens token grid of one prompt: top token per layer and position",
        ),
        (
            "leakage",
            LeakageConfig,
            _leakage,
            "logit leakage: the per-layer option distribution when the text refuses",
        ),
        (
            "reproduce",
            ReproduceConfig,
            _reproduce,
            "rerun a published study on its own data with its protocol: wendler2024",
        ),
    ):
        sub = commands.add_parser(command, help=help, description=help)
        add_config_arguments(sub, config_class, positional=("study",))
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``latentlang`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("transformers", "accelerate", "httpx", "urllib3", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        return args.func(args)
    except LatentLangError as err:
        print(f"latentlang: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None) or "the output folder"
        print(
            f"\ninterrupted: finished batches are kept in {out}; run the same command to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
