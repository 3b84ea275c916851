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

from latentlang.errors import LatentLangError


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add one ``--option`` per dataclass field (help text, type and choices from the field)."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        kind = hints[f.name]
        if isinstance(kind, types.UnionType):  # e.g. str | None
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
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

    fields = {f.name for f in dataclasses.fields(config_class)}
    config = config_class(**{k: v for k, v in vars(args).items() if k in fields})
    result = run_task(config, progress=not args.quiet)
    written = write_outputs(result, config.out, ci=config.ci)
    _report(result)
    print(f"wrote {config.out}/: result.npz, {', '.join(p.name for p in written.values())}")
    return 0


def _report(result) -> None:
    """A few lines of what was measured: the last layer and each language's peak."""
    wide = result.summary().pivot(index="layer", columns="language", values="mean")[result.languages]
    last = ", ".join(f"{lang} {p:.3f}" for lang, p in wide.iloc[-1].items())
    print(f"{result.n_prompts} concepts; mean probability at the last layer: {last}")
    for lang in result.languages:
        print(f"  peak P({lang}) = {wide[lang].max():.3f} at layer {int(wide[lang].idxmax())}")


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
