"""``TokenGrid``: what the logit lens decodes from every layer at every position of one prompt."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from jaxtyping import Float


@dataclass
class TokenGrid:
    """What the lens decodes from every layer at every position of one prompt.

    Attributes:
        prompt: The prompt.
        model: The model's name.
        input_tokens: The prompt's tokens, one per position.
        top_tokens: Text of the ``k`` most probable decoded tokens per layer and position.
        top_probs: Their probabilities.
        top_labels: Their language labels (see :mod:`latentlang.language.langid`).
        entropy: Entropy (bits) of each decoded distribution.
        meta: How to show it (``last``: the positions a figure shows).
    """

    prompt: str
    model: str
    input_tokens: list[str]
    top_tokens: np.ndarray
    top_probs: Float[np.ndarray, "layer pos k"]
    top_labels: np.ndarray
    entropy: Float[np.ndarray, "layer pos"]
    meta: dict = field(default_factory=dict)

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
        """The interactive grid, shown by Jupyter (see :func:`latentlang.outputs.html.token_grid_html`)."""
        from latentlang.outputs.html import token_grid_html

        return token_grid_html(self)

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
