"""``LensModel``: a causal LM, its tokenizer, and the parts the logit lens needs.

Build one from any Hugging Face causal LM with :meth:`LensModel.from_hf` (parts found by structure,
see :mod:`latentlang.core.parts`), or load one by name with :func:`latentlang.load_model`.
"""

from dataclasses import dataclass, field
from functools import cached_property

import torch
from jaxtyping import Int
from torch import Tensor, nn

from latentlang.config import cache_dir
from latentlang.core.backends import Backend, Captured, make_backend
from latentlang.core.batch import (
    MIN_PREFIX,
    Batch,
    SharedPrefix,
    common_prefix,
    compute_prefix,
    left_pad,
    suffix_batch,
)
from latentlang.core.lens import LensReadout, LogitLens, TokenSetIndex
from latentlang.core.parts import LensParts, find_parts, find_unembed
from latentlang.errors import LatentLangError
from latentlang.language.langid import VocabLanguages, tag_vocabulary
from latentlang.language.tokens import VocabIndex

PROBE_TEXT = "The capital of France is Paris, and the capital of Japan is"
#: Tokens per batch that an automatic batch size aims at, by where the model computes. On this
#: project's 2-core CPU, Gemma-3-270M reads 7.7 / 8.4 / 9.2 / 9.5 / 8.4 prompts/s in batches of
#: 4 / 8 / 16 / 32 / 64 prompts of ~73 tokens (``benchmarks/throughput.py --sweep-batch-sizes``);
#: a GPU (or NDIF) needs far larger batches to be busy (a guess until measured there). A batch that
#: runs out of memory is halved and the run goes on (latentlang.studies.runner), so a guess too large costs
#: one failed batch.
AUTO_BATCH_TOKENS = {"cpu": 2048, "gpu": 16384}
#: The most prompts an automatic batch holds, however short they are.
MAX_AUTO_BATCH = 256


