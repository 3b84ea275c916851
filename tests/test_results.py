"""LensResult: shape checks, summaries with confidence intervals, save/load, concatenation."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from latentlang.outputs.curves import language_mass_figure, latent_language_figure
from latentlang.results.lens_result import LensResult


def make_result(n=5, layers=4, seed=0) -> LensResult:
    rng = np.random.default_rng(seed)
    return LensResult(
        probs=rng.uniform(size=(n, layers, 3)),
        control=rng.uniform(size=(n, layers, 3)) / 10,
        entropy=rng.uniform(0, 10, size=(n, layers)),
        energy=rng.uniform(0, 3, size=(n, layers)),
        top_ids=rng.integers(0, 100, size=(n, layers, 2)),
        top_probs=rng.uniform(size=(n, layers, 2)),
        top_tokens=np.full((n, layers, 2), "狗"),
        mass=rng.uniform(size=(n, layers, 4)),
        from_source=rng.uniform(size=(n, layers, 3)) / 20,
        languages=["en", "fr", "zh"],
        labels=["en", "fr", "other", "none"],
        prompts=pd.DataFrame({"concept": [f"c{i}" for i in range(n)], "text": ["t"] * n}),
        meta={"task": "translation", "src": "fr", "tgt": "zh", "model": "tiny", "dropped": {"cat": "en/fr"}},
    )


def test_shape_mismatch_is_rejected():
    good = make_result()
    with pytest.raises(ValueError, match="mass"):
        LensResult(**{**good.__dict__, "mass": good.mass[:, :, :2]})


def test_summary_mean_and_t_interval():
    result = make_result(n=6)
    summary = result.summary()
    columns = ["layer", "language", "mean", "ci_low", "ci_high", "n", "control", "from_source"]
    assert list(summary.columns) == columns
    row = summary[(summary.layer == 2) & (summary.language == "fr")].iloc[0]
    values = result.probs[:, 2, 1]
    half = 2.570581835636314 * values.std(ddof=1) / np.sqrt(6)  # t(0.975, df=5)
    assert row["mean"] == pytest.approx(values.mean())
    assert row["ci_high"] - row["mean"] == pytest.approx(half)
    assert row["mean"] - row["ci_low"] == pytest.approx(half)


def test_normal_interval_is_the_notebooks():
    """Wendler et al.'s plot_ci: mean ± 1.96 · std (n - 1) / √n."""
    result = make_result(n=6)
    row = result.summary(method="normal").query("layer == 1 and language == 'zh'").iloc[0]
    values = result.probs[:, 1, 2]
    assert row["ci_high"] == pytest.approx(values.mean() + 1.96 * values.std(ddof=1) / np.sqrt(6))
    assert row["ci_low"] == pytest.approx(values.mean() - 1.96 * values.std(ddof=1) / np.sqrt(6))
    result.meta["ci"] = "normal"  # a run's own interval is the default
    assert result.summary().equals(result.summary(method="normal"))


def test_save_load_roundtrip(tmp_path):
    result = make_result()
    loaded = LensResult.load(result.save(tmp_path / "r.npz"))
    names = (
        "probs",
        "control",
        "entropy",
        "energy",
        "top_ids",
        "top_probs",
        "top_tokens",
        "mass",
        "from_source",
    )
    for name in names:
        assert np.array_equal(getattr(loaded, name), getattr(result, name)), name
    assert loaded.languages == result.languages and loaded.labels == result.labels
    assert loaded.meta == result.meta
    pd.testing.assert_frame_equal(loaded.prompts, result.prompts)


def test_concat_and_dataframe():
    a, b = make_result(n=2, seed=1), make_result(n=3, seed=2)
    both = LensResult.concat([a, b])
    assert both.n_prompts == 5
    assert np.array_equal(both.probs[2:], b.probs)
    frame = both.to_dataframe()
    assert len(frame) == 5 * 4 * 3
    row = frame[(frame.prompt == 3) & (frame.layer == 1) & (frame.language == "zh")].iloc[0]
    assert row["prob"] == both.probs[3, 1, 2] and row["concept"] == "c1"


def test_figures_are_returned_not_shown():
    result = make_result()
    for make in (latent_language_figure, language_mass_figure):
        fig = make(result)
        assert isinstance(fig, Figure) and fig.axes


def test_bootstrap_interval_is_seeded_and_close_to_t():
    result = make_result(n=200, seed=3)
    boot = result.summary(method="bootstrap")
    again = result.summary(method="bootstrap")
    t = result.summary()
    pd.testing.assert_frame_equal(boot, again)
    assert np.allclose(boot["mean"], t["mean"])
    width_t, width_b = t.ci_high - t.ci_low, boot.ci_high - boot.ci_low
    assert np.allclose(width_b, width_t, rtol=0.15)  # uniform data, n = 200: both near 2 * 1.97 * se
    assert (boot.ci_low < boot["mean"]).all() and (boot["mean"] < boot.ci_high).all()


def test_unknown_interval_method():
    from latentlang.errors import LatentLangError

    with pytest.raises(LatentLangError, match="unknown confidence-interval method"):
        make_result().summary(method="jackknife")
