"""The lens over generated text on the default model: the shipped text openings in en, de, fr, ru,
zh and ja continued greedily, read at every position and layer; per language, the share of the
dictionary words (the shipped word lists) routed via English, with Wilson intervals, and the
trace summaries (the share of positions whose middle layers decode English, the text's own
language or another; language switch points).

Writes figures/generate/ (generation.csv, words.csv, routing.csv, traces.csv, texts.csv, the
first text's token grid, language mass and text-0.html, routing.png/pdf) and the measured
numbers into figures/README.md.

    python analyses/generate.py [--model SPEC] [--max-new-tokens 32] [--device cuda]
"""

from _common import parser, run_named, update_readme

import latentlang
from latentlang.results.measures import wilson_interval
from latentlang.studies.generation import GenerateConfig, run_generation


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--max-new-tokens", type=int, default=32, help="tokens generated per prompt")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    config = GenerateConfig(model=args.model, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    result = run_named({"generate": config}, lm, run_generation, args.out)["generate"]
    update_readme("generate", describe(result))


def describe(result) -> str:
    """The routing shares per language (all words, and the generated part alone) and the trace
    summaries per language, as markdown."""
    words = result.words()
    shares = result.routing()
    pooled = words.groupby("lang")["routed_via_english"].agg(["sum", "size"]).reset_index()
    low, high = wilson_interval(pooled["sum"].to_numpy(), pooled["size"].to_numpy())
    rows = [
        f"**`generate/`** ({len(result.texts)} texts, {result.meta['max_new_tokens']} new tokens each, "
        f"{len(words)} dictionary words read).",
        "",
        "| language | words routed via English (95% Wilson CI) | in the prompt | in the generated text |",
        "|---|---|---|---|",
    ]
    for (lang, k, n), lo, hi in zip(pooled.itertuples(index=False), low, high):
        part = {p: shares[(shares["lang"] == lang) & (shares["part"] == p)] for p in ("prompt", "text")}
        cells = [
            f"{int(s['routed'].iloc[0])}/{int(s['n'].iloc[0])}" if len(s) else "0/0" for s in part.values()
        ]
        rows.append(f"| {lang} | {k}/{n} = {k / n:.2f} ({lo:.2f}–{hi:.2f}) | {cells[0]} | {cells[1]} |")
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


if __name__ == "__main__":
    main()
