"""Experiments: one config dataclass per task, one function that runs any of them.

The same dataclasses drive the Python API and the CLI (``latentlang translate|repeat|cloze``):
every field is a command-line option with the field's help text, and ``__post_init__`` checks
the values the same way for both.
"""

from dataclasses import dataclass, field
from pathlib import Path

from latentlang.datasets import load_cloze, load_words
from latentlang.errors import LatentLangError
from latentlang.languages import check_language
from latentlang.loading import ModelConfig, option
from latentlang.models import LensModel
from latentlang.protocols import PROTOCOLS, get_protocol
from latentlang.results import CI_METHODS, LensResult
from latentlang.sampling import TOKEN_FILTERS
from latentlang.study import Roles, run_prompts
from latentlang.tasks import PromptSet, cloze_prompts, repetition_prompts, translation_prompts


@dataclass(kw_only=True)
class RunConfig(ModelConfig):
    """Settings every task shares."""

    words: str | None = option(None, "word list: a CSV with language columns or a folder of {lang}/clean.csv")
    latent: str = option("en", "candidate latent languages whose word is measured too, comma-separated")
    out: str | None = option(None, "output folder (default: runs/TASK-LANGS[-PROTOCOL][-TOKENS])")
    batch_size: int | None = option(
        None,
        "prompts per forward pass (default: ~2k tokens' worth on a CPU, ~16k on a GPU; "
        "halved on out-of-memory)",
    )
    protocol: str = option(
        "latentlang",
        "whose rules: latentlang, or wendler2024 (the published notebooks' concepts, prompts, token sets, "
        "energy and intervals)",
        choices=list(PROTOCOLS),
    )
    tokens: str = option(
        "all",
        "concepts whose target word is one vocabulary token (single), several (multi) or all",
        choices=list(TOKEN_FILTERS),
    )
    n_shots: int | None = option(None, "demonstrations per prompt (default: 4; cloze 2)")
    seed: int | None = option(None, "seed for drawing demonstrations (default: the protocol's, 0 or 42)")
    shared_demos: bool = option(
        False, "give every prompt the same demonstrations (their prefix is then computed once)"
    )
    top_k: int = option(10, "decoded tokens kept per layer")
    overlap: str = option(
        "drop",
        "when languages' token sets share a token: drop the concept (published) or exclude the shared tokens",
        choices=["drop", "exclude"],
    )
    ci: str | None = option(
        None,
        "confidence intervals over concepts: t, normal or bootstrap (default: the protocol's, t or normal)",
        choices=list(CI_METHODS),
    )

    TASK = "task"
    #: Which of the protocol's defaults gives ``n_shots``.
    SHOTS = "translation_shots"

    def __post_init__(self) -> None:
        rules = get_protocol(self.protocol)
        self.seed = rules.seed if self.seed is None else self.seed
        self.ci = rules.ci if self.ci is None else self.ci
        self.n_shots = getattr(rules, self.SHOTS) if self.n_shots is None else self.n_shots
        if rules.overlap != "all" and self.overlap != "drop":
            raise LatentLangError(
                f"--overlap {self.overlap} is latentlang's; the {self.protocol} protocol drops a concept "
                "whose target tokens meet English's (use --protocol latentlang to exclude shared tokens)"
            )
        if rules.sampler != "latentlang" and self.shared_demos:
            raise LatentLangError(
                f"the {self.protocol} protocol draws demonstrations per prompt, as the notebooks do; "
                "drop --shared-demos (a latentlang option) or use --protocol latentlang"
            )
        for lang in self.latent_languages:
            check_language(lang)
        for name in ("batch_size", "top_k"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise LatentLangError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_shots is not None and self.n_shots < 0:
            raise LatentLangError(f"n_shots must be >= 0, got {self.n_shots}")
        if self.out is None:
            variant = [x for x in (self.protocol, self.tokens) if x not in ("latentlang", "all")]
            self.out = f"runs/{'-'.join([self.TASK, *self.task_languages, *variant])}"

    @property
    def latent_languages(self) -> list[str]:
        return [lang.strip() for lang in self.latent.split(",") if lang.strip()]

    @property
    def task_languages(self) -> list[str]:
        """The task's own languages (source and target, or the one language)."""
        raise NotImplementedError

    @property
    def languages(self) -> list[str]:
        """Whose word probability is measured: the latent candidates, then the task's languages."""
        return list(dict.fromkeys([*self.latent_languages, *self.task_languages]))

    def meta(self) -> dict:
        """What the result records about the task."""
        return {
            "task": self.TASK,
            "latent": self.latent_languages,
            "n_shots": self.n_shots,
            "seed": self.seed,
            "shared_demos": self.shared_demos,
            "words": self.words,
            "protocol": self.protocol,
            "tokens": self.tokens,
            "ci": self.ci,
        }

    @property
    def roles(self) -> Roles:
        """Source, target and latent languages (for the overlap rule and the source split)."""
        return Roles(
            src=self.task_languages[0], tgt=self.task_languages[-1], latent=tuple(self.latent_languages)
        )

    def prompts(self, vocab=None) -> PromptSet:
        """The task's prompts (``vocab``, the model's vocabulary, is needed for ``tokens``)."""
        raise NotImplementedError

    def prompt_options(self, vocab=None) -> dict:
        """The settings every prompt builder takes, from this config."""
        return {
            "languages": self.languages,
            "n_shots": self.n_shots,
            "seed": self.seed,
            "shared_demos": self.shared_demos,
            "protocol": self.protocol,
            "vocab": vocab,
            "tokens": self.tokens,
        }


@dataclass(kw_only=True)
class TranslationConfig(RunConfig):
    """Few-shot translation: ``Français: "chien" - 中文: "``."""

    src: str = field(metadata={"help": "source language code, e.g. fr"})
    tgt: str = field(metadata={"help": "target language code, e.g. zh"})
    TASK = "translation"

    def __post_init__(self) -> None:
        check_language(self.src)
        check_language(self.tgt)
        if self.src == self.tgt:
            raise LatentLangError(
                f"--src and --tgt are both {self.src!r}; translation needs two languages "
                "(latentlang repeat repeats a word in one language)"
            )
        super().__post_init__()

    @property
    def task_languages(self) -> list[str]:
        return [self.src, self.tgt]

    def meta(self) -> dict:
        return {**super().meta(), "src": self.src, "tgt": self.tgt}

    def prompts(self, vocab=None) -> PromptSet:
        words = load_words(self.words, source_lang=self.src)
        return translation_prompts(
            words,
            self.src,
            self.tgt,
            **self.prompt_options(vocab),
        )


@dataclass(kw_only=True)
class OneLanguageConfig(RunConfig):
    """A task in one language (its word is both "source" and "target")."""

    lang: str = field(metadata={"help": "the task's language, e.g. de"})

    def __post_init__(self) -> None:
        check_language(self.lang)
        super().__post_init__()

    @property
    def task_languages(self) -> list[str]:
        return [self.lang]

    def meta(self) -> dict:
        return {**super().meta(), "src": self.lang, "tgt": self.lang}


@dataclass(kw_only=True)
class RepetitionConfig(OneLanguageConfig):
    """Few-shot repetition of a word in one language: ``Deutsch: "Sonne" - Deutsch: "``."""

    TASK = "repetition"

    def prompts(self, vocab=None) -> PromptSet:
        words = load_words(self.words, source_lang=self.lang)
        return repetition_prompts(
            words,
            self.lang,
            **self.prompt_options(vocab),
        )


@dataclass(kw_only=True)
class ClozeConfig(OneLanguageConfig):
    """Few-shot cloze: a sentence describing the word, the word masked, then ``Answer: "``."""

    cloze: str | None = option(
        None, "cloze sentences: a CSV (en, lang, sentence) or a folder of {lang}/clean.csv"
    )
    TASK = "cloze"
    SHOTS = "cloze_shots"

    def meta(self) -> dict:
        return {**super().meta(), "cloze": self.cloze}

    def prompts(self, vocab=None) -> PromptSet:
        sentences = load_cloze(self.cloze)
        words = load_words(self.words, source_lang=self.lang)
        return cloze_prompts(
            sentences,
            words,
            self.lang,
            **self.prompt_options(vocab),
        )


TASKS: dict[str, type[RunConfig]] = {
    "translation": TranslationConfig,
    "repetition": RepetitionConfig,
    "cloze": ClozeConfig,
}


def run_task(config: RunConfig, lm: LensModel | None = None, progress: bool = True) -> LensResult:
    """Run a task and return its result (finished batches are kept in ``config.out``).

    Args:
        config: The task and its settings.
        lm: An already loaded model (then ``config.model``, ``device``, ``dtype`` and ``backend``
            are not used); loaded from ``config`` when ``None``.
        progress: Show a progress bar.
    """
    lm = lm or config.load()
    prompts = config.prompts(lm.vocab if lm.tokenizer is not None else None)
    return run_prompts(
        lm,
        prompts,
        config.languages,
        meta=config.meta(),
        batch_size=config.batch_size,
        top_k=config.top_k,
        overlap=config.overlap,
        out_dir=config.out,
        progress=progress,
        protocol=config.protocol,
        roles=config.roles,
    )


def write_outputs(result: LensResult, out: str | Path, ci: str | None = None) -> dict[str, Path]:
    """Write ``summary.csv``, ``dataset.csv`` (the prompts and token ids in the published layout),
    ``dropped.csv`` (what was left out, and why) and the figures (PNG and PDF) into ``out``.

    (:func:`run_task` already saved ``result.npz`` there; :meth:`LensResult.save` writes a
    result computed without an output folder.)
    """
    from latentlang.plots import (
        language_mass_figure,
        latent_language_figure,
        latent_languages_figure,
        save_figure,
        source_split_figure,
    )

    ci = ci or result.meta.get("ci", "t")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"summary": result.summary(method=ci), "dataset": result.dataset(), "dropped": result.dropped()}
    written = {}
    for name, table in tables.items():
        written[name] = out / f"{name}.csv"
        table.to_csv(written[name], index=False)
    figures = {
        "latent_language": latent_language_figure(result, method=ci),
        "language_mass": language_mass_figure(result),
    }
    if result.meta.get("src") != result.meta.get("tgt"):  # translation: how much of P(en) copies the source
        figures["source_split"] = source_split_figure(result, method=ci)
    if len(result.meta.get("latent", [])) > 1:  # several candidate latent languages
        figures["latent_languages"] = latent_languages_figure(result, method=ci)
    for name, fig in figures.items():
        png, pdf = save_figure(fig, out / name)
        written |= {png.name: png, pdf.name: pdf}
    return written
