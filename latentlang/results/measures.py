"""The numbers a latent-language figure is read for, computed from a :class:`LensResult`.

Used by the CLI's report, the grid summary and the analyses scripts, so every number quoted in
the docs comes from one definition.
"""

import numpy as np

from latentlang.results.lens_result import LensResult


def takeover_layer(result: LensResult, floor: float = 0.01) -> float:
    """The first layer from which the target's mean probability is at least ``floor`` and exceeds
    every other measured language's, at every later layer (NaN if not at the last layer).

    The floor keeps early layers, where every word has a probability near 1e-6, from counting.
    """
    means = result.probs.mean(axis=0)  # [layer, language]
    target = result.languages.index(result.meta["tgt"])
    others = np.delete(means, target, axis=1)
    leads = (means[:, target] > (others.max(axis=1) if others.size else -np.inf)) & (
        means[:, target] >= floor
    )
    if not leads[-1]:
        return float("nan")
    behind = np.flatnonzero(~leads)
    return float(behind[-1] + 1 if behind.size else 0)


def middle_layers(n_layers: int) -> list[int]:
    """The middle half of the residual readings: from a quarter to three quarters of the depth."""
    return list(range(n_layers // 4, (3 * n_layers) // 4 + 1))


def leading_layers(result: LensResult, lang: str, over: str, floor: float = 0.01) -> list[int]:
    """Layers where ``lang``'s word is more probable than ``over``'s, with a paired 95% Student-t
    interval of the difference above zero, and ``lang``'s mean probability exceeds its control
    (another concept's word) by at least ``floor``: smaller leads can be significant but are
    negligible, and a lead the control shares is not about the concept."""
    from scipy import stats

    j = result.languages.index(lang)
    a, b = result.probs[:, :, j], result.probs[:, :, result.languages.index(over)]
    diff = a - b
    n = len(diff)
    if n < 2:
        return []
    half = stats.t.ppf(0.975, n - 1) * diff.std(axis=0, ddof=1) / np.sqrt(n)
    excess = a.mean(axis=0) - result.control[:, :, j].mean(axis=0)
    return np.flatnonzero((diff.mean(axis=0) - half > 0) & (excess >= floor)).tolist()


def language_share(result: LensResult, label: str) -> np.ndarray:
    """Per layer, the share of the mean top-k decoded mass whose tokens carry ``label``."""
    mass = result.mass.mean(axis=0)
    return mass[:, result.labels.index(label)] / np.maximum(mass.sum(axis=1), 1e-12)


def key_numbers(result: LensResult) -> dict:
    """Peak and last-layer mean probability per language, the target's takeover layer, English's
    peak in the middle layers, the layers where English leads the target, mean entropy per layer
    and English's largest share of the decoded tokens."""
    meta = result.meta
    means = result.probs.mean(axis=0)
    row = {"src": meta.get("src"), "tgt": meta.get("tgt"), "concepts": result.n_prompts}
    for j, lang in enumerate(result.languages):
        row[f"peak_p_{lang}"] = float(means[:, j].max())
        row[f"peak_layer_{lang}"] = int(means[:, j].argmax())
        row[f"last_p_{lang}"] = float(means[-1, j])
    if meta.get("tgt") in result.languages:
        row["takeover_layer"] = takeover_layer(result)
    if "en" in result.languages:
        middle = middle_layers(result.n_layers)
        en = means[middle, result.languages.index("en")]
        row["peak_en_middle"] = float(en.max())
        row["peak_en_middle_layer"] = middle[int(en.argmax())]
        if meta.get("tgt") not in (None, "en") and meta["tgt"] in result.languages:
            row["en_leads_tgt_layers"] = leading_layers(result, "en", meta["tgt"])
        share = language_share(result, "en")
        row["peak_en_share"] = float(share.max())
        row["peak_en_share_layer"] = int(share.argmax())
    row["entropy_bits"] = [round(float(e), 2) for e in result.entropy.mean(axis=0)]
    return row


def wilson_interval(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the share ``k / n`` (well-behaved at 0, 1 and small ``n``; NaN
    where ``n`` is 0)."""
    from scipy import stats

    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half
