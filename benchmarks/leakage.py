"""Items/s of the leakage study, batched against one item at a time, side by side in one run.

Both paths are the study's own (:func:`latentlang.studies.answers.read_answers` through the
shared runner): greedy generation that reads the residual stream at the answer position as it
goes (one forward pass per token, the prompt's pass shared by the lens read-out and generation),
in length-sorted left-padded batches, or one item per batch. It checks that both give the same
answers and option distributions, and prints items/s, the ratio and one JSON line.

    python benchmarks/leakage.py                                   # SmolLM2-135M-Instruct on this CPU
    python benchmarks/leakage.py --model gemma-3-270m --items 32 --batch-size 16
"""

import argparse
import json
import time

import numpy as np

import latentlang
from latentlang.studies.leakage import LEAKAGE, LeakageConfig
from latentlang.studies.runner import run_work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--items", type=int, default=24, help="items timed (shipped questions, en, persona)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: automatic")
    parser.add_argument("--max-new-tokens", type=int, default=15)
    args = parser.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    config = LeakageConfig(
        langs=["en"],
        framings=["persona"],
        countries=["Egypt"],
        limit=args.items,
        max_new_tokens=args.max_new_tokens,
    )
    work = LEAKAGE.items(config, lm)

    def timed(batch_size: int | None):
        start = time.perf_counter()
        result = run_work(
            lm, work, LEAKAGE.run_batch, LEAKAGE.result, settings={}, batch_size=batch_size, progress=False
        )
        return result, time.perf_counter() - start

    timed(2)  # warm-up
    single, single_s = timed(1)
    batched, batched_s = timed(args.batch_size)
    same_answers = bool((single.items["answer"] == batched.items["answer"]).all())
    gap = float(np.nanmax(np.abs(single.final_probs - batched.final_probs)))
    n = len(work.items)
    row = {
        "model": lm.name,
        "device": str(lm.device),
        "items": n,
        "one_at_a_time_items_per_s": n / single_s,
        "batched_items_per_s": n / batched_s,
        "ratio": single_s / batched_s,
        "same_answers": same_answers,
        "max_final_prob_gap": gap,
    }
    print(f"{lm.name} on {lm.device}, {n} items, up to {args.max_new_tokens} new tokens each")
    print(f"  one at a time: {row['one_at_a_time_items_per_s']:.2f} items/s")
    print(f"  batched:       {row['batched_items_per_s']:.2f} items/s  ({row['ratio']:.1f}x)")
    print(f"  same answers: {same_answers}; largest gap in the model's option probabilities {gap:.1e}")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