@dataclass(repr=False)
class LensModel:
    """A causal LM ready for the logit lens.

    Attributes:
        model: The Hugging Face model (eval mode).
        tokenizer: Its tokenizer (``None`` for models used with token ids only, as in tests).
        parts: Decoder layers, final norm, unembedding and output transform.
        backend: How the model is run and read (:class:`~latentlang.core.backends.Backend`).
        name: The spec the model was loaded from, recorded in results.
    """

    model: nn.Module
    tokenizer: object | None
    parts: LensParts
    backend: Backend
    name: str = field(default="model")
    _shared: SharedPrefix | None = field(default=None, repr=False)

    @classmethod
    def from_hf(
        cls,
        model: nn.Module,
        tokenizer: object | None = None,
        *,
        name: str | None = None,
        backend: str | Backend = "hf",
        check: bool = True,
    ) -> "LensModel":
        """Find the lens parts of ``model`` and (by default) check that the lens reproduces it.

        Args:
            model: A Hugging Face causal LM (``AutoModelForCausalLM``).
            tokenizer: Its tokenizer, or ``None``.
            name: Name recorded in results; defaults to the model's ``name_or_path``.
            backend: ``"hf"``, ``"nnsight"``, ``"transformer_lens"`` or a
                :class:`~latentlang.core.backends.Backend`.
            check: Run :meth:`check_lens` once (one short forward pass).

        Raises:
            LatentLangError: A part was not found, or the lens does not reproduce the logits.
        """
        model.eval()
        probe = _probe_ids(model, tokenizer)
        parts = find_parts(model, probe)
        name = name or getattr(getattr(model, "config", None), "name_or_path", None) or type(model).__name__
        backend = make_backend(backend, tokenizer) if isinstance(backend, str) else backend
        lens_model = cls(model=model, tokenizer=tokenizer, parts=parts, backend=backend, name=name)
        if check:
            lens_model.check_lens(probe)
        return lens_model

    @cached_property
    def lens(self) -> LogitLens:
        """The logit lens built from this model's own final norm, unembedding and transform."""
        p = self.parts
        n = p.n_logits
        weight, bias = p.unembed.weight, p.unembed.bias
        if p.token_scale is not None:  # the unembedding module scales each token's logit (Dory)
            weight = weight * p.token_scale[:, None]
            bias = None if bias is None else bias * p.token_scale
        if n is not None:
            weight, bias = weight[:n], (None if bias is None else bias[:n])
        return LogitLens(p.final_norm, weight, bias, p.softcap, p.logit_scale)

    @cached_property
    def vocab(self) -> VocabIndex:
        """The tokenizer's vocabulary as bytes (for token sets)."""
        if self.tokenizer is None:
            raise LatentLangError("this LensModel has no tokenizer, so it has no token sets")
        return VocabIndex(self.tokenizer)

    @cached_property
    def languages(self) -> VocabLanguages:
        """A language tag for every token id (cached on disk per vocabulary)."""
        return tag_vocabulary(self.vocab, self.vocab_size, cache_dir() / "langid")

    @cached_property
    def token_tags(self) -> Int[Tensor, " vocab"]:
        """:attr:`languages` tags as a tensor on the model's device."""
        return torch.as_tensor(self.languages.tags, device=self.device)

    def token_text(self, token_id: int) -> str:
        """A token's text, with a leading space where the token starts a word."""
        return self.tokenizer.decode([int(token_id)]) if self.tokenizer is not None else str(token_id)

    @property
    def n_layers(self) -> int:
        """Number of decoder blocks, or of block calls for a looped model (results have
        ``n_layers + 1`` layers: 0 is the embedding)."""
        return self.parts.depth

    @property
    def device(self) -> torch.device:
        """Where inputs and results live: the unembedding's device (the CPU for a model whose
        weights are elsewhere, as in a remote run)."""
        device = self.parts.unembed.weight.device
        return torch.device("cpu") if device.type == "meta" else device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model computes in (for a remote model, the server's, once known)."""
        return self.backend.dtype or self.parts.unembed.weight.dtype

    @property
    def vocab_size(self) -> int:
        """The number of logits: the unembedding's rows, or as many as the model keeps."""
        return self.parts.n_logits or self.parts.unembed.weight.shape[0]

    def auto_batch_size(self, tokens_per_prompt: int) -> int:
        """Prompts per batch when none is given: about ``AUTO_BATCH_TOKENS`` tokens in all (a CPU
        budget, or a GPU one for a model on an accelerator or on NDIF), at most ``MAX_AUTO_BATCH``.

        Args:
            tokens_per_prompt: The longest prompt's length, plus any tokens it will generate.
        """
        # A remote model's device reads as the CPU (where its results land), but it runs on NDIF's GPUs.
        on_cpu = self.device.type == "cpu" and self.backend.local
        budget = AUTO_BATCH_TOKENS["cpu" if on_cpu else "gpu"]
        return max(1, min(MAX_AUTO_BATCH, budget // max(1, tokens_per_prompt)))

    def tokenize(
        self, prompts: list[str], add_special_tokens: bool = True, share_prefix: bool = False
    ) -> Batch:
        """Tokenize prompts into a left-padded batch.

        Args:
            prompts: The texts.
            add_special_tokens: Add the tokenizer's usual special tokens (BOS); ``False`` for text
                that already holds them, such as a chat template's output.
            share_prefix: If the prompts share a long token prefix (the same few-shot
                demonstrations), compute it once and run only the suffixes (see
                :mod:`latentlang.core.batch`); the batch's last positions are then per row.
        """
        if self.tokenizer is None:
            raise LatentLangError("this LensModel has no tokenizer; pass token ids to left_pad() instead")
        if any(not p for p in prompts):
            raise LatentLangError("cannot run an empty prompt; give every prompt some text")
        ids = self.tokenizer(list(prompts), add_special_tokens=add_special_tokens)["input_ids"]
        limit = self.max_positions
        too_long = [len(seq) for seq in ids if limit is not None and len(seq) > limit]
        if too_long:
            raise LatentLangError(
                f"a prompt has {max(too_long)} tokens but {self.name} reads at most {limit}; "
                "shorten it (fewer few-shot examples)"
            )
        return self.make_batch(ids, share_prefix)

    def make_batch(self, ids: list[list[int]], share_prefix: bool = False) -> Batch:
        """A batch of token-id lists: left-padded, or suffixes behind a cached shared prefix."""
        pad = _pad_id(self.tokenizer) if self.tokenizer is not None else 0
        # A model read in another way (prepended positions, looped blocks, ...) runs whole prompts:
        # the same numbers, without the shared prefix's speed-up (its cache is not tested there).
        shares = self.backend.shares_prefix and self.parts.reading.plain
        if share_prefix and shares:
            prefix = common_prefix(ids)
            if len(prefix) >= MIN_PREFIX:
                if self._shared is None or self._shared.ids != tuple(prefix):
                    self._shared = compute_prefix(self.model, prefix, self.device)
                return suffix_batch(self._shared, [s[len(prefix) :] for s in ids], pad, self.device)
        return left_pad(ids, pad, self.device)

    @property
    def max_positions(self) -> int | None:
        config = getattr(self.model, "config", None)
        config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)

    def capture(self, batch: Batch, positions: Int[Tensor, "batch pos"] | None = None) -> Captured:
        """Residuals at ``positions`` (default: each prompt's last token) after every layer."""
        positions = batch.last_positions() if positions is None else positions
        return self.backend.capture(self.model, self.parts, batch, positions)

    def read(
        self,
        batch: Batch,
        token_sets: TokenSetIndex | None = None,
        top_k: int = 10,
        positions: Int[Tensor, "batch pos"] | None = None,
        energy: str = "latentlang",
    ) -> LensReadout:
        """Capture the residuals at ``positions`` (default: each prompt's last token) and reduce
        them with the lens: token-set probabilities, entropy, top-k and energy (by the named
        definition, see :meth:`LogitLens.energy`) at every layer.

        Readout rows are (prompt, position) pairs, prompt-major; with ``token_sets`` (one list of
        sets per prompt) take one position per prompt. A remote model does both in one request.
        """
        positions = batch.last_positions() if positions is None else positions
        return self.backend.read(
            self.model, self.parts, self.lens, batch, positions, token_sets, top_k, energy
        )

    def __repr__(self) -> str:
        d_model = self.parts.unembed.weight.shape[1]
        where = self.backend.where or self.device  # a remote model runs elsewhere
        return (
            f"LensModel({self.name}: {type(self.model).__name__}, {self.n_layers} layers, d_model {d_model}, "
            f"vocab {self.vocab_size}, {str(self.dtype).removeprefix('torch.')} on {where}, "
            f"backend {self.backend.name})"
        )

    @torch.no_grad()
    def check_lens(self, input_ids: Int[Tensor, "1 seq"] | None = None) -> float:
        """Check that the lens at the last layer gives the model's own logits; return the max diff.

        Raises:
            LatentLangError: The difference exceeds what the model's dtype explains, which means
                the model transforms its output in a way latentlang does not reproduce.
        """
        input_ids = _probe_ids(self.model, self.tokenizer) if input_ids is None else input_ids
        batch = left_pad(input_ids.tolist(), 0, self.device)
        lens_logits, model_logits = self.backend.last_layer_logits(self.model, self.parts, self.lens, batch)
        # the model computed its logits in its own dtype (on NDIF, bfloat16 whatever is loaded here)
        full_precision = model_logits.dtype == torch.float32
        model_logits = model_logits.float()
        diff = float((lens_logits - model_logits).abs().max())
        tolerance = (1e-4 if full_precision else 3e-2) * max(1.0, float(model_logits.abs().max()))
        if not diff <= tolerance:
            raise LatentLangError(
                f"{self.name}: the logit lens at the last layer differs from the model's logits by "
                f"{diff:.3g} (tolerance {tolerance:.3g}); the model transforms its output in a way "
                "latentlang does not know, so its lens readings would be wrong"
            )
        return diff


def _probe_ids(model: nn.Module, tokenizer) -> Int[Tensor, "1 seq"]:
    if tokenizer is not None:
        return torch.tensor([tokenizer(PROBE_TEXT)["input_ids"]])
    vocab = find_unembed(model).weight.shape[0]
    return torch.arange(1, 9)[None] % vocab


def _pad_id(tokenizer) -> int:
    """Any id works for padding (masked out); prefer the tokenizer's own pad or eos token."""
    return next((i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id) if i is not None), 0)
