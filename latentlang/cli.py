"""``latentlang`` command line: one sub-command per study, its options generated from the study's
config dataclass, so the CLI and the Python API take the same settings with the same checks.

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

from latentlang.config import split_list
from latentlang.errors import LatentLangError
from latentlang.studies.ablate import ABLATE
from latentlang.studies.generation import GENERATE
from latentlang.studies.grid import GRID
from latentlang.studies.latent import CLOZE, REPEAT, TRANSLATE
from latentlang.studies.leakage import LEAKAGE
from latentlang.studies.patch import PATCH
from latentlang.studies.reproduce import REPRODUCE
from latentlang.studies.runner import Study
from latentlang.studies.steer import STEER
from latentlang.studies.tokens import TOKENS

#: Every study the CLI runs, in ``--help`` order: adding a study is adding it here.
STUDIES: list[Study] = [
    TRANSLATE,
    REPEAT,
    CLOZE,
    GRID,
    TOKENS,
    LEAKAGE,
    PATCH,
    STEER,
    ABLATE,
    GENERATE,
    REPRODUCE,
]


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type, positional: tuple = ()) -> None:
    """Add one ``--option`` per dataclass field (help text, type and choices from the field; a
    ``list[str]``, ``list[int]`` or ``list[float]`` field takes a comma-separated value); the
    fields named in ``positional`` become positional arguments."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        kind = hints[f.name]
        if isinstance(kind, types.UnionType):  # e.g. str | None
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        help, choices = f.metadata.get("help", ""), f.metadata.get("choices")
        if f.name in positional:
            parser.add_argument(f.name, choices=choices, help=help)
            continue
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", help=help)
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else f.default_factory() if f.default is dataclasses.MISSING else f.default
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        parser.add_argument(
            flag,
            dest=f.name,
            type=_list_of(typing.get_args(kind)[0]) if typing.get_origin(kind) is list else kind,
            required=required,
            default=default,
            choices=choices,
            help=help + ("" if required or default is None else f" (default: {shown})"),
        )


def _list_of(item: type):
    """The argparse type of a comma-separated list of ``item`` (its error names the bad entry)."""

    def parse(text: str) -> list:
        try:
            return [item(entry) for entry in split_list(text)]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {item.__name__}s, got {text!r}"
            ) from None

    return parse


def _run(study: Study, args: argparse.Namespace) -> int:
    from latentlang.outputs.files import write_outputs
    from latentlang.outputs.report import report

    names = {f.name for f in dataclasses.fields(study.config)}
    config = study.config(**{k: v for k, v in vars(args).items() if k in names})
    result = study.run(config, progress=not args.quiet)
    written = write_outputs(result, config.out)
    for line in report(result):
        print(line)
    out = Path(config.out)
    files = (["result.npz"] if (out / "result.npz").is_file() else []) + [
        p.name for p in written if p.parent == out
    ]
    folders = sum(1 for d in out.iterdir() if d.is_dir() and d.name != "parts")
    print(f"wrote {out}/: {', '.join(files)}" + (f" and {folders} run folders" if folders else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentlang", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for study in STUDIES:
        sub = commands.add_parser(study.name, help=study.help, description=study.help)
        add_config_arguments(sub, study.config, positional=study.positional)
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.set_defaults(func=lambda args, study=study: _run(study, args))
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
