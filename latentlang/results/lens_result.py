"""``LensResult``: what a latent-language run measured, as arrays with named axes.

Axes: ``prompt`` (one per concept), ``layer`` (``0`` is the embedding output, ``i`` the output of
decoder block ``i``), ``language`` (the languages whose word the lens looked for: English, the
source and the target for translation), ``label`` (the language-ID labels of the decoded tokens)
and ``k`` (the top-k decoded tokens). Everything was read at each prompt's last token.

A result saves to one ``.npz`` file (no pickles) and loads back unchanged.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from jaxtyping import Float, Int

from latentlang.errors import LatentLangError
from latentlang.results.storage import load_npz, save_npz

_ARRAYS = ("probs", "control", "entropy", "energy", "top_ids", "top_probs", "mass", "from_source")
#: Confidence intervals over prompts: Student-t, normal (mean ± z σ/√n, Wendler et al.'s 1.96 at
#: 95%), percentile bootstrap.
CI_METHODS = ("t", "normal", "bootstrap")


@dataclass
class LensResult:
    """Logit-lens readings of one task on one model.

    Attributes:
        probs: P(token set of the concept's word in each language), per prompt and layer.
        control: The same probability for *another* concept's words (``prompts["control_concept"]``)
            at the same prompt: the chance level of the token-set method. Where ``probs`` is no
            higher than ``control``, the lens is not reading this concept (e.g. a layer that
            decodes the letter ``s`` for every prompt credits every word starting with *s*).
        entropy: Entropy of the decoded next-token distribution, in bits.
        energy: Token energy of the residual, by the definition ``meta["energy"]`` names
            (``latentlang``: 1 = like a random direction; ``wendler2024``: the notebooks' ratio of
            RMS cosines; see :meth:`latentlang.core.lens.LogitLens.energy`).
        top_ids: The ``k`` most probable decoded token ids.
        top_probs: Their probabilities.
        top_tokens: Their text.
        mass: Probability mass per language label among the top-k tokens (see ``langid``).
        languages: Names of the ``language`` axis.
        labels: Names of the ``label`` axis.
        prompts: One row per prompt: ``concept``, ``text`` and ``word_<lang>`` for each language.
        meta: Model, task, protocol, languages, package version, dropped concepts, ...
        from_source: The part of ``probs`` on tokens that also begin the *source* word: for
            English, the source-word copying its token set cannot tell apart (0 where the protocol
            forbids the overlap). ``NaN`` in results saved before latentlang measured it.
    """

    probs: Float[np.ndarray, "prompt layer language"]
    control: Float[np.ndarray, "prompt layer language"]
    entropy: Float[np.ndarray, "prompt layer"]
    energy: Float[np.ndarray, "prompt layer"]
    top_ids: Int[np.ndarray, "prompt layer k"]
    top_probs: Float[np.ndarray, "prompt layer k"]
    top_tokens: np.ndarray
    mass: Float[np.ndarray, "prompt layer label"]
    languages: list[str]
    labels: list[str]
    prompts: pd.DataFrame
    meta: dict = field(default_factory=dict)
    from_source: Float[np.ndarray, "prompt layer language"] | None = None

    def __post_init__(self) -> None:
        n, layers = self.entropy.shape
        if self.from_source is None:
            self.from_source = np.full(self.probs.shape, np.nan)
        expected = {
            "probs": (n, layers, len(self.languages)),
            "control": (n, layers, len(self.languages)),
            "from_source": (n, layers, len(self.languages)),
            "energy": (n, layers),
            "top_probs": self.top_ids.shape,
            "top_tokens": self.top_ids.shape,
            "mass": (n, layers, len(self.labels)),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"LensResult.{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.top_ids.shape[:2] != (n, layers) or len(self.prompts) != n:
            raise ValueError(
                f"top_ids {self.top_ids.shape} / prompts {len(self.prompts)} disagree with {n} prompts"
            )

    @property
    def n_prompts(self) -> int:
        return self.entropy.shape[0]

    @property
    def n_layers(self) -> int:
        """Number of residual readings per prompt (decoder blocks + 1)."""
        return self.entropy.shape[1]

    def to_dataframe(self) -> pd.DataFrame:
        """Long format: one row per prompt, layer and language, with ``prob`` and ``entropy``."""
        n, layers, langs = self.probs.shape
        idx = np.indices((n, layers, langs)).reshape(3, -1)
        return pd.DataFrame(
            {
                "prompt": idx[0],
                "concept": self.prompts["concept"].to_numpy()[idx[0]],
                "layer": idx[1],
                "language": np.asarray(self.languages)[idx[2]],
                "prob": self.probs.reshape(-1),
                "entropy": self.entropy[idx[0], idx[1]],
            }
        )

    def summary(self, confidence: float = 0.95, method: str | None = None) -> pd.DataFrame:
        """Mean probability per layer and language with a confidence interval over prompts.

        Args:
            confidence: Coverage of the interval.
            method: ``"t"`` (Student-t), ``"normal"`` (mean ± z σ/√n, the published notebooks')
                or ``"bootstrap"`` (percentile bootstrap, 10,000 resamples, seeded); default: the
                run's (``meta["ci"]``, else ``"t"``).

        Returns:
            Columns ``layer, language, mean, ci_low, ci_high, n``, ``control`` (the mean
            probability of other concepts' words at the same prompts: the chance level) and
            ``from_source`` (the part of ``mean`` on tokens that also begin the source word).
        """
        method = method or self.meta.get("ci", "t")
        frames = []
        for j, lang in enumerate(self.languages):
            frame = _mean_ci(self.probs[:, :, j], confidence, method)
            frames.append(
                frame.assign(
                    language=lang,
                    control=self.control[:, :, j].mean(axis=0),
                    from_source=self.from_source[:, :, j].mean(axis=0),
                )
            )
        columns = ["layer", "language", "mean", "ci_low", "ci_high", "n", "control", "from_source"]
        return pd.concat(frames, ignore_index=True)[columns]

    def entropy_summary(self, confidence: float = 0.95, method: str | None = None) -> pd.DataFrame:
        """Mean entropy (bits) per layer: columns ``layer, mean, ci_low, ci_high, n``."""
        return _mean_ci(self.entropy, confidence, method or self.meta.get("ci", "t"))

    def energy_summary(self, confidence: float = 0.95, method: str | None = None) -> pd.DataFrame:
        """Mean token energy per layer (by the run's definition, ``meta["energy"]``): columns
        ``layer, mean, ci_low, ci_high, n``."""
        return _mean_ci(self.energy, confidence, method or self.meta.get("ci", "t"))

    def dataset(self) -> pd.DataFrame:
        """The prompts and token ids in the published ``dataset.csv`` layout (Wendler et al.):
        ``prompt, out_token_id, out_token_str, latent_token_id, latent_token_str, in_token_str``,
        one row per measured concept in the protocol's order, id lists written ``[1, 2]``
        (sorted; the notebooks' order depends on Python's string hashing).

        ``out`` is the target word, ``latent`` the first latent language's (English by default),
        ``in`` the source word. Results saved before latentlang recorded token ids have none.
        """
        meta, frame = self.meta, self.prompts
        tgt, src = meta.get("tgt", self.languages[-1]), meta.get("src", self.languages[-1])
        latent = (meta.get("latent") or ["en"])[0]
        if f"ids_{tgt}" not in frame:
            raise LatentLangError("this result was saved without its token ids; rerun the task to get them")
        order = np.argsort(frame["position"].astype(int).to_numpy(), kind="stable")
        table = pd.DataFrame(
            {
                "prompt": frame["text"],
                "out_token_id": frame[f"ids_{tgt}"],
                "out_token_str": frame[f"word_{tgt}"],
                "latent_token_id": frame[f"ids_{latent}"],
                "latent_token_str": frame[f"word_{latent}"],
                "in_token_str": frame[f"word_{src}"],
            }
        )
        return table.iloc[order].reset_index(drop=True)

    def dropped(self) -> pd.DataFrame:
        """Every concept or row left out of the run, and why: ``concept, reason, detail``."""
        records = self.meta.get("dropped", [])
        if isinstance(records, dict):  # results saved before reasons were recorded
            records = [{"concept": c, "reason": "overlap", "detail": why} for c, why in records.items()]
        return pd.DataFrame(records, columns=["concept", "reason", "detail"])

    def mass_summary(self) -> pd.DataFrame:
        """Mean top-k probability mass per layer and language label (long format)."""
        mean = self.mass.mean(axis=0)
        layer, label = np.indices(mean.shape).reshape(2, -1)
        return pd.DataFrame(
            {"layer": layer, "label": np.asarray(self.labels)[label], "mass": mean.reshape(-1)}
        )

    def save(self, path: str | Path) -> Path:
        """Write the result to one ``.npz`` file, atomically (a crash never leaves half a file)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays |= {
            "top_tokens": np.asarray(self.top_tokens, dtype=str),
            "languages": self.languages,
            "labels": self.labels,
        }
        return save_npz(path, arrays, self.prompts.astype(str), self.meta)

    @classmethod
    def load(cls, path: str | Path) -> "LensResult":
        """Read a result written by :meth:`save`."""
        required = {*_ARRAYS, "top_tokens", "languages", "labels"} - {"from_source"}  # older results lack it
        arrays, prompts, meta = load_npz(path, required)
        return cls(
            **{name: arrays[name] for name in (*_ARRAYS, "top_tokens") if name in arrays},
            languages=arrays["languages"].tolist(),
            labels=arrays["labels"].tolist(),
            prompts=prompts,
            meta=meta,
        )

    def select_languages(self, languages: list[str]) -> "LensResult":
        """The same result measuring only ``languages`` (a subset of :attr:`languages`)."""
        index = [self.languages.index(lang) for lang in languages]
        fields = {name: getattr(self, name) for name in (*_ARRAYS, "top_tokens")}
        for name in ("probs", "control", "from_source"):
            fields[name] = fields[name][:, :, index]
        meta = {**self.meta, "languages": list(languages)}
        return LensResult(
            **fields, languages=list(languages), labels=self.labels, prompts=self.prompts, meta=meta
        )

    @classmethod
    def concat(cls, parts: list["LensResult"], meta: dict | None = None) -> "LensResult":
        """Join results of consecutive batches along the prompt axis."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        return cls(
            **{name: np.concatenate([getattr(p, name) for p in parts]) for name in (*_ARRAYS, "top_tokens")},
            languages=first.languages,
            labels=first.labels,
            prompts=pd.concat([p.prompts for p in parts], ignore_index=True),
            meta=first.meta if meta is None else meta,
        )

    def __repr__(self) -> str:
        meta = self.meta
        what = f"{meta.get('task', 'task')} {meta.get('src', '?')}→{meta.get('tgt', '?')}"
        return (
            f"LensResult({what} on {meta.get('model', '?')}: {self.n_prompts} prompts × "
            f"{self.n_layers} layers × languages {self.languages})"
        )

    def _repr_html_(self) -> str:
        """A summary table for Jupyter: per language, the peak and last-layer mean probability."""
        from latentlang.outputs.html import result_summary_html

        return result_summary_html(self)


def _mean_ci(values: Float[np.ndarray, "prompt layer"], confidence: float, method: str) -> pd.DataFrame:
    """Mean over prompts per layer, with its interval (:func:`mean_interval`), as a table."""
    mean, low, high = mean_interval(values, confidence, method)
    return pd.DataFrame(
        {"layer": np.arange(values.shape[1]), "mean": mean, "ci_low": low, "ci_high": high, "n": len(values)}
    )


def mean_interval(
    values: Float[np.ndarray, "n k"], confidence: float = 0.95, method: str = "t"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean over the first axis and its interval: Student-t, normal (mean ± z σ/√n) or
    percentile bootstrap (10,000 resamples, seeded); NaN bounds for fewer than 2 values."""
    from scipy import stats

    n, width = values.shape
    mean = values.mean(axis=0)
    if n < 2:
        low = high = np.full(width, np.nan)
    elif method in ("t", "normal"):
        quantile = stats.t.ppf(0.5 + confidence / 2, n - 1) if method == "t" else _z(confidence)
        half = quantile * values.std(axis=0, ddof=1) / np.sqrt(n)
        low, high = mean - half, mean + half
    elif method == "bootstrap":
        interval = stats.bootstrap(
            (values,),
            np.mean,
            confidence_level=confidence,
            n_resamples=10_000,
            method="percentile",
            axis=0,
            random_state=np.random.default_rng(0),
        ).confidence_interval
        low, high = interval.low, interval.high
    else:
        raise LatentLangError(f"unknown confidence-interval method {method!r}; use t, normal or bootstrap")
    return mean, low, high


def _z(confidence: float) -> float:
    """The normal quantile of a two-sided interval; 1.96 at 95%, as Wendler et al. write it."""
    from scipy import stats

    return 1.96 if confidence == 0.95 else float(stats.norm.ppf(0.5 + confidence / 2))
