"""Resumable runs: out-of-memory back-off and reuse of finished parts."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from latentlang import LatentLangError
from latentlang.core.backends import HFCapture
from latentlang.studies.runner import run_batches


@dataclass
class Squares:
    values: np.ndarray
    meta: dict

    def save(self, path: Path) -> Path:
        np.save(open(path, "wb"), self.values)
        return path

    @classmethod
    def load(cls, path: Path) -> "Squares":
        return cls(np.load(path), {"fingerprint": "f"})

    @classmethod
    def concat(cls, parts: list, meta: dict | None = None) -> "Squares":
        return cls(np.concatenate([p.values for p in parts]), meta or {})


def test_out_of_memory_halves_the_batch_and_goes_on(tmp_path):
    sizes = []

    def compute(indices):
        sizes.append(len(indices))
        if len(indices) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return Squares(np.array(indices) ** 2, {})

    result = run_batches(10, 8, compute, Squares, {"fingerprint": "f"}, tmp_path / "run", progress=False)
    assert result.values.tolist() == [i * i for i in range(10)]
    assert sizes[:3] == [8, 4, 2] and max(sizes[3:]) <= 2  # shrinks once, then stays small


def test_out_of_memory_with_one_item_is_a_clear_error(tmp_path):
    def compute(indices):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    with pytest.raises(LatentLangError, match="single prompt per batch"):
        run_batches(3, 2, compute, Squares, {"fingerprint": "f"}, None, progress=False)


def test_finished_parts_are_not_recomputed(tmp_path):
    calls = []

    def failing_after_two(indices):
        calls.append(indices)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return Squares(np.array(indices), {})

    with pytest.raises(KeyboardInterrupt):
        run_batches(9, 3, failing_after_two, Squares, {"fingerprint": "f"}, tmp_path, progress=False)
    calls.clear()
    result = run_batches(
        9,
        3,
        lambda i: calls.append(i) or Squares(np.array(i), {}),
        Squares,
        {"fingerprint": "f"},
        tmp_path,
        progress=False,
    )
    assert calls == [[6, 7, 8]] and result.values.tolist() == list(range(9))


def test_a_finished_result_of_other_settings_is_refused(tmp_path):
    run_batches(
        3, 2, lambda i: Squares(np.array(i), {}), Squares, {"fingerprint": "f"}, tmp_path, progress=False
    )
    (tmp_path / "run.json").unlink()  # even without its record, the result names its settings
    with pytest.raises(LatentLangError, match="run with other settings"):
        run_batches(
            3, 2, lambda i: Squares(np.array(i), {}), Squares, {"fingerprint": "g"}, tmp_path, progress=False
        )


def test_automatic_batch_size_fills_a_token_budget_and_gives_the_same_numbers(tiny_dir, words_csv, batches):
    from latentlang import load_model
    from latentlang.core.model import AUTO_BATCH_TOKENS, MAX_AUTO_BATCH
    from latentlang.language.datasets import load_words
    from latentlang.studies.prompts import translation_prompts
    from latentlang.studies.readout import run_prompts

    lm = load_model(str(tiny_dir))
    assert lm.auto_batch_size(73) == AUTO_BATCH_TOKENS["cpu"] // 73
    assert lm.auto_batch_size(1) == MAX_AUTO_BATCH
    assert lm.auto_batch_size(10**6) == 1
    on_ndif = dataclasses.replace(lm, backend=type("Ndif", (HFCapture,), {"name": "ndif", "local": False})())
    assert on_ndif.auto_batch_size(73) == AUTO_BATCH_TOKENS["gpu"] // 73
    prompts = translation_prompts(load_words(words_csv), "fr", "zh")
    auto = run_prompts(lm, prompts, ["en", "fr", "zh"], progress=False)
    sizes = [len(indices) for indices in batches.calls]
    assert sizes == [len(auto.probs)]  # a dozen short prompts fit one automatic batch
    small = run_prompts(lm, prompts, ["en", "fr", "zh"], batch_size=3, progress=False)
    assert max(len(indices) for indices in batches.calls[1:]) == 3
    np.testing.assert_allclose(auto.probs, small.probs, atol=1e-5)


def test_a_folder_of_another_run_is_refused_until_cleared(tmp_path):
    from latentlang.studies.runner import OtherRunError, clear_run

    def compute(indices):
        return Squares(np.array(indices), {})

    out = tmp_path / "run"
    run_batches(4, 2, compute, Squares, {"fingerprint": "f"}, out, progress=False)
    (out / "summary.csv").write_text("kept")
    with pytest.raises(OtherRunError, match="other settings"):
        run_batches(4, 2, compute, Squares, {"fingerprint": "g"}, out, progress=False)
    clear_run(out)
    again = run_batches(3, 2, compute, Squares, {"fingerprint": "g"}, out, progress=False)
    assert again.values.tolist() == [0, 1, 2] and (out / "summary.csv").read_text() == "kept"
