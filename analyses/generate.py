"""The lens over generated text on the default model: the shipped text openings in en, de, fr, ru,
zh and ja continued greedily (64 tokens), read at every position and layer; per language, the
share of the dictionary words (the shipped word lists) routed via English, with Wilson intervals, and the
trace summaries (the share of positions whose middle layers decode English, the text's own
language or another; language switch points).

Writes figures/generate/ (generation.csv, words.csv, routing.csv, traces.csv, texts.csv, the
first text's token grid, language mass and text-0.html, routing.png/pdf) and the measured
numbers into figures/README.md.

    python analyses/generate.py [--model SPEC] [--max-new-tokens 64] [--device cuda]
"""

import numpy as np
from _common import parser, run_named, update_readme

import latentlang
from latentlang.results.measures import wilson_interval
from latentlang.studies.generation import GenerateConfig, run_generation


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per prompt")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    config = GenerateConfig(model=args.model, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    result = run_named({"generate": config}, lm, run_generation, args.out)["generate"]
    update_readme("generate", describe(result))


def describe(result) -> str:
    """The routing shares per language (every word read, and each word's first occurrence per
    text), split by part, and the trace summaries per language, as markdown."""
    words = result.words()
    firsts = words.drop_duplicates(["text", "part", "lang", "word"])
    rows = [
        f"**`generate/`** ({len(result.texts)} texts, {result.meta['max_new_tokens']} new tokens each; "
        f"{len(words)} dictionary words read, {len(firsts)} first occurrences per text).",
        "",
        "| language | routed via English: every word read (95% Wilson CI) | first occurrences per text "
        "| prompt / generated text (first occurrences) | distinct words |",
        "|---|---|---|---|---|",
    ]
    by_part = result.routing(first=True)
    for lang in sorted(set(words["lang"])):
        cells = [_share(t[t["lang"] == lang]["routed_via_english"]) for t in (words, firsts)]
        parts = [by_part[(by_part["lang"] == lang) & (by_part["part"] == p)] for p in ("prompt", "text")]
        split = " / ".join(f"{int(p['routed'].sum())}/{int(p['n'].sum())}" for p in parts)
        distinct = ", ".join(sorted(set(words[words["lang"] == lang]["word"])))
        rows.append(f"| {lang} | {cells[0]} | {cells[1]} | {split} | {distinct} |")
    traces = result.traces().groupby("lang")
    rows += [
        "",
        "| text language | texts | positions | middle layers decode English | own language | other "
        "| switches per text |",
        "|---|---|---|---|---|---|---|",
    ]
    for lang, t in traces:
        rows.append(
            f"| {lang} | {len(t)} | {int(t['n_positions'].sum())} | {t['middle_en'].mean():.2f} | "
            f"{t['middle_own'].mean():.2f} | {t['middle_other'].mean():.2f} | {t['n_switches'].mean():.1f} |"
        )
    return "\n".join(rows)


def _share(routed) -> str:
    k, n = int(routed.sum()), len(routed)
    low, high = wilson_interval(np.array([k]), np.array([n]))
    return f"{k}/{n} = {k / n:.2f} ({low[0]:.2f}–{high[0]:.2f})"


if __name__ == "__main__":
    main()
