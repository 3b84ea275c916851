"""Whether a text's words are routed via English, from their per-layer readings
(:mod:`latentlang.studies.routing` computes those): the rule, the per-word table and the shares
per language and part of the text."""

import numpy as np
import pandas as pd
from jaxtyping import Bool, Float

from latentlang.results.measures import wilson_interval


def routed_via_english(
    probs: Float[np.ndarray, "word layer 3"], floor: float = 0.01
) -> Bool[np.ndarray, " word"]:
    """Per word (``probs``: ``[word, layer, 3]``, own/English/control): English beats the own
    set and beats the control by at least ``floor`` in a middle layer before the own set wins
    for good (a lead of a few hundredths of a percent over the control is noise, not English)."""
    n_layers = probs.shape[1]
    own, en, control = probs[..., 0], probs[..., 1], probs[..., 2]
    wins = (own > en) & (own > control)
    # the first layer from which the own set wins at every later layer (n_layers: never)
    for_good = np.where(wins[:, -1], n_layers - np.argmin(wins[:, ::-1], axis=1), n_layers)
    for_good = np.where(wins.all(1), 0, for_good)
    layer = np.arange(n_layers)
    middle = (layer >= n_layers // 4) & (layer < n_layers - n_layers // 4)
    leads = (en >= control + floor) & (en > own) & middle[None] & (layer[None] < for_good[:, None])
    return leads.any(1)


def routing_table(words: pd.DataFrame, probs: Float[np.ndarray, "word layer 3"]) -> pd.DataFrame:
    """``words`` (one row per word read) with whether it is routed via English and the peak
    probability of each set (the ``words.csv`` table)."""
    return words.assign(
        routed_via_english=routed_via_english(probs),
        peak_p_own=probs[..., 0].max(1),
        peak_p_english=probs[..., 1].max(1),
        peak_p_control=probs[..., 2].max(1),
    )


def routing_shares(table: pd.DataFrame, confidence: float = 0.95, first: bool = False) -> pd.DataFrame:
    """The share of words routed via English per language and part, with Wilson intervals.

    Args:
        table: One row per word read (:func:`routing_table`).
        confidence: Of the intervals.
        first: Count only each word's first occurrence in each text and part (a text that
            repeats a word would otherwise weigh as many independent words).
    """
    if first:
        table = table.drop_duplicates(["text", "part", "lang", "word"])
    groups = table.groupby(["lang", "part"])["routed_via_english"]
    k, n = groups.sum(), groups.size()
    low, high = wilson_interval(k.to_numpy(), n.to_numpy(), confidence)
    return pd.DataFrame({"routed": k, "n": n, "share": k / n, "ci_low": low, "ci_high": high}).reset_index()
