"""What a study is, and the one runner every study's batches go through.

A **study** (:class:`Study`) is a config dataclass (validated; the same object behind the CLI), a
function from the config and the loaded model to its work items (:class:`Work`), a batch function
from some of those items to a result, and the result type; its files come from
:func:`latentlang.outputs.files.write_outputs`, one writer per result type. A study made of other
studies' runs (a grid, a paper's whole set) gives ``run_all`` instead of items and batches.

The **runner** (:func:`run_work`) is shared by every study: the automatic batch size, the
fingerprint of the settings and items, and resumable run folders. A run folder holds ``run.json``
(the settings and their fingerprint), ``parts/`` (one file per finished batch, while the run is
going) and, at the end, ``result.npz``. A rerun with the same settings loads the parts and
computes only what is missing, or loads the finished result; a folder holding a run with other
settings is refused. Every file is written atomically, so an interruption loses at most the batch
in flight. A batch that runs out of GPU memory is split in half and the run goes on with the
smaller batch size.
"""

import dataclasses
import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch
from tqdm.auto import tqdm

from latentlang.config import option, package_version
from latentlang.core.loading import ModelConfig
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError

RESULT_FILE = "result.npz"
log = logging.getLogger(__name__)


@runtime_checkable
class Result(Protocol):
    """What a run produces: something that saves, loads and concatenates along its items."""

    def save(self, path: Path) -> Path: ...

    @classmethod
    def load(cls, path: Path) -> "Result": ...

    @classmethod
    def concat(cls, parts: list, meta: dict | None = None) -> "Result": ...


R = TypeVar("R", bound=Result)


class OtherRunError(LatentLangError):
    """The output folder holds a run with other settings (so it is neither resumed nor reused)."""


def clear_run(out_dir: str | Path) -> None:
    """Delete a run folder's record, finished result and parts (its other outputs stay), so the
    folder can take a new run. For scripts that regenerate figures; users choose another folder."""
    out_dir = Path(out_dir)
    for name in ("run.json", RESULT_FILE):
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "parts", ignore_errors=True)


