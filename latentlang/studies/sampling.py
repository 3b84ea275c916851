"""How a task's rows become prompts: which rows are kept, and which demonstrations each gets.

Two samplers (chosen by the protocol, :mod:`latentlang.studies.protocols`):

- ``"latentlang"``: per prompt, ``n_shots`` other rows drawn with ``numpy.random.default_rng(seed)``;
  with ``shared`` every prompt gets the same demonstrations (drawn once; those rows are not
  queried), so all prompts share a token prefix that is computed once (:mod:`latentlang.core.batch`).
- ``"wendler2024"``: the published notebooks' draws. They seed numpy's global generator with 42 and,
  row by row, call ``DataFrame.sample(4)`` on the other rows (translation) or
  ``np.random.choice(others, 2, replace=False)`` (cloze); both take the first ``k`` entries of one
  legacy ``RandomState`` permutation of the other rows, which is what this sampler does.
"""

import numpy as np
import pandas as pd

from latentlang.errors import LatentLangError
from latentlang.language.words import Dropped, WordList

#: ``--tokens``: every concept, or only those whose target word is (not) one vocabulary token.
TOKEN_FILTERS = ("all", "single", "multi")


def draw_demonstrations(
    n: int, k: int, seed: int, sampler: str = "latentlang", shared: bool = False
) -> list[tuple[int, list[int]]]:
    """For each queried row, the rows whose examples precede it, in prompt order.

    Args:
        n: Rows.
        k: Demonstrations per prompt.
        seed: The sampler's seed.
        sampler: ``"latentlang"`` or ``"wendler2024"`` (see the module docstring).
        shared: The same demonstrations for every prompt (latentlang's sampler only).

    Returns:
        ``(row, demonstration rows)`` for every queried row.

    Raises:
        LatentLangError: An unknown sampler, or ``shared`` with the notebooks' sampler.
    """
    if sampler == "wendler2024":
        if shared:
            raise LatentLangError(
                "the wendler2024 protocol draws demonstrations per prompt, as the notebooks do; "
                "drop --shared-demos (a latentlang option) or use --protocol latentlang"
            )
        state = np.random.RandomState(seed)
        draws = []
        for i in range(n):
            others = [j for j in range(n) if j != i]
            draws.append((i, [others[j] for j in state.permutation(n - 1)[:k]]))
        return draws
    if sampler != "latentlang":
        raise LatentLangError(f"unknown sampler {sampler!r}; use latentlang or wendler2024")
    rng = np.random.default_rng(seed)
    fixed = rng.choice(n, size=k, replace=False).tolist() if shared else None
    draws = []
    for i in range(n):
        if fixed is not None and i in fixed:
            continue  # a demonstration is not also a query
        picks = fixed or rng.choice([j for j in range(n) if j != i], size=k, replace=False).tolist()
        draws.append((i, picks))
    return draws


def filter_rows(
    rows: pd.DataFrame, tgt: str, vocab=None, tokens: str = "all", substring: bool = False
) -> tuple[pd.DataFrame, list[Dropped]]:
    """Keep the rows a run's filters accept, in order, and record the others.

    Args:
        rows: One row per concept, with ``en`` and ``tgt`` columns.
        tgt: The target language.
        vocab: The model's :class:`~latentlang.language.tokens.VocabIndex` (needed unless ``tokens="all"``).
        tokens: ``"all"``; ``"single"``: only target words that are one vocabulary token (with or
            without the word-start marker); ``"multi"``: only those that are not.
        substring: Drop rows whose English word (lowercased) is inside the target word
            (lowercased), as the notebooks do.

    Raises:
        LatentLangError: An unknown ``tokens`` value, or a token filter without a vocabulary.
    """
    if tokens not in TOKEN_FILTERS:
        raise LatentLangError(f"unknown token filter {tokens!r}; use one of: {', '.join(TOKEN_FILTERS)}")
    if tokens != "all" and vocab is None:
        raise LatentLangError("the single/multi-token filter needs the model's vocabulary")
    keep, dropped = [], []
    for en, word in zip(rows["en"], rows[tgt]):
        why = None
        if tokens != "all" and vocab.is_single_token(word) != (tokens == "single"):
            count = "one token" if tokens == "multi" else "several tokens"
            why = Dropped(en, "token count", f"the {tgt} word {word!r} is {count} (--tokens {tokens})")
        elif substring and en.lower() in word.lower():
            why = Dropped(en, "substring", f"English {en!r} is part of the {tgt} word {word!r}")
        keep.append(why is None)
        if why is not None:
            dropped.append(why)
    return rows[keep].reset_index(drop=True), dropped


def missing_rows(
    words: WordList, rows: pd.DataFrame, needed: list[str], keys: pd.Series | None = None
) -> list[Dropped]:
    """The concepts (of ``keys``, default every concept of the list) that are not among ``rows``
    because they lack a word in one of ``needed``."""
    present = set(rows["en"])
    keys = words.table["en"] if keys is None else keys
    dropped = []
    for concept in dict.fromkeys(keys):
        if concept in present:
            continue
        lacking = [lang for lang in needed if not words.has_word(concept, lang)]
        detail = f"no {', '.join(lacking)} word" if lacking else "missing from a language's file"
        dropped.append(Dropped(concept, "no word", detail))
    return dropped
