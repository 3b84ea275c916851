"""One-file storage of results: named arrays, one table and a JSON ``meta``, in a ``.npz`` file
written atomically and read without pickles."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from latentlang.errors import LatentLangError


def save_npz(path: str | Path, arrays: dict[str, np.ndarray], table: pd.DataFrame, meta: dict) -> Path:
    """Write ``arrays``, ``table`` (numbers and booleans keep their dtype, the rest becomes text)
    and ``meta`` to ``path``; a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    for column in table.columns:
        values = table[column].to_numpy()
        payload[f"table:{column}"] = values if values.dtype.kind in "biuf" else values.astype(str)
    payload["meta"] = np.asarray(json.dumps(meta, ensure_ascii=False, default=str))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **payload)
    tmp.replace(path)
    return path


def load_npz(path: str | Path, required: set[str]) -> tuple[dict[str, np.ndarray], pd.DataFrame, dict]:
    """Read a file written by :func:`save_npz`.

    Raises:
        LatentLangError: No file, or one without the ``required`` arrays (another version's).
    """
    path = Path(path)
    if not path.is_file():
        raise LatentLangError(f"no saved result at {str(path)!r}")
    with np.load(path, allow_pickle=False) as data:
        missing = (required | {"meta"}) - set(data.files)
        if missing:
            raise LatentLangError(
                f"{path} lacks {', '.join(sorted(missing))}: it was saved by another latentlang version "
                "or is not a result of this kind; rerun the task to recreate it"
            )
        arrays = {k: data[k] for k in data.files if not k.startswith("table:") and k != "meta"}
        table = pd.DataFrame({k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("table:")})
        return arrays, table, json.loads(str(data["meta"]))


class ArrayResult:
    """``save``, ``load`` and ``concat`` for a result dataclass made of named arrays whose first
    axis is its items, one table with a row per item, and ``meta``.

    A subclass names them in ``ARRAYS`` and ``TABLE``; its dataclass fields hold them.
    """

    ARRAYS: tuple[str, ...] = ()
    TABLE: str = ""

    def save(self, path: str | Path) -> Path:
        """Write the result to one ``.npz`` file, atomically."""
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        return save_npz(path, arrays, getattr(self, self.TABLE), self.meta)

    @classmethod
    def load(cls, path: str | Path):
        arrays, table, meta = load_npz(path, set(cls.ARRAYS))
        return cls(**{name: arrays[name] for name in cls.ARRAYS}, **{cls.TABLE: table}, meta=meta)

    @classmethod
    def concat(cls, parts: list, meta: dict | None = None):
        """Join results of consecutive batches along the item axis."""
        return cls(
            **{name: np.concatenate([getattr(p, name) for p in parts]) for name in cls.ARRAYS},
            **{cls.TABLE: pd.concat([getattr(p, cls.TABLE) for p in parts], ignore_index=True)},
            meta=parts[0].meta if meta is None else meta,
        )
