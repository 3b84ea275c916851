"""Resumable runs: compute items batch by batch, keep each finished batch on disk.

A run folder holds ``run.json`` (the settings and their fingerprint), ``parts/`` (one file per
finished batch, while the run is going) and, at the end, ``result.npz``. A rerun with the same
settings loads the parts and computes only what is missing, or loads the finished result; a
folder holding a run with other settings is refused. Every file is written atomically, so an
interruption loses at most the batch in flight. A batch that runs out of GPU memory is split in
half and the run goes on with the smaller batch size.
"""

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

import torch
from tqdm.auto import tqdm

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
