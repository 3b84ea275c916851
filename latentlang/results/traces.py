"""The language of a text's positions against what its middle layers decode: per position, the
language of the token there and the language the middle layers' top tokens are in; per text,
where the text switches language and what share of its positions decode English, the text's own
language, or another, in the middle layers (the middle half of the depth, as for routing)."""

from collections import Counter

import numpy as np
import pandas as pd
from jaxtyping import Int

#: Labels that carry no language.
NO_LANGUAGE = ("other", "none")


def middle_languages(top_lang: Int[np.ndarray, "text position layer"], labels: list[str]) -> np.ndarray:
    """Per position, the language most of the middle layers' top tokens are in (``"other"``
    where none of them has a language)."""
    n_layers = top_lang.shape[-1]
    middle = top_lang[..., n_layers // 4 : n_layers - n_layers // 4]
    out = np.full(top_lang.shape[:2], "other", dtype=object)
    for index in np.ndindex(*top_lang.shape[:2]):
        votes = Counter(labels[i] for i in middle[index] if i >= 0 and labels[i] not in NO_LANGUAGE)
        if votes:
            out[index] = votes.most_common(1)[0][0]
    return out.astype(str)


def switch_points(langs: list[str], min_run: int = 2) -> list[tuple[int, str, str]]:
    """``(index, from, to)`` wherever the language of language-bearing tokens changes and the new
    language lasts at least ``min_run`` of them (so one stray subword tagged another language, or
    a single loanword, is not a switch). Tokens without a language neither break nor make a run.
    """
    runs: list[list] = []  # [language, index of its first token, length]
    for i, lang in enumerate(langs):
        if lang in NO_LANGUAGE:
            continue
        if runs and runs[-1][0] == lang:
            runs[-1][2] += 1
        else:
            runs.append([lang, i, 1])
    points, current = [], None
    for lang, start, length in runs:
        if length < min_run or lang == current:
            continue
        if current is not None:
            points.append((start, current, lang))
        current = lang
    return points


def trace_table(
    token_lang: Int[np.ndarray, "text position"],
    top_lang: Int[np.ndarray, "text position layer"],
    texts: pd.DataFrame,
    labels: list[str],
    first: np.ndarray,
    min_run: int = 2,
) -> pd.DataFrame:
    """One row per text: its language (given, else the most frequent of its tokens'), how many
    positions of its text part were read, the share whose middle layers decode English, the
    text's language or another, and its switch points (``position:from>to``; positions absolute).

    Args:
        token_lang: Each position's token label index (``-1``: no position).
        top_lang: The label index of the lens's top token per position and layer.
        texts: The result's text table (``start``, ``lang``).
        labels: Label names.
        first: Per text, the first position of its text part (1 after a prompt's last token).
        min_run: How many language-bearing tokens a new language must last to be a switch.
    """
    middle = middle_languages(top_lang, labels)
    rows = []
    for t in range(len(texts)):
        valid = np.nonzero(token_lang[t] >= 0)[0]
        part = valid[valid >= first[t]]
        langs = [labels[i] for i in token_lang[t, part]]
        spoken = Counter(lang for lang in langs if lang not in NO_LANGUAGE)
        lang = texts["lang"].iloc[t] or (spoken.most_common(1)[0][0] if spoken else "other")
        decoded = middle[t, part]
        n = max(len(part), 1)
        start = int(texts["start"].iloc[t])
        switches = [f"{start + part[i]}:{a}>{b}" for i, a, b in switch_points(langs, min_run)]
        rows.append(
            {
                "text": t,
                "lang": lang,
                "n_positions": len(part),
                "middle_en": float((decoded == "en").sum() / n),
                "middle_own": float((decoded == lang).sum() / n),
                "middle_other": float(((decoded != "en") & (decoded != lang)).sum() / n),
                "n_switches": len(switches),
                "switch_points": " ".join(switches),
            }
        )
    return pd.DataFrame(rows)
