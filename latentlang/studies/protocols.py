"""Protocols: a paper's rules for building and measuring a study, as named presets.

A latent-language number depends on more than the model: which concepts are kept, how the few-shot
demonstrations are drawn, which tokens count as a word, how energy and intervals are defined. A
protocol fixes all of these, so runs under ``latentlang`` and ``wendler2024`` sit side by side and
each says which rules made it (``result.meta["protocol"]``).

``latentlang`` (the default)
    Token sets by the byte-prefix rule (:mod:`latentlang.language.tokens`); a concept is dropped when *any*
    two of its measured languages share a token, so no source-word copying can be credited to
    English (at the cost of dropping words that begin like their English translation, e.g.
    *montagne* / *mountain*); demonstrations drawn per prompt with ``numpy.random.default_rng``
    (seed 0) from the word list joined on English; energy relative to a random direction;
    Student-t intervals.

``wendler2024`` (Wendler et al., 2024, *Do Llamas Work in English?*; their ``Translation.ipynb``
and ``Cloze.ipynb``)
    The notebooks' exact procedure: the target's ``clean.csv`` merged with the source's (in the
    target file's order); rows whose English word (lowercased) is a substring of the target word
    dropped (translation, repetition); demonstrations drawn as ``DataFrame.sample(4)`` /
    ``np.random.choice(.., 2)`` from the other rows with numpy's legacy generator seeded 42, row
    by row; token sets by character prefixes with and without ``▁`` plus zh/ru's first-byte
    token; a concept dropped only when the target's set meets English's (or either is empty); the
    cloze query cut at the first answer colon (``：`` for zh); the gain-weighted RMS-cosine energy;
    intervals mean ± 1.96 σ/√n. The source word's probability is measured too (the notebooks do
    not), and with the source's tokens split out of English's (``from_source``), which the
    notebooks' rule allows to overlap.
"""

from dataclasses import dataclass

from latentlang.errors import LatentLangError


@dataclass(frozen=True)
class Protocol:
    """The rules of one protocol (see the module docstring).

    Attributes:
        name: Its name (``--protocol``).
        token_rule: ``"bytes"`` or ``"wendler2024"``
            (:meth:`latentlang.language.tokens.VocabIndex.token_set`).
        overlap: Which token sets may not share a token: ``"all"`` (every pair of measured
            languages) or ``"target"`` (the target against each latent language).
        substring_filter: Drop concepts whose English word (lowercased) is inside the target word
            (lowercased), in translation and repetition.
        sampler: ``"latentlang"`` (a ``numpy.random.default_rng`` draw per prompt, from the word
            list joined on English) or ``"wendler2024"`` (legacy ``RandomState`` permutations, row
            by row, from the notebooks' merged table).
        cloze_query: ``"answer"`` (the sentence up to its quoted answer, else its answer marker)
            or ``"first_colon"`` (the text before the first ``:``, ``：`` for zh, then ``: "``).
        energy: The token-energy definition (:meth:`latentlang.core.lens.LogitLens.energy`).
        ci: Default confidence interval over concepts: ``"t"`` or ``"normal"``.
        seed: Default seed of the demonstration sampler.
        translation_shots: Default demonstrations per translation or repetition prompt.
        cloze_shots: Default demonstrations per cloze prompt.
    """

    name: str
    token_rule: str
    overlap: str
    substring_filter: bool
    sampler: str
    cloze_query: str
    energy: str
    ci: str
    seed: int
    translation_shots: int = 4
    cloze_shots: int = 2

    def overlap_pairs(
        self, languages: list[str], tgt: str, latent: list[str]
    ) -> list[tuple[str, str]] | None:
        """The language pairs whose token sets may not meet (``None``: every pair)."""
        if self.overlap == "all":
            return None
        return [(tgt, lang) for lang in latent if lang != tgt and lang in languages]


PROTOCOLS: dict[str, Protocol] = {
    "latentlang": Protocol(
        name="latentlang",
        token_rule="bytes",
        overlap="all",
        substring_filter=False,
        sampler="latentlang",
        cloze_query="answer",
        energy="latentlang",
        ci="t",
        seed=0,
    ),
    "wendler2024": Protocol(
        name="wendler2024",
        token_rule="wendler2024",
        overlap="target",
        substring_filter=True,
        sampler="wendler2024",
        cloze_query="first_colon",
        energy="wendler2024",
        ci="normal",
        seed=42,
    ),
}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``.

    Raises:
        LatentLangError: No such protocol.
    """
    if name not in PROTOCOLS:
        raise LatentLangError(f"unknown protocol {name!r}; use one of: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
