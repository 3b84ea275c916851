"""The translation study: config, run, and the files it writes.

The same :class:`TranslationConfig` drives the Python API and ``latentlang translate``.
"""

from dataclasses import dataclass, field
from pathlib import Path

from latentlang.errors import LatentLangError
from latentlang.languages import check_language
from latentlang.loading import DEFAULT_MODEL, load_model
from latentlang.models import LensModel
from latentlang.results import LensResult
from latentlang.study import run_prompts
from latentlang.tasks import translation_prompts
from latentlang.words import load_words


@dataclass
class TranslationConfig:
    """Settings of a translation run."""

    src: str = field(metadata={"help": "source language code, e.g. fr"})
    tgt: str = field(metadata={"help": "target language code, e.g. zh"})
    model: str = field(
        default=DEFAULT_MODEL,
        metadata={"help": "model: gemma-3-270m, a .gguf file, a model folder or a Hub id"},
    )
    backend: str = field(
        default="hf", metadata={"help": "capture backend: hf or nnsight", "choices": ["hf", "nnsight"]}
    )
    words: str | None = field(
        default=None,
        metadata={"help": "word list: a CSV with language columns or a folder of {lang}/clean.csv"},
    )
    out: str | None = field(
        default=None, metadata={"help": "output folder (default: runs/translation-SRC-TGT)"}
    )
    batch_size: int = field(default=8, metadata={"help": "prompts per forward pass"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    dtype: str = field(
        default="auto", metadata={"help": "auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16"}
    )
    n_shots: int = field(default=4, metadata={"help": "demonstrations per prompt"})
    seed: int = field(default=0, metadata={"help": "seed for drawing demonstrations"})
    top_k: int = field(default=10, metadata={"help": "decoded tokens kept per layer"})

    def __post_init__(self) -> None:
        check_language(self.src)
        check_language(self.tgt)
        if self.src == self.tgt:
            raise LatentLangError(f"--src and --tgt are both {self.src!r}; translation needs two languages")
        for name in ("batch_size", "top_k"):
            if getattr(self, name) < 1:
                raise LatentLangError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_shots < 0:
            raise LatentLangError(f"n_shots must be >= 0, got {self.n_shots}")
        if self.out is None:
            self.out = f"runs/translation-{self.src}-{self.tgt}"

    @property
    def languages(self) -> list[str]:
        """The languages whose word probability is measured: English, source, target."""
        return list(dict.fromkeys(["en", self.src, self.tgt]))


def run_translation(
    config: TranslationConfig, lm: LensModel | None = None, progress: bool = True
) -> LensResult:
    """Run the translation task and return the result (partial batches go to ``config.out``).

    Args:
        config: The run's settings.
        lm: An already loaded model (``config.model``, ``device``, ``dtype`` and ``backend`` are
            then ignored); loaded from ``config`` when ``None``.
        progress: Show a progress bar.
    """
    words = load_words(config.words)
    prompts = translation_prompts(words, config.src, config.tgt, n_shots=config.n_shots, seed=config.seed)
    lm = lm or load_model(config.model, device=config.device, dtype=config.dtype, backend=config.backend)
    meta = {
        "task": "translation",
        "src": config.src,
        "tgt": config.tgt,
        "n_shots": config.n_shots,
        "seed": config.seed,
        "words": words.source,
    }
    return run_prompts(
        lm,
        prompts,
        config.languages,
        meta=meta,
        batch_size=config.batch_size,
        top_k=config.top_k,
        out_dir=config.out,
        progress=progress,
    )


def write_outputs(result: LensResult, out: str | Path) -> dict[str, Path]:
    """Write ``summary.csv`` and the figures (PNG and PDF) into ``out``.

    (:func:`run_translation` already saved ``result.npz`` there; :meth:`LensResult.save` writes a
    result computed without an output folder.)
    """
    from latentlang.plots import language_mass_figure, latent_language_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"summary": out / "summary.csv"}
    result.summary().to_csv(written["summary"], index=False)
    for name, make in (("latent_language", latent_language_figure), ("language_mass", language_mass_figure)):
        fig = make(result)
        for ext in ("png", "pdf"):
            written[f"{name}.{ext}"] = out / f"{name}.{ext}"
            fig.savefig(written[f"{name}.{ext}"], dpi=200, bbox_inches="tight")
    return written
