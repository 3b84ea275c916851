"""Latent-language figures of the cloze task (shipped sentences, two demonstrations).

Writes figures/cloze-LANG/ for each language and the measured numbers into figures/README.md.

    python analyses/cloze.py [--model SPEC] [--langs de,fr,ru,zh,ja] [--device cuda]
"""

from _common import per_language

from latentlang.studies.latent import ClozeConfig

if __name__ == "__main__":
    per_language(ClozeConfig, "cloze", __doc__)
