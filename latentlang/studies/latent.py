"""The latent-language study: few-shot translation, repetition and cloze prompts, read with the
lens at each prompt's last token, at every layer.

One config dataclass per task; the same dataclasses drive the Python API and the CLI
(``latentlang translate|repeat|cloze``): every field is a command-line option with the field's
help text, and ``__post_init__`` checks the values the same way for both. Each task's prompts go
through :mod:`latentlang.studies.readout` (token sets, controls, the batch function) and the shared
runner (:mod:`latentlang.studies.runner`).
"""

from dataclasses import dataclass, field

from latentlang.config import as_list, option
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.language.codes import check_language
from latentlang.language.datasets import load_cloze, load_words
from latentlang.results.lens_result import CI_METHODS, LensResult
from latentlang.studies.prompts import PromptSet, cloze_prompts, repetition_prompts, translation_prompts
from latentlang.studies.protocols import PROTOCOLS, get_protocol
from latentlang.studies.readout import Roles, lens_work, read_batch
from latentlang.studies.runner import Study, StudyConfig, Work
from latentlang.studies.sampling import TOKEN_FILTERS


@dataclass(kw_only=True)
class LensSettings(StudyConfig):
    """Settings every latent-language run shares (a task, or a grid of one)."""

    words: str | None = option(None, "word list: a CSV with language columns or a folder of {lang}/clean.csv")
    latent: list[str] = option(
        ["en"], "candidate latent languages whose word is measured too, comma-separated"
    )
    protocol: str = option(
        "latentlang",
        "whose rules: latentlang, or wendler2024 (the published notebooks' concepts, prompts, token sets, "
        "energy and intervals)",
        choices=PROTOCOLS,
    )
    tokens: str = option(
        "all",
        "concepts whose target word is one vocabulary token (single), several (multi) or all",
        choices=TOKEN_FILTERS,
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
        choices=CI_METHODS,
        fingerprint=False,  # how the summary is drawn, not what is measured
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.latent = as_list(self.latent, "latent")
        rules = get_protocol(self.protocol)
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
        for lang in self.latent:
            check_language(lang)
        if self.top_k < 1:
            raise LatentLangError(f"top_k must be at least 1, got {self.top_k}")
        if self.n_shots is not None and self.n_shots < 0:
            raise LatentLangError(f"n_shots must be >= 0, got {self.n_shots}")

    def variant(self) -> list[str]:
        """What sets the run apart from a default one, for its default folder name."""
        return [x for x in (self.protocol, self.tokens) if x not in ("latentlang", "all")]


@dataclass(kw_only=True)
class TaskConfig(LensSettings):
    """One task in one language pair (or one language); the protocol fills the defaults left
    ``None`` (demonstrations, seed, interval)."""

    TASK = "task"
    #: Which of the protocol's defaults gives ``n_shots``.
    SHOTS = "translation_shots"

    def __post_init__(self) -> None:
        super().__post_init__()
        rules = get_protocol(self.protocol)
        self.seed = rules.seed if self.seed is None else self.seed
        self.ci = rules.ci if self.ci is None else self.ci
        self.n_shots = getattr(rules, self.SHOTS) if self.n_shots is None else self.n_shots
        if self.out is None:
            self.out = f"runs/{'-'.join([self.TASK, *self.task_languages, *self.variant()])}"

    @property
    def task_languages(self) -> list[str]:
        """The task's own languages (source and target, or the one language)."""
        raise NotImplementedError

    @property
    def languages(self) -> list[str]:
        """Whose word probability is measured: the latent candidates, then the task's languages."""
        return list(dict.fromkeys([*self.latent, *self.task_languages]))

    def meta(self) -> dict:
        """What the result records about the task."""
        names = ("n_shots", "seed", "shared_demos", "words", "protocol", "tokens", "ci")
        return {"task": self.TASK, "latent": self.latent, **{name: getattr(self, name) for name in names}}

    @property
    def roles(self) -> Roles:
        """Source, target and latent languages (for the overlap rule and the source split)."""
        return Roles(src=self.task_languages[0], tgt=self.task_languages[-1], latent=tuple(self.latent))

    def prompts(self, vocab=None) -> PromptSet:
        """The task's prompts (``vocab``, the model's vocabulary, is needed for ``tokens``)."""
        raise NotImplementedError

    def prompt_options(self, vocab=None) -> dict:
        """The settings every prompt builder takes, from this config."""
        names = ("n_shots", "seed", "shared_demos", "protocol", "tokens")
        return {"languages": self.languages, "vocab": vocab, **{name: getattr(self, name) for name in names}}


@dataclass(kw_only=True)
class TranslationConfig(TaskConfig):
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
        return translation_prompts(words, self.src, self.tgt, **self.prompt_options(vocab))


@dataclass(kw_only=True)
class OneLanguageConfig(TaskConfig):
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
        return repetition_prompts(words, self.lang, **self.prompt_options(vocab))


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
        return cloze_prompts(sentences, words, self.lang, **self.prompt_options(vocab))


def task_items(config: TaskConfig, lm: LensModel) -> Work:
    """The task's prompts, with their token sets, as the runner's work."""
    prompts = config.prompts(lm.vocab if lm.tokenizer is not None else None)
    return lens_work(
        lm,
        prompts,
        config.languages,
        top_k=config.top_k,
        overlap=config.overlap,
        protocol=config.protocol,
        roles=config.roles,
    )


def _task(name: str, config: type[TaskConfig], help: str) -> Study:
    return Study(name, help, config, LensResult, items=task_items, run_batch=read_batch)


TRANSLATE = _task(
    "translate", TranslationConfig, "few-shot translation: P(English) vs P(source) vs P(target) per layer"
)
REPEAT = _task("repeat", RepetitionConfig, "few-shot repetition of a word in one language")
CLOZE = _task("cloze", ClozeConfig, "few-shot fill-in-the-blank: a sentence describing the masked word")
#: Task name -> its study.
TASKS: dict[str, Study] = {s.config.TASK: s for s in (TRANSLATE, REPEAT, CLOZE)}


def run_task(config: TaskConfig, lm: LensModel | None = None, progress: bool = True) -> LensResult:
    """Run a task and return its result (finished batches are kept in ``config.out``).

    Args:
        config: The task and its settings.
        lm: An already loaded model (then ``config.model``, ``device``, ``dtype`` and ``backend``
            are not used); loaded from ``config`` when ``None``.
        progress: Show a progress bar.
    """
    return TASKS[config.TASK].run(config, lm, progress)
