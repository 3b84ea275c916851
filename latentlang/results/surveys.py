"""A leakage run against the human surveys: how far the model's option distribution is from each
population's answers at every layer, and MENAValues' consistency scores.

For an item whose question carries survey data (the MENAValues benchmark), and every country
with data for it, :func:`survey_divergence` compares the lens's renormalised option distribution
at each layer (and the model's own, ``layer = -1``) with that population's answer shares:

* ``kl``: KL(survey ‖ model) in nats, as MENAValues' analysis computes it: ``epsilon`` (1e-9)
  added to both distributions, each renormalised (answer codes matched as numbers: their
  published KL files compared ``'1.0'`` with ``'1'``, so those numbers are not comparable);
* ``js_distance``: the Jensen–Shannon distance (the square root of the divergence, base 2), in
  [0, 1], symmetric and finite without smoothing.

So one sees which layer is closest to which population, not only the output.

:func:`consistency` gives MENAValues' public scores, each ``100 · (1 − |x − y| / (MAX − Min))``
over answers in text: NVAS (the answer against the survey's mean, or on a nominal scale its most
frequent answer), FCS (persona against observer), SPD (neutral against persona) and CLCS
(English against the country's own language, within a framing).
"""

import numpy as np
import pandas as pd

from latentlang.results.leakage import LeakageResult, js_divergence

#: Mass added to every option of both distributions before the KL divergence (MENAValues: 1e-9).
EPSILON = 1e-9
#: The language a country's native-language items are asked in (MENAValues): Persian for Iran,
#: Turkish for Turkey, Arabic for the 14 Arab countries.
NATIVE = {"Iran": "fa", "Turkey": "tr"}
_KEYS = ["question_id", "language", "framing", "country"]


def native_language(country: str) -> str:
    """The benchmark's native language of a country (:data:`NATIVE`, else Arabic)."""
    return NATIVE.get(country, "ar")


def kl_divergence(p, q, epsilon: float = EPSILON) -> np.ndarray | float:
    """KL(p ‖ q) in nats over the last axis, both smoothed by ``epsilon`` and renormalised."""
    p = (p + epsilon) / (p + epsilon).sum(-1, keepdims=True)
    q = (q + epsilon) / (q + epsilon).sum(-1, keepdims=True)
    return (p * np.log(p / q)).sum(-1)


def survey_divergence(result: LeakageResult, epsilon: float = EPSILON) -> pd.DataFrame:
    """Per item, survey country and layer: ``kl`` and ``js_distance`` between the model's option
    distribution and the population's (see the module docstring).

    Returns:
        Columns ``question_id, language, framing, country, survey_country, layer`` (``-1``: the
        model's own output), ``kl, js_distance``, ``option_mass`` (how much of the lens's
        next-token probability the options hold at that layer: a layer where they hold almost
        none reads as a near-uniform guess; NaN for the output) and ``js_uniform`` (the distance
        of a uniform guess to the same survey: the bar a layer must clear); empty when no
        question has survey data. Items read at the last layer only have only ``layer = -1``.
    """
    surveys = result.meta.get("surveys") or {}
    columns = [*_KEYS, "survey_country", "layer", "kl", "js_distance", "option_mass", "js_uniform"]
    rows = []
    for i, item in enumerate(result.items.reset_index(drop=True).itertuples()):
        n = int(item.n_options)
        layers = [-1] + ([] if bool(item.shared_first_token) else list(range(result.n_layers)))
        stack = np.vstack([result.final_probs[i, None, :n], result.option_probs[i, :, :n]])[: len(layers)]
        mass = np.concatenate([[np.nan], result.option_mass[i]])[: len(layers)]
        for country, shares in surveys.get(str(item.question_id), {}).items():
            human = np.asarray(shares, dtype=float)
            if len(human) != n:
                continue  # a survey on another scale than the prompt's options
            kl = kl_divergence(human[None], stack, epsilon)
            js = np.sqrt(np.clip(js_divergence(np.broadcast_to(human, stack.shape), stack), 0, None))
            uniform = float(np.sqrt(max(js_divergence(human, np.full(n, 1 / n)), 0.0)))
            keys = (item.question_id, item.language, item.framing, item.country, country)
            rows += [(*keys, layer, k, j, m, uniform) for layer, k, j, m in zip(layers, kl, js, mass)]
    return pd.DataFrame(rows, columns=columns)


def divergence_by_layer(divergence: pd.DataFrame) -> pd.DataFrame:
    """Means per framing, survey country and layer of the JS distance, KL, option mass and a
    uniform guess's JS distance, with ``n`` (the figure's numbers: which layer is closest to which
    population, and whether that beats guessing)."""
    columns = ["framing", "survey_country", "layer", "js_distance", "kl", "option_mass", "js_uniform", "n"]
    if divergence.empty:
        return pd.DataFrame(columns=columns)
    grouped = divergence.groupby(["framing", "survey_country", "layer"])
    table = grouped.agg(
        js_distance=("js_distance", "mean"),
        kl=("kl", "mean"),
        option_mass=("option_mass", "mean"),
        js_uniform=("js_uniform", "mean"),
        n=("js_distance", "size"),
    )
    return table.reset_index()[columns]


def consistency(result: LeakageResult) -> pd.DataFrame:
    """MENAValues' scores over the answered items (see the module docstring): one row per pair
    compared, ``metric, framing, language, country, question_id, score`` (0-100)."""
    items = result.items[result.outcome == "answered"].copy()
    items["number"] = items["answer"].astype(int) + items["low"].astype(int) - 1
    items["span"] = (items["n_options"].astype(int) - 1).clip(lower=1)
    answers = {
        tuple(key): (number, span)
        for *key, number, span in items[[*_KEYS, "number", "span"]].itertuples(index=False)
    }
    centres = result.meta.get("survey_centres") or {}
    rows = []

    def score(a: int, b: int | float, span: int) -> float:
        return 100 * (1 - abs(a - b) / span)

    for (qid, lang, framing, country), (number, span) in answers.items():
        for who in [country] if country else centres.get(str(qid), {}):
            centre = centres.get(str(qid), {}).get(who)
            if centre is not None:
                rows.append(("NVAS", framing, lang, who, qid, score(number, centre, span)))
        if framing == "persona" and (qid, lang, "observer", country) in answers:
            rows.append(
                (
                    "FCS",
                    framing,
                    lang,
                    country,
                    qid,
                    score(number, answers[qid, lang, "observer", country][0], span),
                )
            )
        if framing == "persona" and (qid, lang, "neutral", "") in answers:
            rows.append(
                (
                    "SPD",
                    framing,
                    lang,
                    country,
                    qid,
                    score(number, answers[qid, lang, "neutral", ""][0], span),
                )
            )
        if lang == "en" and country and (qid, native_language(country), framing, country) in answers:
            other = answers[qid, native_language(country), framing, country][0]
            rows.append(("CLCS", framing, lang, country, qid, score(number, other, span)))
    return pd.DataFrame(rows, columns=["metric", "framing", "language", "country", "question_id", "score"])


def consistency_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean score per metric, framing and language with a normal 95% interval and ``n``."""
    columns = ["metric", "framing", "language", "mean", "ci_low", "ci_high", "n"]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    table = (
        scores.groupby(["metric", "framing", "language"])["score"].agg(["mean", "std", "size"]).reset_index()
    )
    half = 1.96 * table["std"].fillna(0) / np.sqrt(table["size"])
    return table.assign(ci_low=table["mean"] - half, ci_high=table["mean"] + half, n=table["size"])[columns]
