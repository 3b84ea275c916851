"""Throughput of latentlang's lens path against the published notebooks' style, side by side.

Four paths on the same model and prompts, each timed after a warm-up:

* ``baseline``: one prompt at a time, the lens at every position of every layer (full-vocabulary
  log-softmax), token-set probabilities read at the last position (the published notebooks);
* ``baseline_last``: one prompt at a time, the lens at the last position only;
* ``latentlang``: left-padded batches, the last position only, the chunked read-out on the device
  (token sets, entropy, energy, top-k, language mass);
* ``forward_only``: the same batches through the model with no lens (the ceiling for unique
  prompts);
* with ``--shared-prefix`` (prompts = one few-shot prefix + each query), also ``latentlang_cached``:
  the prefix's KV cache computed once, each batch running only its suffixes.

It checks that ``baseline`` and ``latentlang`` give the same token-set probabilities, prints
prompts/s, ratios, % of the FLOP floor (GPU, with ``--peak-tflops``) and peak memory, and last one
JSON line. Memory is also measured stage by stage on the first batch (:func:`stage_memory`): the lens
read-out against the forward pass's own activations.

    python benchmarks/throughput.py                                  # CPU, Gemma-3-270M, translation prompts
    python benchmarks/throughput.py --arch llama-2-7b --device cuda --dtype bfloat16 --n-prompts 512
"""

import argparse
import json
import time

import numpy as np
import torch

import latentlang
from latentlang.core.batch import left_pad
from latentlang.core.lens import TokenSetIndex
from latentlang.language.langid import language_mass

#: Real-size architectures for GPU timing, randomly initialised (speed does not depend on weights).
ARCHS = {
    "llama-2-7b": dict(
        model_type="llama",
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
    ),
    "qwen2.5-7b": dict(
        model_type="qwen2",
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        vocab_size=152064,
    ),
    "tiny-llama": dict(
        model_type="llama",
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=8,
        vocab_size=32000,
    ),
}


def build(args) -> tuple[latentlang.LensModel, list[list[int]], list[list[list[int]]]]:
    """The model, the prompts as token ids, and three token sets per prompt."""
    if args.arch:
        from transformers import AutoConfig, AutoModelForCausalLM

        spec = dict(ARCHS[args.arch])
        config = AutoConfig.for_model(spec.pop("model_type"), **spec)
        torch.manual_seed(0)
        with torch.device(args.device):
            model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, args.dtype))
        lm = latentlang.LensModel.from_hf(model, name=args.arch, check=False)
        gen = torch.Generator().manual_seed(1)
        lengths = torch.randint(args.prompt_len - 8, args.prompt_len + 1, (args.n_prompts,), generator=gen)
        prompts = [torch.randint(10, config.vocab_size, (int(n),), generator=gen).tolist() for n in lengths]
        if args.shared_prefix:  # one prefix, then 6-10 tokens of query each
            prefix = prompts[0][: args.prompt_len - 10]
            prompts = [prefix + p[-int(n) + len(prefix) :] for p, n in zip(prompts, lengths)]
        sets = [
            [torch.randint(10, config.vocab_size, (6,), generator=gen).tolist() for _ in range(3)]
            for _ in prompts
        ]
        return lm, prompts, sets
    from latentlang.studies.prompts import translation_prompts
    from latentlang.studies.readout import prepare

    lm = latentlang.load_model(args.model, device=args.device, dtype=args.dtype)
    tasks = translation_prompts(latentlang.load_words(), "fr", "zh", shared_demos=args.shared_prefix)
    prepared = prepare(lm, tasks, ["en", "fr", "zh"])
    prompts = [lm.tokenizer(p.text)["input_ids"] for p in prepared.prompts][: args.n_prompts]
    sets = [[list(s.ids) for s in row] for row in prepared.token_sets][: args.n_prompts]
    return lm, prompts, sets


def baseline(lm, prompts, sets, every_position: bool) -> np.ndarray:
    """One prompt at a time; full-vocabulary log-softmax at every (or the last) position."""
    out = []
    for ids, token_sets in zip(prompts, sets):
        batch = left_pad([ids], 0, lm.device)
        positions = torch.arange(len(ids), device=lm.device)[None] if every_position else None
        residuals = lm.capture(batch, positions).residuals[0]  # [layer, pos, d]
        logp = torch.log_softmax(lm.lens.logits(residuals), dim=-1)[:, -1]  # all positions decoded, last read
        out.append(torch.stack([logp[:, s].logsumexp(-1) for s in token_sets], -1).exp().cpu().numpy())
    return np.stack(out)


