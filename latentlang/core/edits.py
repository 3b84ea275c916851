"""Edits of the residual stream: patch it, add to it, project a subspace out of it, during any
forward pass of a :class:`~latentlang.core.model.LensModel` inside a ``with`` block.

Layers are numbered as everywhere in latentlang: residual ``0`` is the input to the first block
(the embeddings), residual ``i`` the output of block ``i``. An edit names the residual layers it
changes and, per batch row, the position it changes (default: each row's last token of a
left-padded batch); its hooks are removed when the block ends, even on an error.

>>> with edited(lm, [Patch(layers=[5], vectors=source[:, 5])]):     # doctest: +SKIP
...     readout = lm.read(batch, token_sets)    # the lens over the patched forward pass
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from latentlang.core.model import LensModel
from latentlang.core.reading import first_tensor
from latentlang.errors import LatentLangError


@dataclass
class Patch:
    """Replace the residual at ``layers`` with given vectors (Dumas et al.'s patching).

    Attributes:
        layers: The residual layers to patch.
        vectors: Per batch row, the residual to write at each of ``layers`` (``[batch, d]``: the
            same at every layer; ``[batch, layer, d]``: one per entry of ``layers``).
    """

    layers: Sequence[int]
    vectors: Float[Tensor, "batch d_model"] | Float[Tensor, "batch n d_model"]

    def __call__(self, h: Tensor, layer: int) -> Tensor:
        v = self.vectors if self.vectors.ndim == 2 else self.vectors[:, list(self.layers).index(layer)]
        return v.to(h.dtype).to(h.device)


@dataclass
class Add:
    """Add ``scale * vector`` to the residual at ``layers`` (steering).

    Attributes:
        layers: The residual layers to change.
        vector: The direction (``[d]``, the same for every row, or ``[batch, d]``).
        scale: Its strength.
    """

    layers: Sequence[int]
    vector: Float[Tensor, " d_model"] | Float[Tensor, "batch d_model"]
    scale: float = 1.0

    def __call__(self, h: Tensor, layer: int) -> Tensor:
        return h + self.scale * self.vector.to(h.dtype).to(h.device)


@dataclass
class ProjectOut:
    """Remove the span of some directions from the residual at ``layers`` (ablation), e.g. a
    word's unembedding rows.

    Attributes:
        layers: The residual layers to change.
        directions: ``[k, d]``, one subspace for every row, or per batch row its own ``[k_b, d]``
            (any basis of each subspace; orthonormalised here).
    """

    layers: Sequence[int]
    directions: Float[Tensor, "k d_model"] | list[Float[Tensor, "_k d_model"]]

    def __post_init__(self) -> None:
        rows = self.directions if isinstance(self.directions, list) else [self.directions]
        bases = [_span(r.float()) for r in rows]  # [d, rank_b], orthonormal columns
        width = max(1, max(b.shape[1] for b in bases))
        # Zero columns pad the smaller subspaces: they project nothing out.
        self._basis = torch.stack([torch.nn.functional.pad(b, (0, width - b.shape[1])) for b in bases])

    def __call__(self, h: Tensor, layer: int) -> Tensor:
        basis = self._basis.to(h.device)  # [1 or batch, d, k]
        flat = h.float()
        coefficients = torch.einsum("bd,bdk->bk", flat, basis.expand(len(flat), -1, -1))
        return (flat - torch.einsum("bk,bdk->bd", coefficients, basis.expand(len(flat), -1, -1))).to(h.dtype)


def _span(rows: Float[Tensor, "k d_model"]) -> Float[Tensor, "d_model rank"]:
    """An orthonormal basis of the rows' span (directions that are zero or dependent on the
    others add nothing: a zero row projects nothing out)."""
    u, s, _ = torch.linalg.svd(rows.detach().T, full_matrices=False)
    keep = s > max(float(s.max()) if s.numel() else 0.0, 1e-30) * 1e-6
    return u[:, keep]


@contextmanager
def edited(lm: LensModel, edits: Sequence, positions: Tensor | str | None = None) -> Iterator[None]:
    """Apply ``edits`` to every forward pass of ``lm`` in the block (hooks removed at its end).

    Args:
        lm: A model whose backend reads hook edits (hf, transformer_lens), read the plain way.
        edits: :class:`Patch`, :class:`Add`, :class:`ProjectOut` or any callable
            ``edit(h [batch, d], layer) -> h`` with a ``layers`` attribute.
        positions: Per row, the position to edit (``[batch]``); default: the last column (each
            row's last token of a left-padded batch; while generating with the KV cache, every new
            token in turn); ``"all"``: every position (padding included: it is masked anyway).

    Raises:
        LatentLangError: The model runs elsewhere, its residual is not read the plain way, or an
            edit names a layer the model does not have.
    """
    if not lm.backend.edits or not lm.parts.reading.plain:
        raise LatentLangError(
            f"{lm.name}: edits are forward hooks on its blocks, which the {lm.backend.name} backend does not "
            "read (or the blocks are not read the plain way); use backend hf or transformer_lens"
        )
    blocks = lm.parts.layers
    depth = len(blocks)
    by_layer: dict[int, list] = {}
    for edit in edits:
        for layer in edit.layers:
            if not 0 <= layer <= depth:
                raise LatentLangError(f"layer {layer} is outside 0..{depth} (0 = embeddings)")
            by_layer.setdefault(layer, []).append(edit)

    if isinstance(positions, str) and positions != "all":
        raise LatentLangError(f"positions is a tensor of per-row positions or 'all', got {positions!r}")

    def change(h: Tensor, layer: int) -> Tensor:
        rows = torch.arange(h.shape[0], device=h.device)
        if isinstance(positions, str):  # "all": column by column, so each row keeps its own vector
            columns = [torch.full_like(rows, c) for c in range(h.shape[1])]
        elif positions is None:
            columns = [torch.full_like(rows, h.shape[1] - 1)]
        else:
            columns = [positions.to(h.device)]
        h = h.clone()
        for cols in columns:
            for edit in by_layer[layer]:
                h[rows, cols] = edit(h[rows, cols], layer)
        return h

    def before_first(_module, args, kwargs):
        if args:
            return (change(args[0], 0), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": change(kwargs["hidden_states"], 0)}

    def after(layer: int):
        def hook(_module, _args, output):
            h = change(first_tensor(output), layer)
            return (h, *output[1:]) if isinstance(output, tuple | list) else h

        return hook

    handles = []
    try:
        # First in line, so every reader (latentlang's hooks, nnsight's) sees the edited residual.
        if 0 in by_layer:
            handles.append(blocks[0].register_forward_pre_hook(before_first, with_kwargs=True, prepend=True))
        handles += [
            blocks[layer - 1].register_forward_hook(after(layer), prepend=True)
            for layer in by_layer
            if layer > 0
        ]
        yield
    finally:
        for handle in handles:
            handle.remove()
