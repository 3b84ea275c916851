"""The chunked read-out equals a dense reference and its memory stays within a bounded tile."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from latentlang.core.lens import LogitLens, TokenSetIndex
from latentlang.language.langid import language_mass


def _lens(vocab=1000, d=16, softcap=None, bias=True, chunk=1 << 24, seed=0) -> LogitLens:
    gen = torch.Generator().manual_seed(seed)
    norm = nn.LayerNorm(d)
    with torch.no_grad():
        norm.weight.copy_(1 + 0.3 * torch.randn(d, generator=gen))
    weight = 3 * torch.randn(vocab, d, generator=gen)
    b = torch.randn(vocab, generator=gen) if bias else None
    return LogitLens(norm, weight, b, softcap=softcap, max_chunk_elements=chunk)


def _dense(lens: LogitLens, h, sets: TokenSetIndex, k: int):
    logp = torch.log_softmax(lens.logits(h), -1)  # [batch, layer, vocab]
    entropy = -(logp.exp() * logp).sum(-1) / math.log(2)
    top = logp.topk(k, -1)
    set_lp = torch.stack(
        [
            torch.stack(
                [
                    torch.logsumexp(logp[b][:, sets.ids[b, s][sets.mask[b, s]]], -1)
                    for s in range(sets.ids.shape[1])
                ],
                -1,
            )
            for b in range(h.shape[0])
        ]
    )
    return set_lp, entropy, top.indices, top.values


@pytest.mark.parametrize("chunk", [1 << 24, 997, 64])
@pytest.mark.parametrize("softcap", [None, 30.0])
def test_chunked_readout_equals_dense(chunk, softcap):
    lens = _lens(softcap=softcap, chunk=chunk)
    h = 2 * torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(1))
    sets = TokenSetIndex.from_lists([[[1, 2, 3], [40]], [[7], [8, 9]], [[999, 0], [500, 501, 502, 503]]])
    out = lens.readout(h, sets, top_k=7)
    set_lp, entropy, top_ids, top_lp = _dense(lens, h, sets, 7)
    assert_close(out.set_logprob, set_lp, atol=1e-5, rtol=1e-5)
    assert_close(out.entropy_bits, entropy, atol=1e-4, rtol=1e-5)
    assert torch.equal(out.top_ids, top_ids)
    assert_close(out.top_logprob, top_lp, atol=1e-5, rtol=1e-5)


def test_readout_stays_float32_under_autocast():
    """NDIF runs every request under bfloat16 autocast; the lens's reductions must not follow it."""
    lens = _lens(chunk=997)
    h = 2 * torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(1))
    sets = TokenSetIndex.from_lists([[[1, 2, 3]], [[7]], [[999, 0]]])
    plain = lens.readout(h, sets, top_k=7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = lens.readout(h, sets, top_k=7)
        logits = lens.logits(h)
    for a, b in zip(plain, cast):
        assert b.dtype == a.dtype
        assert_close(b, a, atol=0, rtol=0)
    assert logits.dtype == torch.float32


def test_sharp_distribution_entropy_is_accurate():
    """A nearly one-hot distribution: entropy must not drown in cancellation."""
    lens = LogitLens(nn.Identity(), torch.eye(4) * 40, max_chunk_elements=2)
    out = lens.readout(torch.tensor([[[1.0, 0.0, 0.0, 0.0]]]), None, top_k=2)
    p = torch.softmax(torch.tensor([40.0, 0, 0, 0], dtype=torch.float64), 0)
    exact = float(-(p * p.log()).sum() / math.log(2))
    assert out.entropy_bits.item() == pytest.approx(exact, rel=1e-3)


def test_logit_tiles_stay_bounded():
    lens = _lens(vocab=5000, chunk=4096)
    shapes = []
    original = lens._logits

    def spy(hn, start=0, stop=None):
        out = original(hn, start, stop)
        shapes.append(tuple(out.shape))
        return out

    lens._logits = spy
    lens.readout(torch.randn(8, 10, 16), None, top_k=5)
    assert shapes and max(r * c for r, c in shapes) <= 4096
    assert sum(c for r, c in shapes if r == shapes[0][0]) >= 5000  # the whole vocabulary was seen


def _peak_bytes():
    """``benchmarks/memory.py``'s measurement of peak tensor memory (the profiler's events on a CPU)."""
    path = Path(__file__).parents[1] / "benchmarks" / "memory.py"
    spec = importlib.util.spec_from_file_location("latentlang_memory_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.peak_bytes


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_readout_memory_does_not_grow_with_vocabulary_or_rows(dtype):
    peak_bytes = _peak_bytes()
    tile = 1 << 16
    peaks = {}
    for vocab in (2_000, 50_000):
        weight = torch.randn(vocab, 32, generator=torch.Generator().manual_seed(vocab)).to(dtype)
        lens = LogitLens(nn.Identity(), weight, max_chunk_elements=tile)
        lens.token_covariance()  # once per model, not part of a read-out
        for prompts in (1, 16):
            h = torch.randn(prompts, 10, 32, dtype=dtype)
            sets = TokenSetIndex.from_lists([[[1, 2], [3]]] * prompts)
            _, peaks[vocab, prompts] = peak_bytes(lambda: lens.readout(h, sets, top_k=5), "cpu")  # noqa: B023
    # About two float32 tiles (a chunk's logits and their exponentials; a bfloat16 unembedding's
    # upcast rows count in the same tile), against 3.2 MB for the full [16, 10, 50_000] logits.
    assert max(peaks.values()) <= 2.5 * 4 * tile, peaks
    assert peaks[50_000, 16] > 0


def test_gpu_mixed_precision_path_composes(monkeypatch):
    """On CUDA a bfloat16 unembedding is multiplied by ``torch.mm(..., out_dtype=float32)``; CI has
    no GPU, so run that path on the meta device (shapes and dtypes only, no values)."""
    import latentlang.core.lens as lens_module

    monkeypatch.setattr(lens_module, "MIXED_PRECISION_DEVICES", {"meta"})
    weight = torch.empty(1000, 16, dtype=torch.bfloat16, device="meta")
    lens = LogitLens(nn.Identity(), weight, max_chunk_elements=4096)
    assert lens._mixed_precision()
    h = torch.empty(3, 5, 16, dtype=torch.bfloat16, device="meta")
    ids = torch.zeros(3, 2, 4, dtype=torch.long, device="meta")
    set_lp, entropy, top_ids, top_lp, energy = lens.reduce(h, ids, torch.ones_like(ids, dtype=torch.bool), 7)
    assert set_lp.shape == (3, 5, 2) and entropy.shape == energy.shape == (3, 5)
    assert top_ids.shape == top_lp.shape == (3, 5, 7) and top_ids.dtype == torch.long
    assert {t.dtype for t in (set_lp, entropy, top_lp, energy)} == {torch.float32}
    assert not LogitLens(nn.Identity(), torch.zeros(4, 2, dtype=torch.bfloat16))._mixed_precision()  # CPU
    monkeypatch.setattr(torch.ops.aten, "mm", object())  # an older torch, without aten::mm.dtype:
    assert not lens._mixed_precision()  # the float32 upcast instead


def test_language_mass_sums_top_k_probability_by_tag():
    top_ids = torch.tensor([[[0, 2, 3]]])
    top_logprob = torch.log(torch.tensor([[[0.5, 0.2, 0.1]]]))
    tags = torch.tensor([1, 0, 1, 2])
    mass = language_mass(top_ids, top_logprob, tags, 3)
    assert_close(mass, torch.tensor([[[0.0, 0.7, 0.1]]]))


def test_an_empty_token_set_has_probability_zero():
    lens = _lens()
    sets = TokenSetIndex.from_lists([[[], [1, 2]], [[], []]])
    readout = lens.readout(torch.randn(2, 3, 16), sets, top_k=2)
    probs = readout.set_logprob.exp()
    assert torch.equal(probs[:, :, 0], torch.zeros(2, 3)) and torch.equal(probs[1], torch.zeros(3, 2))
    assert (probs[0, :, 1] > 0).all() and not probs.isnan().any()


def test_shape_annotations_are_checked_at_run_time():
    """conftest installs jaxtyping's import hook: a residual without its layer axis is refused."""
    from jaxtyping import TypeCheckError

    with pytest.raises(TypeCheckError):
        _lens().readout(torch.randn(3, 16), None, top_k=2)


def test_energy_on_constructed_vocabularies():
    """Tokens along the first k of d axes: a vector in their span has energy d/k, one
    orthogonal to them 0; a vocabulary spread evenly over all axes gives every vector energy 1."""
    d, k = 8, 2
    rows = torch.cat([torch.eye(d)[:k] * 5, -torch.eye(d)[:k] * 0.1])  # lengths do not matter
    lens = LogitLens(nn.Identity(), rows, max_chunk_elements=8)  # forces several chunks
    inside = torch.tensor([[3.0, -1.0, 0, 0, 0, 0, 0, 0]])
    outside = torch.tensor([[0.0, 0, 2.0, 0, 0, 1.0, 0, 0]])
    assert lens.energy(inside).item() == pytest.approx(d / k)
    assert lens.energy(outside).item() == pytest.approx(0.0, abs=1e-6)
    spread = LogitLens(nn.Identity(), torch.cat([torch.eye(d), -2 * torch.eye(d)]))
    assert_close(spread.energy(torch.randn(5, d)), torch.ones(5))


def test_readout_reports_energy_of_the_normed_residual():
    lens = _lens()
    h = torch.randn(2, 3, 16)
    assert_close(lens.readout(h, None, 2).energy, lens.energy(h))


class GemmaStyleRMSNorm(nn.Module):
    """RMSNorm that scales by ``1 + w`` (Gemma): its gain is not its ``weight``."""

    def __init__(self, d: int, seed: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * (1 + self.weight)


def notebook_energy(h, unembed, gain):
    """Token energy as the published notebooks compute it, restated step by step: rows weighted by
    the final norm's gain and normalised, the residual RMS-normalised then unit-normalised, the RMS
    cosine divided by the RMS token-token cosine."""
    u = unembed * gain[None]
    u = u / (u**2).sum(dim=1, keepdim=True) ** 0.5
    avg_uu = (((u.T @ u) ** 2).sum() / u.shape[0] ** 2) ** 0.5
    latents = h / ((h**2).mean(dim=-1, keepdim=True)) ** 0.5
    latents = latents / latents.norm(dim=-1, keepdim=True)
    return ((u @ latents.T) ** 2).mean(dim=0) ** 0.5 / avg_uu


@pytest.mark.parametrize("d", [16, 15])
def test_wendler_energy_is_the_notebooks(d):
    """With the gain read from the norm itself (Gemma's 1 + w, LayerNorm's weight, none), in
    chunks, for even and odd widths."""
    gen = torch.Generator().manual_seed(1)
    weight = 3 * torch.randn(200, d, generator=gen)
    h = 5 * torch.randn(7, d, generator=gen)
    layer_norm = nn.LayerNorm(d)
    with torch.no_grad():
        layer_norm.weight.copy_(1 + torch.randn(d, generator=gen))
        layer_norm.bias.copy_(torch.randn(d, generator=gen))
    gemma_norm = GemmaStyleRMSNorm(d)
    for norm, gain in [
        (gemma_norm, 1 + gemma_norm.weight.detach()),
        (layer_norm, layer_norm.weight.detach()),
        (nn.Identity(), torch.ones(d)),
    ]:
        lens = LogitLens(norm, weight, max_chunk_elements=4 * d)  # several chunks
        assert_close(lens.norm_gain() / lens.norm_gain()[0], gain / gain[0], rtol=1e-4, atol=1e-5)
        assert_close(lens.energy(h, "wendler2024"), notebook_energy(h, weight, gain), rtol=1e-5, atol=1e-6)
        readout = lens.readout(h[:, None].expand(7, 2, d).contiguous(), None, 2, energy="wendler2024")
        assert_close(readout.energy[:, 1], notebook_energy(h, weight, gain), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown energy"):
        lens.energy(h, "random")
