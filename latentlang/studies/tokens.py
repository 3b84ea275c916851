"""The logit-lens token grid of one prompt: the top decoded tokens at every layer and position.

Positions are read-out as rows of one batch, so the lens's vocabulary chunking bounds memory even
on a 256k vocabulary: no ``[layer, position, vocab]`` tensor is built.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from latentlang.config import option
from latentlang.core.loading import ModelConfig, load_model
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError
from latentlang.results.generation import GenerationResult
from latentlang.results.token_grid import TokenGrid
from latentlang.studies.runner import Study


@dataclass(kw_only=True)
class TokenGridConfig(ModelConfig):
    """Settings of ``latentlang tokens``."""

    prompt: str = field(metadata={"help": "the prompt to decode"})
    top_k: int = option(5, "decoded tokens kept per cell")
    last: int = option(24, "positions shown in the figure (the last ones)")
    out: str = option("runs/token-grid", "output folder")

    def __post_init__(self) -> None:
        if not self.prompt:
            raise LatentLangError("--prompt is empty; give the text to decode")
        if self.top_k < 1 or self.last < 1:
            raise LatentLangError(f"top_k and last must be at least 1, got {self.top_k} and {self.last}")


def explore(
    prompt: "str | GenerationResult",
    model: "str | LensModel" = "gemma-3-270m",
    top_k: int = 5,
    text: int = 0,
    **load,
) -> TokenGrid:
    """Decode one prompt at every layer and position, or show a generation's readings: in
    Jupyter the result shows itself as an interactive grid (hover a cell for its top-k tokens);
    :func:`latentlang.outputs.html.save_html` saves it.

    Args:
        prompt: The text, or a :class:`~latentlang.results.generation.GenerationResult` (then
            nothing is computed: its text number ``text`` is shown, prompt's last token onward).
        model: A loaded :class:`LensModel` or a spec for :func:`latentlang.load_model`.
        top_k: Tokens kept per cell.
        text: Which text of a generation result.
        **load: Passed to :func:`latentlang.load_model` (``device``, ``dtype``, ...).
    """
    if isinstance(prompt, GenerationResult):
        return prompt.grid(text)
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


def run_tokens(config: TokenGridConfig, lm: LensModel | None = None, progress: bool = True) -> TokenGrid:
    """The token grid of ``config.prompt`` (one forward pass: nothing to batch or resume)."""
    grid = token_grid(lm or config.load(), config.prompt, top_k=config.top_k)
    grid.meta["last"] = config.last
    return grid


TOKENS = Study(
    "tokens",
    "logit-lens token grid of one prompt: top token per layer and position",
    TokenGridConfig,
    TokenGrid,
    run_all=run_tokens,
)
