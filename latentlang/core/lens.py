"""The logit lens: decode a residual-stream vector as if it were the last layer's output.

``logits = transform(unembed(final_norm(h)))``, where ``transform`` is the model's own output
transform (Gemma-2's ``final_logit_softcapping``, Cohere's ``logit_scale``). The norm is applied
exactly once, to the raw residual captured from a decoder layer (Hugging Face's last
``hidden_states`` entry is already normed; latentlang never decodes that one).

For a 256k-token vocabulary a full ``[batch, layer, vocab]`` logit tensor is too large to keep, so
:meth:`LogitLens.readout` walks the vocabulary in chunks and keeps only running statistics: an online
log-sum-exp (the softmax normaliser), the entropy, and a running top-k. Token-set probabilities
need only the rows of the unembedding that the sets name, gathered directly. All of it runs on the
model's device in float32, so only small arrays ever leave it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import NamedTuple

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

LOG2 = math.log(2.0)
#: Token-energy definitions (see :meth:`LogitLens.energy`).
ENERGIES = ("latentlang", "wendler2024")
#: Devices whose 16-bit matrix products can return float32 (``torch.mm``'s ``out_dtype``).
MIXED_PRECISION_DEVICES = {"cuda", "xpu"}


@dataclass(frozen=True)
class TokenSetIndex:
    """Token sets for each prompt of a batch, padded to a rectangle.

    A set may be empty (its probability is then 0): the English tokens that also begin the
    source word, for instance, are often none.

    Attributes:
        ids: Vocabulary ids; padding entries hold any valid id.
        mask: True where ``ids`` is a real member of the set.
    """

    ids: Int[Tensor, "batch n_sets max_size"]
    mask: Bool[Tensor, "batch n_sets max_size"]

    def __post_init__(self) -> None:
        if self.ids.shape != self.mask.shape or self.ids.ndim != 3:
            raise ValueError(f"ids {tuple(self.ids.shape)} and mask {tuple(self.mask.shape)} differ")

    @classmethod
    def from_lists(cls, sets: list[list[list[int]]], device: torch.device | str = "cpu") -> "TokenSetIndex":
        """Pad ``sets[prompt][set]`` (lists of token ids) into a :class:`TokenSetIndex`."""
        n_sets = {len(per_prompt) for per_prompt in sets}
        if len(n_sets) != 1:
            raise ValueError(f"every prompt needs the same number of token sets, got {sorted(n_sets)}")
        width = max(1, max(len(s) for per_prompt in sets for s in per_prompt))
        ids = torch.zeros(len(sets), n_sets.pop(), width, dtype=torch.long)
        mask = torch.zeros(ids.shape, dtype=torch.bool)
        for b, per_prompt in enumerate(sets):
            for s, members in enumerate(per_prompt):
                ids[b, s, : len(members)] = torch.tensor(members, dtype=torch.long)
                mask[b, s, : len(members)] = True
        return cls(ids.to(device), mask.to(device))


class LensReadout(NamedTuple):
    """What the lens reports for each prompt and layer (all float32, on the lens's device).

    Attributes:
        set_logprob: Natural-log probability of each token set (log-sum over its members).
        entropy_bits: Entropy of the decoded next-token distribution, in bits.
        top_ids: The k most probable token ids, most probable first.
        top_logprob: Their natural-log probabilities.
        energy: How much the residual points along token directions, by the requested definition
            (see :meth:`LogitLens.energy`).
    """

    set_logprob: Float[Tensor, "batch layer n_sets"] | None
    entropy_bits: Float[Tensor, "batch layer"]
    top_ids: Int[Tensor, "batch layer k"]
    top_logprob: Float[Tensor, "batch layer k"]
    energy: Float[Tensor, "batch layer"]


class LogitLens(nn.Module):
    """Decode residuals with the model's own final norm and unembedding.

    Args:
        final_norm: The module between the last decoder layer and the unembedding
            (``nn.Identity()`` if the model has none), or an nnsight envoy of it (remote runs).
            Run in the model's dtype, as the model does.
        unembed_weight: The unembedding matrix (often tied to the input embedding).
        unembed_bias: Its bias, if any.
        softcap: ``final_logit_softcapping``: logits become ``cap * tanh(logits / cap)``.
        logit_scale: A constant the model multiplies its logits by (1.0 for most models).
        max_chunk_elements: Upper bound on the float32 elements of one vocabulary chunk's tile
            (rows x chunk logits, plus chunk x d_model for the upcast of a bfloat16 or float16
            unembedding). The read-out's peak memory is about two tiles, whatever the vocabulary,
            batch or depth (``benchmarks/memory.py`` measures it). Default: 2**22 (16 MiB) on a
            CPU, 2**24 (64 MiB) on a GPU, where chunks of a few thousand tokens already make large
            matrix products and two tiles stay below a 7B model's activations for a batch of 64
            (its MLP alone holds ~270 MiB at 64 x 64 tokens in bfloat16; estimated, not measured).
    """

    def __init__(
        self,
        final_norm: Callable[[Tensor], Tensor],
        unembed_weight: Float[Tensor, "vocab d_model"],
        unembed_bias: Float[Tensor, " vocab"] | None = None,
        softcap: float | None = None,
        logit_scale: float = 1.0,
        max_chunk_elements: int | None = None,
    ) -> None:
        # Not super(): on NDIF this method is rebuilt from its source, outside the class body, so
        # it has no __class__ cell (see latentlang.core.remote).
        nn.Module.__init__(self)
        self.final_norm = final_norm
        self.weight = unembed_weight
        self.bias = unembed_bias
        self.softcap = softcap
        self.logit_scale = logit_scale
        if max_chunk_elements is None:  # small tiles stay in a CPU's caches; a GPU wants larger ones
            max_chunk_elements = 1 << 24 if unembed_weight.device.type == "cuda" else 1 << 22
        self.max_chunk_elements = max_chunk_elements
        self._token_cov: dict[str, Tensor] = {}

    @property
    def vocab_size(self) -> int:
        return self.weight.shape[0]

    def normed(self, h: Float[Tensor, "*rows d_resid"]) -> Float[Tensor, "*rows d_model"]:
        """Apply the final norm in the model's dtype, then upcast to float32.

        The residual's width ``d_resid`` is ``d_model`` but for a residual of several streams
        (hyper-connections), which the final norm's head transform mixes into one."""
        return self.final_norm(h.to(self.weight.dtype)).float()

    def _exact(self) -> AbstractContextManager:
        """Autocast off: the lens computes in float32 even where the model runs under autocast
        (NDIF wraps every request in bfloat16 autocast). Devices without autocast need nothing."""
        device_type = self.weight.device.type
        available = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4; NDIF's may be older
        if available is not None and not available(device_type):
            return nullcontext()
        return torch.autocast(device_type=device_type, enabled=False)

    def _transform(self, logits: Float[Tensor, "..."]) -> Float[Tensor, "..."]:
        if self.logit_scale != 1.0:
            logits = logits * self.logit_scale
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def _mixed_precision(self) -> bool:
        """Whether the unembedding is multiplied in its own 16-bit dtype with float32 output.

        On CUDA (and XPU) a bfloat16 or float16 matrix product can accumulate and return float32
        (``torch.mm(..., out_dtype=torch.float32)``): the model's own head inputs, at tensor-core
        speed, with no float32 copy of the unembedding. Elsewhere the rows are upcast chunk by
        chunk instead; both give the model's 16-bit inputs multiplied with float32 accumulation.
        Checked where it runs, not at import: a remote request may meet an older torch (< 2.8,
        without ``aten::mm.dtype``) on NDIF.
        """
        return (
            self.weight.device.type in MIXED_PRECISION_DEVICES
            and self.weight.dtype in (torch.bfloat16, torch.float16)
            and hasattr(torch.ops.aten.mm, "dtype")
        )

    def _logits(
        self, hn: Float[Tensor, "rows d_model"], start: int = 0, stop: int | None = None
    ) -> Float[Tensor, "rows chunk"]:
        weight = self.weight[start:stop]
        if self._mixed_precision():  # the head reads the norm's output in the model's dtype, as the model
            logits = torch.mm(hn.to(weight.dtype), weight.T, out_dtype=torch.float32)
        else:
            logits = hn @ weight.float().T
        if self.bias is not None:
            logits = logits + self.bias[start:stop].float()
        return self._transform(logits)

    def logits(self, h: Float[Tensor, "*rows d_model"]) -> Float[Tensor, "*rows vocab"]:
        """Full float32 logits. Builds a ``[rows, vocab]`` tensor: for checks and small inputs."""
        with self._exact():
            hn = self.normed(h)
            return self._logits(hn.reshape(-1, hn.shape[-1])).reshape(*h.shape[:-1], self.vocab_size)

    def forward(self, h: Float[Tensor, "*rows d_model"]) -> Float[Tensor, "*rows vocab"]:
        """Full log-probabilities (see :meth:`logits` for the memory caveat)."""
        return torch.log_softmax(self.logits(h), dim=-1)

    def readout(
        self,
        h: Float[Tensor, "batch layer d_model"],
        token_sets: TokenSetIndex | None = None,
        top_k: int = 10,
        energy: str = "latentlang",
    ) -> LensReadout:
        """Reduce each residual's decoded distribution to a few numbers, in bounded memory.

        Args:
            h: Residuals for one position per prompt, at each layer.
            token_sets: Token sets whose probability to report per prompt, or ``None``.
            top_k: How many of the most probable tokens to keep.
            energy: The token-energy definition, ``"latentlang"`` or ``"wendler2024"``.
        """
        sets = (None, None) if token_sets is None else (token_sets.ids, token_sets.mask)
        return LensReadout(*self.reduce(h, *sets, top_k=top_k, energy=energy))

    def reduce(
        self,
        h: Float[Tensor, "batch layer d_model"],
        set_ids: Int[Tensor, "batch n_sets max_size"] | None = None,
        set_mask: Bool[Tensor, "batch n_sets max_size"] | None = None,
        top_k: int = 10,
        energy: str = "latentlang",
    ) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]:
        """:meth:`readout` with plain tensors in and out (the fields of :class:`LensReadout`, in
        order): what a remote request runs on NDIF, where latentlang's own data classes could
        only travel as bytecode tied to one Python version."""
        with torch.no_grad(), self._exact():  # not decorators: those do not survive the trip to NDIF
            return self._reduce(h, set_ids, set_mask, top_k, energy)

    def _reduce(
        self, h: Tensor, set_ids: Tensor | None, set_mask: Tensor | None, top_k: int, energy: str
    ) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]:
        batch, n_layers = h.shape[:2]
        hn = self.normed(h)
        d_model = hn.shape[-1]
        hn = hn.reshape(batch * n_layers, d_model)
        k = min(top_k, self.vocab_size)
        log_z, entropy, top_val, top_ids = [], [], [], []
        # As many rows per block as leave vocabulary chunks of >= 8192 tokens (large matrix products):
        # each block streams the whole unembedding once, so fewer blocks read less memory.
        rows_per_block = max(1, self.max_chunk_elements // min(self.vocab_size, 1 << 13))
        for r in range(0, hn.shape[0], rows_per_block):
            stats = self._vocab_pass(hn[r : r + rows_per_block], k)
            for acc, value in zip((log_z, entropy, top_val, top_ids), stats):
                acc.append(value)
        log_z_t = torch.cat(log_z)
        set_logprob = None
        if set_ids is not None:
            set_logprob = self._set_logits(hn.view(batch, n_layers, d_model), set_ids, set_mask)
            set_logprob = set_logprob - log_z_t.view(batch, n_layers, 1)
        top_logprob = torch.cat(top_val) - log_z_t[:, None]
        return (
            set_logprob,
            (torch.cat(entropy) / LOG2).view(batch, n_layers),
            torch.cat(top_ids).view(batch, n_layers, k),
            top_logprob.view(batch, n_layers, k),
            self._energy(h.reshape(batch * n_layers, -1), hn, energy).view(batch, n_layers),
        )

    def energy(
        self, h: Float[Tensor, "*rows d_model"], definition: str = "latentlang"
    ) -> Float[Tensor, "*rows"]:
        """Token energy: how much of a residual lies along the token directions.

        ``"latentlang"``: with ``n = final_norm(h)`` (what the unembedding reads), ``n̂ = n / |n|``
        and ``û_v`` the unembedding rows scaled to unit length, the mean squared cosine between
        ``n̂`` and the token directions, divided by its value for a direction drawn uniformly at
        random (``1 / d_model``)::

            energy(h) = d_model * mean_v (û_v · n̂)²  =  d_model * n̂ᵀ C n̂,   C = mean_v û_v û_vᵀ

        1: as aligned with the vocabulary as a random direction; 0: orthogonal to every token.
        ``"wendler2024"`` (the published notebooks): the rows are first multiplied by the final
        norm's gain ``g`` (``ũ_v = (u_v ⊙ g) / |u_v ⊙ g|``), the raw residual is scaled to unit
        length (``ĥ``), and the root-mean-square cosine is divided by the root-mean-square cosine
        between token directions themselves::

            energy(h) = sqrt(mean_v (ũ_v · ĥ)²) / sqrt(mean_{v,w} (ũ_v · ũ_w)²)
                      = sqrt(ĥᵀ C̃ ĥ) / ‖C̃‖_F,   C̃ = mean_v ũ_v ũ_vᵀ

        The two share no scale; a result records which one it holds. The second is NaN for a
        residual of several streams (hyper-connections).
        """
        if definition not in ENERGIES:
            raise ValueError(f"unknown energy definition {definition!r}; use one of {ENERGIES}")
        with torch.no_grad(), self._exact():
            hn = self.normed(h)
            flat = h.reshape(-1, h.shape[-1])
            return self._energy(flat, hn.reshape(-1, hn.shape[-1]), definition).reshape(hn.shape[:-1])

    def _energy(
        self, h: Float[Tensor, "rows d_model"], hn: Float[Tensor, "rows d_model"], definition: str
    ) -> Float[Tensor, " rows"]:
        if definition == "wendler2024":
            if h.shape[-1] != self.weight.shape[1]:  # a residual of several streams: no one direction
                return torch.full(h.shape[:1], float("nan"), device=hn.device)
            cov = self.token_covariance(weighted=True)
            unit = _unit(h.float())
            quadratic = torch.einsum("rd,de,re->r", unit, cov, unit).clamp_min(0)
            return quadratic.sqrt() / torch.linalg.matrix_norm(cov)
        unit = _unit(hn)
        return hn.shape[-1] * torch.einsum("rd,de,re->r", unit, self.token_covariance(), unit)

    def token_covariance(self, weighted: bool = False) -> Float[Tensor, "d_model d_model"]:
        """``C = mean_v û_v û_vᵀ`` over the unit-length unembedding rows (computed once, chunked);
        with ``weighted``, over the rows multiplied by the final norm's gain first (``C̃``)."""
        key = "weighted" if weighted else "plain"
        if key not in self._token_cov:
            d_model = self.weight.shape[1]
            gain = self.norm_gain() if weighted else None
            cov = torch.zeros(d_model, d_model, device=self.weight.device)
            step = max(1, self.max_chunk_elements // d_model)
            for start in range(0, self.vocab_size, step):
                rows = self.weight[start : start + step].float()
                rows = _unit(rows if gain is None else rows * gain)
                cov += rows.T @ rows
            self._token_cov[key] = cov / self.vocab_size
        return self._token_cov[key]

    def norm_gain(self) -> Float[Tensor, " d_model"]:
        """The final norm's per-dimension gain, read by probing it (no parameter names needed).

        For a zero-mean probe ``x`` of ±1 entries, an RMSNorm or LayerNorm gives
        ``norm(x) - norm(-x) = 2 c g ⊙ x`` with one constant ``c`` for every dimension (Gemma's
        ``1 + w`` included), so ``g ∝ (norm(x) - norm(-x)) / 2x``; the scale ``c`` cancels when the
        weighted rows are normalised. A model without a final norm has gain 1. (For a final module
        that is not an elementwise-affine normalisation this reads it as if it were one.)
        """
        d_model = self.weight.shape[1]
        signs = torch.ones(d_model, device=self.weight.device)
        signs[1::2] = -1
        probes = [signs.clone()]
        if d_model % 2:  # zero mean needs an even count of ±1: two probes, each leaving one entry 0
            probes[0][-1] = 0
            probes.append(torch.cat([signs.new_zeros(1), signs[:-1]]))
        gain = torch.zeros(d_model, device=self.weight.device)
        with torch.no_grad(), self._exact():
            for x in probes:
                x2 = torch.stack([x, -x])
                out = self.normed(x2)
                rows = x != 0
                gain[rows] = ((out[0] - out[1]) / (2 * x))[rows]
        return gain

    def _vocab_pass(self, hn: Float[Tensor, "rows d_model"], k: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One pass over the vocabulary in chunks: log-normaliser, entropy (nats), top-k logits.

        Keeps, per row, the running max ``m``, ``s = sum exp(l - m)`` and
        ``u = sum exp(l - m) * (l - m)``; then ``log Z = m + log s`` and
        ``H = log s - u / s``, both free of cancellation when the distribution is sharp.
        """
        # Each vocabulary column of a chunk costs one float32 logit per row, plus, for a bfloat16 or
        # float16 unembedding, its upcast row of d_model: both stay within max_chunk_elements.
        upcast = self.weight.dtype != torch.float32 and not self._mixed_precision()
        per_column = hn.shape[0] + (hn.shape[1] if upcast else 0)
        chunk = max(k, min(self.vocab_size, self.max_chunk_elements // per_column))
        m = s = u = top_val = top_ids = None
        for start in range(0, self.vocab_size, chunk):
            logits = self._logits(hn, start, start + chunk)
            val, idx = logits.topk(min(k, logits.shape[-1]), dim=-1)  # its first column is the max
            new_m = val[:, 0] if m is None else torch.maximum(m, val[:, 0])
            shifted = logits.sub_(new_m[:, None])  # in place: the logits are not needed again
            e = torch.exp(shifted)
            chunk_s = e.sum(-1)
            chunk_u = e.mul_(shifted).sum(-1)
            if m is None:
                s, u = chunk_s, chunk_u
            else:
                scale = torch.exp(m - new_m)
                u = scale * (u + s * (m - new_m)) + chunk_u
                s = scale * s + chunk_s
            m = new_m
            idx = idx + start
            if top_val is not None:
                val, pick = torch.cat([top_val, val], -1).topk(k, dim=-1)
                idx = torch.cat([top_ids, idx], -1).gather(-1, pick)
            top_val, top_ids = val, idx
            del logits, shifted, e  # free this chunk's tiles before the next one is allocated
        return m + torch.log(s), torch.log(s) - u / s, top_val, top_ids

    def _set_logits(
        self,
        hn: Float[Tensor, "batch layer d_model"],
        ids: Int[Tensor, "batch n_sets max_size"],
        mask: Bool[Tensor, "batch n_sets max_size"],
    ) -> Float[Tensor, "batch layer n_sets"]:
        """Log-sum of the logits of each set's members (gathering only their unembedding rows)."""
        batch, n_sets, width = ids.shape
        flat_ids = ids.reshape(batch, n_sets * width)
        rows = self.weight[flat_ids].float()  # [batch, n_sets * width, d_model]
        logits = torch.einsum("bld,bkd->blk", hn, rows)
        if self.bias is not None:
            logits = logits + self.bias[flat_ids].float()[:, None, :]
        logits = self._transform(logits).view(batch, hn.shape[1], n_sets, width)
        logits = logits.masked_fill(~mask[:, None], float("-inf"))
        return torch.logsumexp(logits, dim=-1)


def _unit(x: Float[Tensor, "rows d"]) -> Float[Tensor, "rows d"]:
    """Rows scaled to unit length (a zero row stays zero)."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
