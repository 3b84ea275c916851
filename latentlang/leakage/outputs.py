"""The files and numbers a leakage run produces (used by the CLI and the analysis script)."""

from pathlib import Path

import numpy as np

from latentlang.leakage.result import LeakageResult


def write_outputs(result: LeakageResult, out: str | Path, threshold: float, min_mass: float) -> list[str]:
    """Write ``leakage.csv`` (long format), ``items.csv`` (texts and answers) and the figures:
    the leak share per layer, the value shift (with English and another language), and the
    layer × option heatmap of the question with the most leaking items. Returns the file names."""
    from latentlang.plots import save_figure
    from latentlang.plots.leakage import leak_share_figure, question_figure, value_shift_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.to_dataframe().to_csv(out / "leakage.csv", index=False)
    result.items.drop(columns="prompt").to_csv(out / "items.csv", index=False)
    figures = {"leak_share": leak_share_figure(result, threshold, min_mass)}
    languages = set(result.items["language"])
    if "en" in languages and len(languages) > 1:
        figures["value_shift"] = value_shift_figure(result)
    example = example_question(result, threshold, min_mass)
    framing = str(result.items["framing"].iloc[0])
    figures[f"question-{example}"] = question_figure(result, example, framing, min_mass)
    for name, fig in figures.items():
        save_figure(fig, out / name, dpi=170)
    return ["leakage.csv", "items.csv", *(f"{name}.png" for name in figures)]


def example_question(result: LeakageResult, threshold: float, min_mass: float) -> str:
    """The question with the most leaking items at the last layer (else the first question)."""
    measures = result.measures(threshold, min_mass)
    leaking = measures[(measures["layer"] == result.n_layers - 1) & measures["leak"]]["question_id"]
    return str(leaking.value_counts().index[0]) if len(leaking) else str(result.items["question_id"].iloc[0])


def leakage_numbers(result: LeakageResult, threshold: float, min_mass: float) -> dict:
    """Per language: items, refusals, replies with no option, how many of each leak (a confident
    hidden preference at the last layer / at any layer), the agreement between the answer in text
    and the lens's preferred option at the last layer, the mean option mass there, and the value
    shift to English there."""
    measures = result.measures(threshold, min_mass)
    leaks = measures.groupby(["question_id", "language", "framing"], sort=False)["leak"]
    any_layer, last = leaks.any(), leaks.last()
    preferred = measures[measures["layer"] == result.n_layers - 1].set_index(
        ["question_id", "language", "framing"]
    )
    shift = result.value_shift()
    numbers = {}
    for lang, rows in result.items.groupby("language", sort=False):
        keys = list(zip(rows["question_id"], rows["language"], rows["framing"]))
        refused = rows["refused"].to_numpy(bool)
        no_option = ~refused & (rows["answer"].to_numpy() == 0)
        answered = rows["answer"].to_numpy() > 0
        entry = {"items": len(rows), "refused": int(refused.sum()), "no_option": int(no_option.sum())}
        for name, mask in (("refused", refused), ("no_option", no_option)):
            chosen = [k for k, m in zip(keys, mask) if m]
            entry[f"{name}_leak_last"] = int(last.loc[chosen].sum()) if chosen else 0
            entry[f"{name}_leak_any"] = int(any_layer.loc[chosen].sum()) if chosen else 0
        said = rows["answer"].to_numpy()[answered]
        hidden = preferred.loc[[k for k, a in zip(keys, answered) if a], "preferred"].to_numpy()
        entry["text_agrees_with_lens"] = float((said == hidden).mean()) if len(said) else float("nan")
        entry["option_mass_last"] = float(np.mean(result.option_mass[rows.index, -1]))
        lang_shift = shift[(shift["language"] == lang) & (shift["layer"] == result.n_layers - 1)]
        if len(lang_shift):
            entry["js_to_en_last"] = float(lang_shift["js_bits"].iloc[0])
        numbers[lang] = entry
    return numbers
