"""Labels and saving shared by every figure (colours: :mod:`latentlang.language.codes`)."""

from pathlib import Path

from matplotlib.figure import Figure

from latentlang.results.lens_result import LensResult


def save_figure(fig: Figure, stem: str | Path, dpi: int = 200) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; the PDF carries no creation date, so a figure made
    twice from the same numbers is the same file."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    fig.savefig(paths[0], dpi=dpi, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    return paths


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
