"""Latent-language figures of the repetition task (a word repeated in its own language).

Writes figures/repetition-LANG/ for each language and the measured numbers into figures/README.md.

    python analyses/repetition.py [--model SPEC] [--langs de,fr,ru,zh,ja] [--device cuda]
"""

from _common import per_language

from latentlang.studies.latent import RepetitionConfig

if __name__ == "__main__":
    per_language(RepetitionConfig, "repetition", __doc__)
