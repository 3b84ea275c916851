"""What every layer's settings share: config fields with their command-line help, list options,
latentlang's cache folder and the package version (one source: the installed metadata)."""

import os
from collections.abc import Iterable
from dataclasses import field
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from latentlang.errors import LatentLangError


def option(default, help: str, *, choices: Iterable[str] | None = None, fingerprint: bool = True):
    """A config field with a default and the help text the CLI shows.

    Args:
        default: The default value.
        help: One line for ``--help``.
        choices: The values the field takes (the CLI checks them).
        fingerprint: Whether the field changes what a run computes (so a folder holding a run
            with another value is refused); ``False`` for where and how it runs (device, batch
            size, output folder, ...) and for what only the written outputs use.
    """
    metadata = {"help": help, "fingerprint": fingerprint}
    if choices is not None:
        metadata["choices"] = list(choices)
    if isinstance(default, list):  # a fresh copy per config
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def split_list(text: str) -> list[str]:
    """A comma-separated command-line value as a list (``"en, ja,"`` -> ``["en", "ja"]``): the
    one place the CLI splits lists."""
    return [item.strip() for item in text.split(",") if item.strip()]


def as_list(value, name: str) -> list[str]:
    """``value`` as a list of strings, for a config field that takes several.

    Raises:
        LatentLangError: ``value`` is a string (``"en,ja"``: the CLI's spelling) or not a list.
    """
    if isinstance(value, str) or not all(isinstance(item, str) for item in value):
        example = split_list(value) if isinstance(value, str) else ["en"]
        raise LatentLangError(f"{name} takes a list of strings such as {example}, not {value!r}")
    return list(value)


def cache_dir() -> Path:
    """latentlang's cache folder: ``$LATENTLANG_CACHE`` or ``~/.cache/latentlang``."""
    return Path(os.environ.get("LATENTLANG_CACHE", Path.home() / ".cache" / "latentlang"))


@lru_cache(maxsize=1)
def package_version() -> str:
    """The installed package's version (``pyproject.toml`` is its one source)."""
    try:
        return version("latentlang")
    except PackageNotFoundError:  # a source tree on sys.path without an install
        return "0+unknown"
