"""Helpers shared by the analysis scripts: command-line options, running a task into figures/,
and writing each script's measured numbers into its section of figures/README.md."""

import argparse
import re
from pathlib import Path

import latentlang
from latentlang.config import split_list
from latentlang.outputs.files import write_outputs
from latentlang.results.measures import key_numbers
from latentlang.studies.latent import run_task
from latentlang.studies.runner import OtherRunError, clear_run

README = Path(__file__).resolve().parent.parent / "figures" / "README.md"


def parser(doc: str) -> argparse.ArgumentParser:
    """Options every script takes: model, device, output folder, batch size."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--model", default=latentlang.DEFAULT_MODEL)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="figures")
    p.add_argument("--batch-size", type=int, default=None, help="default: chosen from the device")
    return p


def run_into(config, lm, out: Path) -> dict:
    """Run ``config`` on ``lm`` with outputs in ``out``; return the run's key numbers."""
    config.out = str(out)
    result = fresh_run(config, lm)
    write_outputs(result, out)
    return key_numbers(result)


def fresh_run(config, lm, run=run_task):
    """``run(config, lm)`` (default :func:`run_task`), first clearing ``config.out`` if it holds a
    run with other settings (a folder made by an older version): scripts regenerate figures with
    the current code."""
    try:
        return run(config, lm)
    except OtherRunError:
        clear_run(config.out)
        return run(config, lm)


def run_named(runs: dict, lm, run, out: str) -> dict:
    """Each config of ``runs`` (name -> config) run fresh into ``runs/NAME``, its outputs written
    to ``out/NAME``; the results by name."""
    results = {}
    for name, config in runs.items():
        config.out = f"runs/{name}"
        results[name] = fresh_run(config, lm, run)
        write_outputs(results[name], Path(out) / name)
    return results


def numbers_table(rows: list[dict], name: str) -> str:
    """A markdown table: one row per run, peak and last-layer probabilities per language, the
    target's takeover, English's leads, the entropy profile and English's share of the top-k."""
    header = [
        name,
        "concepts",
        "peak P (layer) per language",
        "last-layer P",
        "target leads from",
        "P(en) > P(tgt) at layers",
        "entropy, bits: max of the first half / peak (layer)",
        "peak share of top-10 mass that is English (layer)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        langs = [k.removeprefix("peak_p_") for k in row if k.startswith("peak_p_")]
        peaks = ", ".join(
            f"{lang} {row[f'peak_p_{lang}']:.3f} ({row[f'peak_layer_{lang}']})" for lang in langs
        )
        last = ", ".join(f"{lang} {row[f'last_p_{lang}']:.3f}" for lang in langs)
        cell = row["tgt"] if row["src"] == row["tgt"] else f"{row['src']}→{row['tgt']}"
        entropy = row["entropy_bits"]
        first_half = max(entropy[: len(entropy) // 2 + 1])
        peak = max(range(len(entropy)), key=entropy.__getitem__)
        share = f"{row['peak_en_share']:.2f} ({row['peak_en_share_layer']})" if "peak_en_share" in row else ""
        lines.append(
            f"| {cell} | {row['concepts']} | {peaks} | {last} | {row.get('takeover_layer', '')} | "
            f"{row.get('en_leads_tgt_layers', '')} | {first_half:.1f} / {entropy[peak]:.1f} ({peak}) | "
            f"{share} |"
        )
    return "\n".join(lines)


def update_readme(section: str, text: str) -> None:
    """Replace the text between ``<!-- section -->`` and ``<!-- /section -->`` in figures/README.md."""
    readme = README.read_text()
    pattern = re.compile(rf"(<!-- {section} -->).*?(<!-- /{section} -->)", re.S)
    if not pattern.search(readme):
        raise SystemExit(f"figures/README.md has no <!-- {section} --> section")
    README.write_text(pattern.sub(lambda m: f"{m.group(1)}\n{text}\n{m.group(2)}", readme))


def per_language(config_class, section: str, doc: str, default_langs: str = "de,fr,ru,zh,ja") -> None:
    """Run a one-language task (repetition, cloze) for each of ``--langs`` into
    figures/TASK-LANG/ and write the numbers into the README's ``section``."""
    options = parser(doc)
    options.add_argument("--langs", type=split_list, default=default_langs, help="comma-separated languages")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    rows = [
        run_into(
            config_class(lang=lang, model=args.model, batch_size=args.batch_size),
            lm,
            Path(args.out) / f"{config_class.TASK}-{lang}",
        )
        for lang in args.langs
    ]
    update_readme(section, numbers_table(rows, "language"))