@dataclass(kw_only=True)
class StudyConfig(ModelConfig):
    """Settings every study shares: the model, where its run goes, items per batch."""

    out: str | None = option(None, "output folder (default: runs/STUDY-...)", fingerprint=False)
    batch_size: int | None = option(
        None,
        "items per forward pass (default: ~2k tokens' worth on a CPU, ~16k on a GPU; "
        "halved on out-of-memory)",
        fingerprint=False,
    )

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise LatentLangError(f"batch_size must be at least 1, got {self.batch_size}")

    def settings(self) -> dict:
        """The fields that change what the run computes (the fingerprint's part of the config)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("fingerprint", True)
        }

    def meta(self) -> dict:
        """What the result records about the config (by default, :meth:`settings`)."""
        return self.settings()


@dataclass
class Work:
    """What a study computes, built from its config and the loaded model.

    Attributes:
        items: The work items in the order they run (``len`` is all the runner needs; a batch
            function is given their indices).
        keys: Per item, what its numbers depend on beyond the config (prompt texts, answers):
            part of the fingerprint, so changed data is never mixed with a saved run.
        tokens: The longest item's tokens, plus any it generates (for the automatic batch size).
        meta: What the result records beyond the config (dropped concepts, the chat template, ...)
            and what the batch function reads (languages, top-k, ...).
    """

    items: Sized
    keys: list
    tokens: int
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """One study: how its config becomes work, how a batch of it is computed, and what it returns.

    Attributes:
        name: The CLI command (``latentlang NAME``).
        help: One line for ``--help``.
        config: Its config dataclass (the CLI's options are its fields).
        result: Its result type (``save``/``load``/``concat``; one writer in ``outputs.files``).
        items: ``items(config, lm) -> Work``.
        run_batch: ``run_batch(lm, work, indices) -> result`` for consecutive item indices.
        finish: ``finish(result, config, work) -> result``, applied to the whole result (loaded
            or computed), e.g. to re-read generated answers with the current rules.
        run_all: For a study made of other studies' runs: ``run_all(config, lm, progress)``
            (``lm`` may be ``None``: it loads the model once the runs are known).
        positional: Config fields the CLI takes as positional arguments.
    """

    name: str
    help: str
    config: type
    result: type
    items: Callable[[Any, LensModel], Work] | None = None
    run_batch: Callable[[LensModel, Work, list[int]], Any] | None = None
    finish: Callable[[Any, Any, Work], Any] | None = None
    run_all: Callable[[Any, LensModel | None, bool], Any] | None = None
    positional: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.run_all is None) == (self.items is None or self.run_batch is None):
            raise TypeError(f"study {self.name!r} needs either items and run_batch, or run_all")

    def run(self, config, lm: LensModel | None = None, progress: bool = True):
        """Run the study (finished batches are kept in ``config.out``; a rerun resumes).

        Args:
            config: An instance of :attr:`config`.
            lm: An already loaded model (then ``config.model``, ``device``, ``dtype`` and
                ``backend`` are not used); loaded from ``config`` when ``None``.
            progress: Show a progress bar.
        """
        if not isinstance(config, self.config):
            raise LatentLangError(
                f"the {self.name} study takes a {self.config.__name__}, not a {type(config).__name__}"
            )
        if self.run_all is not None:
            return self.run_all(config, lm, progress)
        lm = lm or config.load()
        work = self.items(config, lm)
        result = run_work(
            lm,
            work,
            self.run_batch,
            self.result,
            settings=config.settings(),
            meta=config.meta(),
            out=config.out,
            batch_size=config.batch_size,
            progress=progress,
        )
        return result if self.finish is None else self.finish(result, config, work)


def run_work(
    lm: LensModel,
    work: Work,
    run_batch: Callable[[LensModel, Work, list[int]], Any],
    result_type: type,
    *,
    settings: dict,
    meta: dict | None = None,
    out: str | Path | None = None,
    batch_size: int | None = None,
    progress: bool = True,
):
    """Compute ``work`` in batches on ``lm``, resumably: every study's one path to a result.

    Args:
        lm: The model.
        work: The items.
        run_batch: Computes the result of some items.
        result_type: What ``run_batch`` returns (``save``/``load``/``concat``).
        settings: What changes the numbers (with the model, its dtype, the package version and
            ``work.keys``, they make the fingerprint that identifies the run).
        meta: What the result records (with ``work.meta``, the model, dtype, backend and version).
        out: The run folder (``None``: everything stays in memory).
        batch_size: Items per batch; ``None`` picks it from the longest item and the device
            (:meth:`LensModel.auto_batch_size`).
        progress: Show a progress bar.
    """
    identity = {
        "model": lm.name,
        "dtype": str(lm.dtype).removeprefix("torch."),
        "latentlang_version": package_version(),
    }
    meta = {**(meta or {}), **work.meta, **identity, "backend": lm.backend.name}
    meta["fingerprint"] = fingerprint({**settings, **identity}, work.keys)
    if batch_size is None:
        batch_size = lm.auto_batch_size(work.tokens)
        log.info("%d items per batch (automatic)", batch_size)
    return run_batches(
        len(work.items),
        batch_size,
        lambda indices: run_batch(lm, work, indices),
        result_type,
        meta,
        out,
        progress,
        desc=lm.name,
    )


def fingerprint(settings: dict, items: list) -> str:
    """A short hash of the settings and of every item (prompt texts and answers)."""
    payload = json.dumps([settings, items], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def run_batches(
    n_items: int,
    batch_size: int,
    compute: Callable[[list[int]], R],
    result_class: type[R],
    meta: dict,
    out_dir: str | Path | None = None,
    progress: bool = True,
    desc: str = "",
) -> R:
    """Compute ``n_items`` items in batches, resumably.

    Args:
        n_items: How many items.
        batch_size: Items per call of ``compute``.
        compute: Computes the result of the given item indices (consecutive).
        result_class: The result type (``load``/``concat``).
        meta: The run's settings, with a ``"fingerprint"`` key identifying them.
        out_dir: The run folder, or ``None`` to keep everything in memory.
        progress: Show a progress bar.
        desc: Its label.
    """
    out_dir = None if out_dir is None else Path(out_dir)
    parts_dir = None if out_dir is None else _claim(out_dir, meta)
    if out_dir is not None and (out_dir / RESULT_FILE).is_file():
        finished = result_class.load(out_dir / RESULT_FILE)
        if getattr(finished, "meta", {}).get("fingerprint") != meta["fingerprint"]:
            raise OtherRunError(
                f"{out_dir / RESULT_FILE} is the result of a run with other settings (or another latentlang "
                "version); use another --out folder or delete that file"
            )
        return finished  # finished before, with these settings
    done = {} if parts_dir is None else _load_parts(parts_dir, result_class)
    covered = {i for lo, hi in done for i in range(lo, hi)}
    todo = [i for i in range(n_items) if i not in covered]
    bar = tqdm(total=n_items, initial=len(covered), disable=not progress, desc=desc, unit="item")
    queue = [
        run
        for start in range(0, len(todo), batch_size)
        for run in _consecutive(todo[start : start + batch_size])
    ]
    while queue:
        lo, hi = queue.pop(0)
        try:
            part = compute(list(range(lo, hi)))
        except torch.OutOfMemoryError:
            # Halve the batch and go on; finished batches are already on disk.
            if hi - lo == 1:
                raise LatentLangError(
                    "out of memory with a single prompt per batch; use a smaller dtype (--dtype bfloat16), "
                    "a larger device, or shard the model"
                ) from None
            _free_cached_memory()
            mid = (lo + hi) // 2
            log.warning("out of memory with %d items per batch; going on with %d", hi - lo, mid - lo)
            queue = [(lo, mid), (mid, hi)] + [piece for a, b in queue for piece in _halves(a, b, mid - lo)]
            continue
        if parts_dir is not None:
            parts_dir.mkdir(exist_ok=True)
            part.save(parts_dir / f"{lo:06d}-{hi:06d}.npz")
        done[(lo, hi)] = part
        bar.update(hi - lo)
    bar.close()
    result = result_class.concat([done[key] for key in sorted(done)], meta=meta)
    if out_dir is not None:
        result.save(out_dir / RESULT_FILE)
        shutil.rmtree(parts_dir, ignore_errors=True)  # the whole result is saved; the parts are redundant
    return result


def _halves(lo: int, hi: int, size: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` cut into runs of at most ``size`` items."""
    return [(a, min(a + size, hi)) for a in range(lo, hi, size)]


def _free_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _claim(out_dir: Path, meta: dict) -> Path:
    """Record the run's settings in ``out_dir`` (refusing a folder that holds a different run) and
    return where its finished batches go."""
    record = out_dir / "run.json"
    if record.is_file():
        previous = json.loads(record.read_text())
        if previous.get("fingerprint") != meta["fingerprint"]:
            raise OtherRunError(
                f"{out_dir} holds a run with other settings (model, task, data, languages or "
                "latentlang version); use another --out folder or delete that one"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1, default=str))
    tmp.replace(record)
    return out_dir / "parts"


def _load_parts(parts_dir: Path, result_class: type[R]) -> dict[tuple[int, int], R]:
    parts = {}
    for path in sorted(parts_dir.glob("*-*.npz")):
        lo, hi = (int(x) for x in path.stem.split("-"))
        parts[(lo, hi)] = result_class.load(path)
    return parts


def _consecutive(indices: list[int]) -> list[tuple[int, int]]:
    """Split sorted indices into ``[lo, hi)`` runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs
