"""Colours, labels and saving shared by every figure."""

from pathlib import Path

from matplotlib.figure import Figure

from latentlang.results import LensResult


def save_figure(fig: Figure, stem: str | Path, dpi: int = 200) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; the PDF carries no creation date, so a figure made
    twice from the same numbers is the same file."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    fig.savefig(paths[0], dpi=dpi, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    return paths


#: One colour per language in every figure; English orange, as in the published figures.
LANGUAGE_COLORS = {
    "en": "#e66101",
    "zh": "#1b9e77",
    "fr": "#5e3c99",
    "de": "#0571b0",
    "ja": "#d01c8b",
    "ru": "#a6761d",
    "es": "#66a61e",
    "it": "#e6ab02",
    "ko": "#7570b3",
    "ar": "#666666",
}
#: Colours for languages without one above, in order of appearance.
SPARE_COLORS = ["#1f78b4", "#33a02c", "#fb9a99", "#cab2d6", "#b15928", "#8dd3c7", "#bebada", "#80b1d3"]
OTHER_COLOR, NO_LETTERS_COLOR = "#bdbdbd", "#eeeeee"


def language_colors(languages: list[str]) -> list[str]:
    """The colour of each language: fixed for common ones, spare colours for the rest."""
    spare = iter(SPARE_COLORS * (1 + len(languages) // len(SPARE_COLORS)))
    return [LANGUAGE_COLORS.get(lang) or next(spare) for lang in languages]


def role_label(result: LensResult, lang: str) -> str:
    roles = [name for name in ("src", "tgt") if result.meta.get(name) == lang]
    if lang == "en" and "src" not in roles:
        roles.insert(0, "English")
    roles = [{"src": "source", "tgt": "target"}.get(r, r) for r in roles]
    return f"{lang} ({', '.join(roles)})" if roles else lang


def describe(result: LensResult) -> str:
    meta = result.meta
    task = meta.get("task", "task")
    pair = f" {meta['src']}→{meta['tgt']}" if "src" in meta and "tgt" in meta else ""
    protocol = f" [{meta['protocol']}]" if meta.get("protocol", "latentlang") != "latentlang" else ""
    return f"{meta.get('model', 'model')}, {task}{pair}{protocol}"
