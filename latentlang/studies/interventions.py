"""What the steering and ablation studies share: translation prompts to intervene on, the layers
and positions an edit touches, and the read-out of the model's output under an edit.

Both studies edit the residual stream of few-shot translation prompts (the translation task's
prompts and word list) and read the model's own next-token distribution at the last token: the
probability of token sets (a concept's word in some languages) and the mass of every language
label of :mod:`latentlang.language.langid` over the whole vocabulary.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from latentlang.config import option
from latentlang.core.batch import Batch
from latentlang.core.lens import TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.codes import check_language
from latentlang.language.datasets import load_words
from latentlang.language.langid import output_mass
from latentlang.studies.prompts import PromptSet, translation_prompts
from latentlang.studies.runner import StudyConfig


def language_pair(value: str, name: str) -> tuple[str, str]:
    """``"de:fr"`` as ``("de", "fr")``.

    Raises:
        LatentLangError: Not two different known languages separated by a colon.
    """
    pair = value.split(":")
    if len(pair) != 2 or pair[0] == pair[1]:
        raise LatentLangError(f"--{name} takes two languages INPUT:OUTPUT such as de:fr, got {value!r}")
    for lang in pair:
        check_language(lang)
    return pair[0], pair[1]


@dataclass(kw_only=True)
class InterventionConfig(StudyConfig):
    """Settings every editing study shares (the prompts, where the edit goes)."""

    prompts: str = option("de:fr", "the translation prompts edited, INPUT:OUTPUT")
    layers: list[int] | None = option(None, "residual layers edited, comma-separated (default: every layer)")
    positions: str = option(
        "last",
        "edit the prompt's last token (and each generated one) or every position",
        choices=["last", "all"],
    )
    words: str | None = option(None, "word list: a CSV with language columns or a folder of {lang}/clean.csv")
    n_shots: int = option(4, "demonstrations per prompt")
    seed: int = option(0, "seed for drawing demonstrations")
    limit: int | None = option(None, "only the first N concepts (for a quick run)")

    def __post_init__(self) -> None:
        super().__post_init__()
        language_pair(self.prompts, "prompts")
        if self.layers is not None and (not self.layers or min(self.layers) < 0):
            raise LatentLangError(f"layers are residual layers 0 (embeddings) ... last, got {self.layers}")
        if self.limit is not None and self.limit < 1:
            raise LatentLangError(f"limit must be at least 1, got {self.limit}")

    def chosen_layers(self, lm: LensModel) -> list[int]:
        """The layers edited, checked against the model's depth."""
        layers = list(range(lm.n_layers + 1)) if self.layers is None else sorted(set(self.layers))
        if layers[-1] > lm.n_layers:
            raise LatentLangError(f"{lm.name} has residual layers 0..{lm.n_layers}, got layer {layers[-1]}")
        return layers

    def edit_positions(self) -> str | None:
        """What :func:`latentlang.core.edits.edited` takes for :attr:`positions`."""
        return "all" if self.positions == "all" else None


def edited_prompts(config: InterventionConfig, languages: list[str]) -> PromptSet:
    """The translation prompts of ``config.prompts``, measuring the words of ``languages``."""
    src, tgt = language_pair(config.prompts, "prompts")
    words = load_words(config.words, source_lang=src)
    return translation_prompts(words, src, tgt, languages, n_shots=config.n_shots, seed=config.seed)


@torch.no_grad()
def read_output(
    lm: LensModel, batch: Batch, index: TokenSetIndex
) -> tuple[Float[Tensor, "batch n_sets"], Float[Tensor, "batch label"]]:
    """At each prompt's last token, the model's own probability of each of its token sets and the
    mass of each language label (``lm.languages.labels``) over the whole vocabulary."""
    logits = lm.capture(batch).final_logits.float()
    logprobs = logits.log_softmax(-1)
    gathered = logprobs.gather(1, index.ids.flatten(1)).view(index.ids.shape)
    set_probs = gathered.masked_fill(~index.mask, -torch.inf).logsumexp(-1).exp()
    return set_probs, output_mass(logits, lm.token_tags, len(lm.languages.labels))
