"""Generated tokens/s of the lens over generation against plain greedy decoding, side by side.

Both paths decode the same left-padded batches greedily with the KV cache through ``generate``:
``plain`` is Hugging Face's ``generate`` alone; ``latentlang`` is
:func:`latentlang.core.generate.generate_streaming` with the ``latentlang generate`` study's
per-step reader (the lens at every layer of each new position: top-k, entropy, language mass of
the top-k, reduced on the device, copied to the host). It checks that both generate the same
tokens, and prints tokens/s, the ratio (the lens's cost over decoding) and one JSON line.

    python benchmarks/generation.py --arch tiny-llama                  # CPU dry run
    python benchmarks/generation.py --arch llama-2-7b --device cuda --dtype bfloat16 --n-prompts 256
"""

import argparse
import json
import types

import torch
from throughput import ARCHS, build, timed

from latentlang.core.batch import left_pad
from latentlang.core.generate import generate_streaming
from latentlang.studies.generation import step_reader

N_LABELS = 8  # language labels of the random token tags


def plain(lm, batches, new_tokens: int) -> list[torch.Tensor]:
    """Greedy decoding alone: the new tokens of each batch."""
    outs = []
    for batch in batches:
        out = lm.model.generate(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            do_sample=False,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=0,
        )
        outs.append(out[:, batch.input_ids.shape[1] :].cpu())
    return outs


def streamed(lm, batches, new_tokens: int, top_k: int, tags: torch.Tensor) -> list[torch.Tensor]:
    """Greedy decoding with the study's lens reader at every step."""
    outs = []
    for batch in batches:
        new, _ = generate_streaming(lm, batch, new_tokens, step_reader(lm, top_k, tags, N_LABELS, []))
        outs.append(new.cpu())
    return outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), default="tiny-llama")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--n-prompts", type=int, default=32)
    parser.add_argument("--prompt-len", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    lm, prompts, _ = build(argparse.Namespace(**vars(args), shared_prefix=False))
    if lm.tokenizer is None:  # a random architecture has no tokenizer: generation needs a pad id
        lm.tokenizer = types.SimpleNamespace(pad_token_id=0, eos_token_id=None)
    lm.model.generation_config.eos_token_id = None  # every row decodes all the new tokens
    batches = [
        left_pad(prompts[i : i + args.batch_size], 0, lm.device)
        for i in range(0, len(prompts), args.batch_size)
    ]
    tags = torch.randint(
        0, N_LABELS, (lm.model.config.vocab_size,), generator=torch.Generator().manual_seed(2)
    )
    tags = tags.to(lm.device)
    t_plain, out_plain, peak_plain = timed(lambda: plain(lm, batches, args.new_tokens), lm.device)
    t_lens, out_lens, peak_lens = timed(
        lambda: streamed(lm, batches, args.new_tokens, args.top_k, tags), lm.device
    )
    same = sum(int((a == b[:, : a.shape[1]]).all()) for a, b in zip(out_plain, out_lens)) / len(batches)
    tokens = len(prompts) * args.new_tokens
    row = {
        "benchmark": "generation",
        "arch": args.arch,
        "device": str(lm.device),
        "dtype": args.dtype,
        "prompts": len(prompts),
        "new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "plain_tokens_per_s": tokens / t_plain,
        "latentlang_tokens_per_s": tokens / t_lens,
        "lens_over_plain": t_lens / t_plain,
        "batches_generating_the_same_tokens": same,
        "peak_bytes_plain": peak_plain,
        "peak_bytes_latentlang": peak_lens,
    }
    print(
        f"{args.arch} on {lm.device} ({args.dtype}), {len(prompts)} prompts × {args.new_tokens} new tokens: "
        f"plain {tokens / t_plain:.1f} tokens/s, with the lens at every layer {tokens / t_lens:.1f} tokens/s "
        f"({t_lens / t_plain:.2f}× the time); same tokens in {same:.0%} of batches"
    )
    print(json.dumps(row))


if __name__ == "__main__":
    main()
