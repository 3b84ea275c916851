"""The logit-lens token grid of one prompt: the top decoded tokens at every layer and position.

Positions are read-out as rows of one batch, so the lens's vocabulary chunking bounds memory even
on a 256k vocabulary: no ``[layer, position, vocab]`` tensor is built.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float

from latentlang.errors import LatentLangError
from latentlang.loading import ModelConfig
from latentlang.models import LensModel


@dataclass(kw_only=True)
class TokenGridConfig(ModelConfig):
    """Settings of ``latentlang tokens``."""

    prompt: str = field(metadata={"help": "the prompt to decode"})
    top_k: int = field(default=5, metadata={"help": "decoded tokens kept per cell"})
    last: int = field(default=24, metadata={"help": "positions shown in the figure (the last ones)"})
    out: str = field(default="runs/token-grid", metadata={"help": "output folder"})

    def __post_init__(self) -> None:
        if not self.prompt:
            raise LatentLangError("--prompt is empty; give the text to decode")
        if self.top_k < 1 or self.last < 1:
            raise LatentLangError(f"top_k and last must be at least 1, got {self.top_k} and {self.last}")


@dataclass
class TokenGrid:
    """What the lens decodes from every layer at every position of one prompt.

    Attributes:
        prompt: The prompt.
        model: The model's name.
        input_tokens: The prompt's tokens, one per position.
        top_tokens: Text of the ``k`` most probable decoded tokens per layer and position.
        top_probs: Their probabilities.
        top_labels: Their language labels (see :mod:`latentlang.langid`).
        entropy: Entropy (bits) of each decoded distribution.
    """

    prompt: str
    model: str
    input_tokens: list[str]
    top_tokens: np.ndarray
    top_probs: Float[np.ndarray, "layer pos k"]
    top_labels: np.ndarray
    entropy: Float[np.ndarray, "layer pos"]

    def __post_init__(self) -> None:
        layers, positions, k = self.top_probs.shape
        if self.top_tokens.shape != (layers, positions, k) or self.top_labels.shape != (layers, positions, k):
            raise ValueError("top_tokens, top_probs and top_labels must share the shape [layer, pos, k]")
        if len(self.input_tokens) != positions or self.entropy.shape != (layers, positions):
            raise ValueError("input_tokens and entropy must match the grid's positions and layers")

    @property
    def n_layers(self) -> int:
        return self.top_probs.shape[0]

    def _repr_html_(self) -> str:
        """The interactive grid, shown by Jupyter (see :func:`latentlang.html.token_grid_html`)."""
        from latentlang.html import token_grid_html

        return token_grid_html(self)

    def to_html(self, path: str | Path, last: int | None = None) -> Path:
        """Save the interactive grid as a standalone HTML file (no network needed to view it)."""
        from latentlang.html import standalone, token_grid_html

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            standalone(token_grid_html(self, last=last), f"{self.model}: logit lens"), encoding="utf-8"
        )
        return path

    def __repr__(self) -> str:
        layers, positions, k = self.top_probs.shape
        last = str(self.top_tokens[-1, -1, 0])
        return (
            f"TokenGrid({self.model}: {layers} layers × {positions} positions × top-{k}; "
            f"last position decodes {last!r} at the last layer)"
        )

    def to_dataframe(self) -> pd.DataFrame:
        """Long format: ``layer, position, input_token, rank, token, prob, language``."""
        layer, pos, rank = np.indices(self.top_probs.shape).reshape(3, -1)
        return pd.DataFrame(
            {
                "layer": layer,
                "position": pos,
                "input_token": np.asarray(self.input_tokens)[pos],
                "rank": rank,
                "token": self.top_tokens.reshape(-1),
                "prob": self.top_probs.reshape(-1),
                "language": self.top_labels.reshape(-1),
            }
        )


def explore(prompt: str, model: "str | LensModel" = "gemma-3-270m", top_k: int = 5, **load) -> TokenGrid:
    """Decode one prompt at every layer and position: in Jupyter the result shows itself as an
    interactive grid (hover a cell for its top-k tokens); ``.to_html(path)`` saves it.

    Args:
        prompt: The text.
        model: A loaded :class:`LensModel` or a spec for :func:`latentlang.load_model`.
        top_k: Tokens kept per cell.
        **load: Passed to :func:`latentlang.load_model` (``device``, ``dtype``, ...).
    """
    from latentlang.loading import load_model

    lm = model if isinstance(model, LensModel) else load_model(model, **load)
    return token_grid(lm, prompt, top_k)


def token_grid(lm: LensModel, prompt: str, top_k: int = 5) -> TokenGrid:
    """Decode every layer at every position of ``prompt`` with the logit lens.

    Raises:
        LatentLangError: The prompt is empty or longer than the model's context.
    """
    if not prompt:
        raise LatentLangError("cannot decode an empty prompt; give some text")
    batch = lm.tokenize([prompt])
    seq = batch.input_ids.shape[1]
    readout = lm.read(
        batch, None, top_k, positions=torch.arange(seq, device=lm.device)[None]
    )  # rows: positions
    top_ids = readout.top_ids.transpose(0, 1).cpu().numpy()  # [layer, pos, k]
    labels = np.asarray(lm.languages.labels)[lm.languages.tags[top_ids]]
    return TokenGrid(
        prompt=prompt,
        model=lm.name,
        input_tokens=[lm.token_text(i) for i in batch.input_ids[0].tolist()],
        top_tokens=np.vectorize(lm.token_text, otypes=[str])(top_ids),
        top_probs=readout.top_logprob.exp().transpose(0, 1).cpu().numpy(),
        top_labels=labels,
        entropy=readout.entropy_bits.transpose(0, 1).cpu().numpy(),
    )