def batched(lm, prompts, sets, batch_size: int, lens: bool, share_prefix: bool = False) -> np.ndarray | None:
    """Batches; with ``lens`` the full latentlang read-out, else the forward pass only; with
    ``share_prefix`` the common prefix is computed once (a new cache for each timed run)."""
    tags = torch.zeros(lm.vocab_size, dtype=torch.long, device=lm.device)
    lm._shared = None
    out = []
    for start in range(0, len(prompts), batch_size):
        batch = lm.make_batch(prompts[start : start + batch_size], share_prefix)
        if not lens:
            with torch.no_grad():
                from latentlang.core.batch import forward_kwargs

                lm.model(**forward_kwargs(lm.model, batch)[0])
            continue
        residuals = lm.capture(batch).residuals[:, :, -1]
        index = TokenSetIndex.from_lists(sets[start : start + batch_size], lm.device)
        readout = lm.lens.readout(residuals, index, top_k=10)
        language_mass(readout.top_ids, readout.top_logprob, tags, 2)
        out.append(readout.set_logprob.exp().cpu().numpy())
    return np.concatenate(out) if lens else None


def stage_memory(lm, prompts, sets, batch_size: int) -> dict[str, int]:
    """Peak bytes of each stage on the first batch, above what was live when it began: the forward
    pass alone (its activations), the capture (forward pass + hooks), the lens read-out, and a full
    ``[batch, layer, vocab]`` log-softmax read-out (the notebooks' way) on the same residuals."""
    from memory import naive_readout, peak_bytes

    from latentlang.core.batch import forward_kwargs

    batch = lm.make_batch(prompts[:batch_size])
    index = TokenSetIndex.from_lists(sets[:batch_size], lm.device)
    _, forward = peak_bytes(lambda: lm.model(**forward_kwargs(lm.model, batch)[0]), lm.device)
    captured, capture = peak_bytes(lambda: lm.capture(batch).residuals[:, :, -1], lm.device)
    _, lens = peak_bytes(lambda: lm.lens.readout(captured, index, top_k=10), lm.device)
    _, naive = peak_bytes(lambda: naive_readout(lm.lens, captured, index.ids), lm.device)
    _, both = peak_bytes(lambda: lm.lens.readout(lm.capture(batch).residuals[:, :, -1], index), lm.device)
    return {
        "latentlang_batch_peak_bytes": both,
        "forward_activation_peak_bytes": forward,
        "capture_peak_bytes": capture,
        "lens_peak_bytes": lens,
        "naive_lens_peak_bytes": naive,
    }


