"""latentlang: which language does a multilingual LLM think in?

Capture the residual stream at every layer, decode it with the logit lens (the model's own final
norm and unembedding), and measure how much of each layer's next-token distribution is on a word
in English, in the source language and in the target language.

>>> import latentlang
>>> lm = latentlang.load_model("gemma-3-270m")                     # doctest: +SKIP
>>> result = latentlang.run_task(                                   # doctest: +SKIP
...     latentlang.TranslationConfig(src="fr", tgt="zh"), lm=lm)
>>> result.summary().head()                                         # doctest: +SKIP

The names below are imported on first use, so ``import latentlang`` (or loading a saved result)
does not import torch, transformers or matplotlib until they are needed.
"""

import importlib

from latentlang.config import package_version

__version__ = package_version()

#: Public name -> the module that defines it.
_HOMES = {
    "LatentLangError": "latentlang.errors",
    "WordList": "latentlang.language.words",
    "load_words": "latentlang.language.datasets",
    "load_cloze": "latentlang.language.datasets",
    "DEFAULT_MODEL": "latentlang.core.loading",
    "load_model": "latentlang.core.loading",
    "LensModel": "latentlang.core.model",
    "LensReadout": "latentlang.core.lens",
    "LogitLens": "latentlang.core.lens",
    "TokenSetIndex": "latentlang.core.lens",
    "LensResult": "latentlang.results.lens_result",
    "LeakageResult": "latentlang.results.leakage",
    "TokenGrid": "latentlang.results.token_grid",
    "GridResult": "latentlang.results.sets",
    "write_outputs": "latentlang.outputs.files",
    "save_html": "latentlang.outputs.html",
    "PromptSet": "latentlang.studies.prompts",
    "TaskPrompt": "latentlang.studies.prompts",
    "translation_prompts": "latentlang.studies.prompts",
    "repetition_prompts": "latentlang.studies.prompts",
    "cloze_prompts": "latentlang.studies.prompts",
    "TranslationConfig": "latentlang.studies.latent",
    "RepetitionConfig": "latentlang.studies.latent",
    "ClozeConfig": "latentlang.studies.latent",
    "run_task": "latentlang.studies.latent",
    "run_prompts": "latentlang.studies.readout",
    "GridConfig": "latentlang.studies.grid",
    "run_grid": "latentlang.studies.grid",
    "LeakageConfig": "latentlang.studies.leakage",
    "run_leakage": "latentlang.studies.leakage",
    "ReproduceConfig": "latentlang.studies.reproduce",
    "reproduce": "latentlang.studies.reproduce",
    "PatchConfig": "latentlang.studies.patch",
    "run_patch": "latentlang.studies.patch",
    "PatchResult": "latentlang.results.patch",
    "SteerConfig": "latentlang.studies.steer",
    "run_steer": "latentlang.studies.steer",
    "SteerResult": "latentlang.results.steer",
    "AblateConfig": "latentlang.studies.ablate",
    "run_ablate": "latentlang.studies.ablate",
    "AblateResult": "latentlang.results.ablate",
    "GenerateConfig": "latentlang.studies.generation",
    "run_generation": "latentlang.studies.generation",
    "GenerationResult": "latentlang.results.generation",
    "edited": "latentlang.core.edits",
    "Patch": "latentlang.core.edits",
    "Add": "latentlang.core.edits",
    "ProjectOut": "latentlang.core.edits",
    "TokenGridConfig": "latentlang.studies.tokens",
    "explore": "latentlang.studies.tokens",
    "token_grid": "latentlang.studies.tokens",
}
#: Short names of the causal studies' run functions: ``latentlang.patch(config, lm)``.
_ALIASES = {"patch": "run_patch", "steer": "run_steer", "ablate": "run_ablate"}
__all__ = sorted([*_HOMES, *_ALIASES])


def __getattr__(name: str):
    if name in _ALIASES:
        value = __getattr__(_ALIASES[name])
        globals()[name] = value
        return value
    if name not in _HOMES:
        raise AttributeError(f"module 'latentlang' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES, *_ALIASES])
