"""Peak memory of the lens read-out: bounded by its tile, whatever the vocabulary, batch or depth.

For each unembedding dtype, vocabulary size and batch, it measures the read-out of one position at
every layer two ways, on the same random residuals and unembedding:

* ``latentlang``: :meth:`latentlang.core.lens.LogitLens.readout` (chunked vocabulary, running
  log-sum-exp, entropy and top-k, token-set gather);
* ``naive``: a full ``[batch, layer, vocab]`` float32 log-softmax, then the same token sets (the
  published notebooks' read-out, at the last position only).

It checks they agree, prints the peak bytes each allocated above what was live when it began, and
last one JSON line. The peak is read from CUDA's allocator on a GPU and from the PyTorch profiler's
allocation events on a CPU (:func:`peak_bytes`), so the two devices count the same tensors.

    python benchmarks/memory.py                       # CPU: d_model 640, 19 layers (Gemma-3-270M's)
    python benchmarks/memory.py --device cuda --d-model 4096 --layers 33 --prompts 1 64
"""

import argparse
import json
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from latentlang.core.lens import LogitLens, TokenSetIndex

T = TypeVar("T")


def peak_bytes(fn: Callable[[], T], device: torch.device | str) -> tuple[T, int]:
    """Run ``fn`` and return its result and the peak bytes of tensor memory it allocated on
    ``device``, above what was allocated when it started (weights and inputs are not counted).

    Args:
        fn: What to measure.
        device: A CUDA device (read from the caching allocator's statistics) or the CPU (read from
            the PyTorch profiler's allocation and free events, in time order).
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        result = fn()
        torch.cuda.synchronize(device)
        return result, torch.cuda.max_memory_allocated(device) - start
    if device.type != "cpu":
        raise ValueError(f"peak_bytes measures CUDA devices and the CPU, not {device.type!r}")
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    cpu = torch.autograd.DeviceType.CPU
    events = [
        e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]" and e.device_type() == cpu
    ]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()  # negative for a free
        peak = max(peak, live)
    return result, peak


def naive_readout(lens, h: torch.Tensor, set_ids: torch.Tensor) -> torch.Tensor:
    """Token-set probabilities from a full ``[batch, layer, vocab]`` log-softmax."""
    logp = torch.log_softmax(lens.logits(h), dim=-1)  # [batch, layer, vocab]
    gathered = logp.gather(-1, set_ids.flatten(1)[:, None].expand(-1, h.shape[1], -1))
    return gathered.view(*h.shape[:2], *set_ids.shape[1:]).logsumexp(-1).exp()


def compare(lens, h: torch.Tensor, ids: torch.Tensor, device: torch.device) -> tuple[int, int, float]:
    """Peak bytes of latentlang's and the naive read-out, and how far apart their answers are."""
    sets = TokenSetIndex(ids, torch.ones_like(ids, dtype=torch.bool))
    ours, ours_peak = peak_bytes(lambda: lens.readout(h, sets).set_logprob.exp(), device)
    naive, naive_peak = peak_bytes(lambda: naive_readout(lens, h, ids), device)
    diff = float((ours - naive).abs().max())
    assert diff < 1e-4, f"latentlang and the naive read-out disagree by {diff}"
    return ours_peak, naive_peak, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--d-model", type=int, default=640)
    parser.add_argument("--layers", type=int, default=19, help="residuals per prompt (blocks + 1)")
    parser.add_argument("--vocab", type=int, nargs="+", default=[32_000, 131_072, 262_144])
    parser.add_argument("--prompts", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    device = torch.device(args.device)
    rows = []
    gen = torch.Generator(device=device).manual_seed(0)
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        for vocab in args.vocab:
            weight = torch.randn(vocab, args.d_model, generator=gen, device=device).to(dtype)
            lens = LogitLens(nn.Identity(), weight)
            lens.token_covariance()  # computed once per model, not part of a read-out
            for n in args.prompts:
                h = torch.randn(n, args.layers, args.d_model, generator=gen, device=device).to(dtype)
                ids = torch.randint(0, vocab, (n, 3, 6), generator=gen, device=device)
                ours_peak, naive_peak, diff = compare(lens, h, ids, device)
                rows.append(
                    dict(
                        dtype=dtype_name,
                        vocab=vocab,
                        prompts=n,
                        latentlang_peak_bytes=ours_peak,
                        naive_peak_bytes=naive_peak,
                        max_abs_diff=diff,
                    )
                )
                print(
                    f"{dtype_name:9s} vocab {vocab:7d}  {n:3d} prompts x {args.layers} layers: "
                    f"latentlang {ours_peak / 2**20:8.1f} MiB   naive {naive_peak / 2**20:9.1f} MiB"
                )
    tile = LogitLens(nn.Identity(), torch.zeros(1, 1, device=device)).max_chunk_elements * 4
    print(
        f"latentlang's peak stays within {max(r['latentlang_peak_bytes'] for r in rows) / tile:.2f} "
        f"float32 tiles of {tile / 2**20:.0f} MiB; the naive peak grows with prompts x layers x vocab"
    )
    print(
        json.dumps(
            {
                "device": str(device),
                "d_model": args.d_model,
                "layers": args.layers,
                "tile_bytes": tile,
                "runs": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