def timed(fn, device, repeats: int = 1):
    """Run ``fn`` once to warm up, then ``repeats`` times.

    Returns:
        Seconds per run, the last output, and the peak GPU memory of the timed runs, weights
        included (``None`` on CPU, where :func:`stage_memory` measures one batch instead).
    """
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(repeats):
        result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - start) / repeats
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return seconds, result, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=latentlang.DEFAULT_MODEL, help="a real model (ignored with --arch)"
    )
    parser.add_argument("--arch", choices=sorted(ARCHS), help="a randomly initialised architecture instead")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--n-prompts", type=int, default=48)
    parser.add_argument("--baseline-prompts", type=int, default=8, help="prompts timed on the slow baselines")
    parser.add_argument("--prompt-len", type=int, default=64, help="tokens per prompt (with --arch)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the device's bf16 peak, for the FLOP floor"
    )
    parser.add_argument("--shared-prefix", action="store_true", help="prompts share one few-shot prefix")
    parser.add_argument(
        "--sweep-batch-sizes",
        type=int,
        nargs="+",
        help="only time latentlang's path at each of these batch sizes, side by side, and stop",
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    lm, prompts, sets = build(args)
    if args.sweep_batch_sizes:
        for size in args.sweep_batch_sizes:
            seconds, _, _ = timed(lambda: batched(lm, prompts, sets, size, True), lm.device)  # noqa: B023
            print(f"  batch {size:4d}: latentlang {len(prompts) / seconds:8.2f} prompts/s")
        return
    device = lm.device
    few = slice(0, args.baseline_prompts)
    t_base, p_base, _ = timed(lambda: baseline(lm, prompts[few], sets[few], True), device)
    t_last, _, _ = timed(lambda: baseline(lm, prompts[few], sets[few], False), device)
    t_ll, p_ll, peak_ll = timed(lambda: batched(lm, prompts, sets, args.batch_size, True), device)
    t_fwd, _, peak_fwd = timed(lambda: batched(lm, prompts, sets, args.batch_size, False), device)
    if args.shared_prefix:
        t_cached, p_cached, _ = timed(lambda: batched(lm, prompts, sets, args.batch_size, True, True), device)
    n_few, n = len(prompts[few]), len(prompts)
    tolerance = 1e-4 if lm.dtype == torch.float32 else 2e-2
    diff = float(np.abs(p_base - p_ll[few]).max())
    assert diff <= tolerance, f"baseline and latentlang disagree by {diff}"
    rates = {
        "baseline": n_few / t_base,
        "baseline_last": n_few / t_last,
        "latentlang": n / t_ll,
        "forward_only": n / t_fwd,
    }
    if args.shared_prefix:
        diff = max(diff, float(np.abs(p_cached - p_ll).max()))
        assert diff <= tolerance, f"cached and uncached latentlang disagree by {diff}"
        rates["latentlang_cached"] = n / t_cached
    params = sum(p.numel() for p in lm.model.parameters())
    tokens = float(np.mean([len(p) for p in prompts]))
    floor = None if args.peak_tflops is None else args.peak_tflops * 1e12 / (2 * params * tokens)
    print(
        f"{args.arch or args.model} on {device} ({lm.dtype}), {n} prompts of ~{tokens:.0f} tokens, "
        f"batch {args.batch_size}; token-set probabilities agree within {diff:.1e}"
    )
    for name, rate in rates.items():
        extra = f"  ({rate / floor:.0%} of the FLOP floor {floor:.0f}/s)" if floor else ""
        print(f"  {name:14s} {rate:9.2f} prompts/s{extra}")
    print(
        f"  latentlang / baseline = {rates['latentlang'] / rates['baseline']:.1f}x; "
        f"latentlang / forward only = {rates['latentlang'] / rates['forward_only']:.0%}"
    )
    memory = stage_memory(lm, prompts, sets, args.batch_size)
    weights = sum(t.numel() * t.element_size() for t in (*lm.model.parameters(), *lm.model.buffers()))
    if peak_ll is None:  # CPU: the weights plus one measured batch (see memory.peak_bytes)
        peak_ll = weights + memory["latentlang_batch_peak_bytes"]
        peak_fwd = weights + memory["forward_activation_peak_bytes"]
    mib = 2**20
    print(
        f"  peak memory: latentlang {peak_ll / mib:.0f} MiB, forward only {peak_fwd / mib:.0f} MiB "
        f"(weights {weights / mib:.0f} MiB)"
    )
    forward_mib, lens_mib, naive_mib = (
        memory[key] / mib
        for key in ("forward_activation_peak_bytes", "lens_peak_bytes", "naive_lens_peak_bytes")
    )
    print(
        f"  first batch, above the weights: forward activations {forward_mib:.1f} MiB; "
        f"lens read-out {lens_mib:.1f} MiB ({lens_mib / forward_mib:.0%} of them); "
        f"full-vocabulary read-out {naive_mib:.1f} MiB"
    )
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                "model": args.arch or args.model,
                "dtype": str(lm.dtype).removeprefix("torch."),
                "n_prompts": n,
                "prompt_tokens": tokens,
                "batch_size": args.batch_size,
                "baseline_prompts_per_s": rates["baseline"],
                "baseline_last_prompts_per_s": rates["baseline_last"],
                "latentlang_prompts_per_s": rates["latentlang"],
                "forward_only_prompts_per_s": rates["forward_only"],
                "latentlang_cached_prompts_per_s": rates.get("latentlang_cached"),
                "speedup": rates["latentlang"] / rates["baseline"],
                "of_forward": rates["latentlang"] / rates["forward_only"],
                "flop_floor_prompts_per_s": floor,
                "peak_mem_bytes": peak_ll,
                "forward_peak_mem_bytes": peak_fwd,
                **memory,
                "max_abs_diff": diff,
            }
        )
    )


if __name__ == "__main__":
    main()
