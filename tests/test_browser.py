"""The saved explore view in headless Chromium: it renders, raises no JavaScript error, and
hovering a cell shows that cell's top-k tokens."""

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import tiny_model, tiny_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analyses"))
import _browser  # noqa: E402

import latentlang  # noqa: E402
from latentlang import LensModel  # noqa: E402
from latentlang.outputs.html import save_html  # noqa: E402


def test_saved_view_renders_and_hovering_shows_top_k(tmp_path):
    if not _browser.available():
        if os.environ.get("LATENTLANG_REQUIRE_BROWSER"):
            pytest.fail(
                "Chromium is not installed; .ci/run installs it (apt-get install chromium chromium-driver)"
            )
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver)")
    tok = tiny_tokenizer(["the dog chien chat 狗"] * 20)
    lm = LensModel.from_hf(tiny_model("gemma3", vocab_size=len(tok)), tok)
    grid = latentlang.explore("the dog chien 狗 </script> <b>", lm, top_k=4)
    page = save_html(grid, tmp_path / "view.html")
    last = grid.top_probs.shape[1] - 1
    seen = _browser.hover_cell(page, f"2,{last}")
    assert seen["errors"] == []
    assert seen["cells"] == grid.n_layers * grid.top_probs.shape[1]
    assert seen["tooltip"].startswith("layer 2, after")
    shown = " ".join(seen["tooltip"].split())
    for token, prob in zip(grid.top_tokens[2, last], grid.top_probs[2, last]):
        assert " ".join(json.dumps(str(token), ensure_ascii=False).split()) in shown
        assert f"{100 * prob:.1f}%" in shown
