"""latentlang: which language does a multilingual LLM think in?

Capture the residual stream at every layer, decode it with the logit lens (the model's own final
norm and unembedding), and measure how much of each layer's next-token distribution is on a word
in English, in the source language and in the target language.

>>> import latentlang
>>> lm = latentlang.load_model("gemma-3-270m")                     # doctest: +SKIP
>>> result = latentlang.run_task(                                   # doctest: +SKIP
...     latentlang.TranslationConfig(src="fr", tgt="zh"), lm=lm)
>>> result.summary().head()                                         # doctest: +SKIP
"""

__version__ = "0.1.0"

from latentlang.datasets import load_cloze, load_words  # noqa: E402
from latentlang.errors import LatentLangError  # noqa: E402
from latentlang.experiments import (  # noqa: E402
    ClozeConfig,
    RepetitionConfig,
    TranslationConfig,
    run_task,
)
from latentlang.lens import LensReadout, LogitLens, TokenSetIndex  # noqa: E402
from latentlang.loading import DEFAULT_MODEL, load_model  # noqa: E402
from latentlang.models import LensModel  # noqa: E402
from latentlang.results import LensResult  # noqa: E402
from latentlang.tasks import (  # noqa: E402
    PromptSet,
    TaskPrompt,
    cloze_prompts,
    repetition_prompts,
    translation_prompts,
)
from latentlang.token_grid import TokenGrid, explore  # noqa: E402
from latentlang.words import WordList  # noqa: E402

__all__ = [
    "DEFAULT_MODEL",
    "LatentLangError",
    "LensModel",
    "LensReadout",
    "LensResult",
    "LogitLens",
    "PromptSet",
    "TaskPrompt",
    "TokenSetIndex",
    "TranslationConfig",
    "RepetitionConfig",
    "ClozeConfig",
    "WordList",
    "load_model",
    "explore",
    "TokenGrid",
    "load_words",
    "load_cloze",
    "run_task",
    "translation_prompts",
    "repetition_prompts",
    "cloze_prompts",
]
