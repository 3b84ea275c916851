"""Self-contained HTML views for notebooks and files: no server, no network, no external scripts.

:func:`token_grid_html` renders a :class:`~latentlang.results.token_grid.TokenGrid`: the layer × position
grid of top decoded tokens (background = the token's language, opacity = its probability), a
tooltip with each cell's top-k tokens, probabilities and language tags on hover, and an inline SVG
plot of the language mass of the last position's top-k tokens per layer.
"""

import hashlib
import html
import json
from pathlib import Path

import numpy as np

from latentlang.language.codes import language_colors
from latentlang.results.measures import key_numbers

_STYLE = """
.ll-view{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:12px;color:#222}
.ll-view h3{font-size:14px;margin:4px 0 8px}
.ll-scroll{overflow-x:auto;max-width:100%}
.ll-grid{border-collapse:collapse}
.ll-grid td{border:1px solid #fff;padding:2px 4px;text-align:center;white-space:nowrap;min-width:46px;
  max-width:90px;overflow:hidden;text-overflow:ellipsis;position:relative;cursor:default}
.ll-grid th{font-weight:normal;color:#555;padding:2px 4px;white-space:nowrap}
.ll-grid tr th:first-child{position:sticky;left:0;background:#fff;z-index:1}
.ll-grid th.ll-input{writing-mode:vertical-rl;transform:rotate(180deg);max-height:90px}
.ll-tip{position:fixed;display:none;background:#fff;border:1px solid #999;border-radius:4px;
  padding:6px 8px;box-shadow:0 2px 8px rgba(0,0,0,.2);z-index:1000;pointer-events:none;font-size:12px}
.ll-tip table{border-collapse:collapse}.ll-tip td{padding:1px 6px;text-align:left}
.ll-legend span{display:inline-block;margin-right:10px}
.ll-legend i{display:inline-block;width:10px;height:10px;margin-right:3px;vertical-align:middle}
"""

_SCRIPT = """
(function(){
  var root = document.getElementById("%(id)s");
  var data = JSON.parse(root.querySelector("script.ll-data").textContent);
  var tip = root.querySelector(".ll-tip");
  function esc(s){return s.replace(/[&<>]/g,function(c){return {"&":"&amp;","<":"&lt;",">":"&gt;"}[c];});}
  root.querySelectorAll("td[data-cell]").forEach(function(td){
    td.addEventListener("mouseenter", function(){
      var ij = td.dataset.cell.split(","), l = +ij[0], p = +ij[1], rows = "";
      for (var k = 0; k < data.tokens[l][p].length; k++) {
        rows += "<tr><td><code>" + esc(JSON.stringify(data.tokens[l][p][k])) + "</code></td><td>" +
          (100 * data.probs[l][p][k]).toFixed(1) + "%%</td><td>" + data.labels[l][p][k] + "</td></tr>";
      }
      tip.innerHTML = "<b>layer " + l + ", after " + esc(JSON.stringify(data.inputs[p])) + "</b>" +
        " &middot; entropy " + data.entropy[l][p].toFixed(2) + " bits<table>" + rows + "</table>";
      tip.style.display = "block";
    });
    td.addEventListener("mousemove", function(e){
      var x = e.clientX + 14, y = e.clientY + 14;
      if (x + tip.offsetWidth > window.innerWidth) x = e.clientX - tip.offsetWidth - 14;
      if (y + tip.offsetHeight > window.innerHeight) y = e.clientY - tip.offsetHeight - 14;
      tip.style.left = Math.max(0, x) + "px"; tip.style.top = Math.max(0, y) + "px"; });
    td.addEventListener("mouseleave", function(){ tip.style.display = "none"; });
  });
})();
"""


def palette(labels) -> dict[str, str]:
    """Colours of the languages and language-ID labels in ``labels`` (any nesting), as in the
    figures: spare colours go to uncommon languages in order of appearance."""
    names = list(dict.fromkeys(np.asarray(labels, dtype=str).reshape(-1)))
    return dict(zip(names, language_colors(names)))


def token_grid_html(grid, last: int | None = 40, element_id: str | None = None) -> str:
    """An HTML fragment (style, table, tooltip script) showing ``grid``; layers run bottom to top.

    Args:
        grid: A :class:`~latentlang.studies.tokens.TokenGrid`.
        last: Show only the last ``last`` positions (``None``: all).
        element_id: The root element's id (unique per page; derived from the content by default).
    """
    start = 0 if last is None else max(0, len(grid.input_tokens) - last)
    view = slice(start, None)
    data = {
        "inputs": list(grid.input_tokens[view]),
        "tokens": grid.top_tokens[:, view].tolist(),
        "probs": np.round(grid.top_probs[:, view].astype(float), 4).tolist(),
        "labels": grid.top_labels[:, view].tolist(),
        "entropy": np.round(grid.entropy[:, view].astype(float), 3).tolist(),
    }
    element_id = element_id or "ll-" + hashlib.sha1(f"{grid.model}\n{grid.prompt}".encode()).hexdigest()[:10]
    colors = palette(grid.top_labels)
    layers = grid.n_layers
    rows = []
    for layer in reversed(range(layers)):
        cells = []
        for p in range(len(data["inputs"])):
            token, prob, label = (
                data["tokens"][layer][p][0],
                data["probs"][layer][p][0],
                data["labels"][layer][p][0],
            )
            cells.append(
                f'<td data-cell="{layer},{p}" style="background:{_rgba(colors[label], prob)}">'
                f"{html.escape(_visible(token))}</td>"
            )
        rows.append(f"<tr><th>{layer}</th>{''.join(cells)}</tr>")
    header = "".join(f'<th class="ll-input">{html.escape(_visible(t))}</th>' for t in data["inputs"])
    rows.append(f"<tr><th></th>{header}</tr>")
    labels = [x for x in dict.fromkeys(np.asarray(data["labels"])[:, :, 0].reshape(-1)) if x]
    legend = "".join(f'<span><i style="background:{colors[x]}"></i>{html.escape(x)}</span>' for x in labels)
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return (
        f'<div class="ll-view" id="{element_id}"><style>{_STYLE}</style>'
        f"<h3>{html.escape(grid.model)}: top decoded token per layer (rows) and position (columns)</h3>"
        f'<div class="ll-legend">{legend} &middot; opacity = probability; hover a cell for its top '
        f"{grid.top_probs.shape[-1]}</div>"
        f'<div class="ll-scroll"><table class="ll-grid">{"".join(rows)}</table></div>'
        f"<h3>language of the top-{grid.top_probs.shape[-1]} tokens at the last position</h3>"
        f"{language_mass_svg(grid)}"
        f'<div class="ll-tip"></div><script type="application/json" class="ll-data">{payload}</script>'
        f"<script>{_SCRIPT % {'id': element_id}}</script></div>"
    )


def language_mass_svg(grid, width: int = 420, height: int = 160) -> str:
    """Inline SVG: per layer, the probability of the last position's top-k tokens by language."""
    probs, labels = grid.top_probs[:, -1], grid.top_labels[:, -1]  # [layer, k]
    names = [x for x in dict.fromkeys(labels.reshape(-1)) if x != "none"]
    mass = {name: (probs * (labels == name)).sum(-1) for name in names}
    names = sorted(names, key=lambda n: -mass[n].max())[:5]
    colors = palette(grid.top_labels)
    pad, layers = 28, grid.n_layers

    def x(layer: int | float) -> float:
        return float(pad + layer * (width - 2 * pad) / max(1, layers - 1))

    def y(value: int | float) -> float:
        return float(height - pad - value * (height - 2 * pad))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<line x1="{pad}" y1="{y(0)}" x2="{width - pad}" y2="{y(0)}" stroke="#999"/>',
        f'<line x1="{pad}" y1="{y(0)}" x2="{pad}" y2="{y(1)}" stroke="#999"/>',
        f'<text x="{pad - 4}" y="{y(1) + 4}" font-size="9" text-anchor="end">1</text>',
        f'<text x="{pad - 4}" y="{y(0) + 4}" font-size="9" text-anchor="end">0</text>',
        f'<text x="{width / 2}" y="{height - 6}" font-size="10" text-anchor="middle">layer</text>',
    ]
    for layer in range(0, layers, max(1, layers // 6)):
        parts.append(
            f'<text x="{x(layer)}" y="{y(0) + 12}" font-size="9" text-anchor="middle">{layer}</text>'
        )
    for i, name in enumerate(names):
        points = " ".join(f"{x(layer):.1f},{y(float(v)):.1f}" for layer, v in enumerate(mass[name]))
        parts.append(f'<polyline fill="none" stroke="{colors[name]}" stroke-width="2" points="{points}"/>')
        parts.append(
            f'<text x="{width - pad + 4}" y="{pad + 12 * i}" font-size="10" fill="{colors[name]}">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def table_html(title: str, header: list[str], rows: list[list]) -> str:
    """A small styled table with a title (for results' ``_repr_html_``)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="ll-view"><style>{_STYLE}.ll-table td,.ll-table th{{padding:2px 8px;text-align:right;'
        f'border-bottom:1px solid #eee}}</style><b>{html.escape(title)}</b><table class="ll-table">'
        f"<tr>{head}</tr>{body}</table></div>"
    )


def result_summary_html(result) -> str:
    """A :class:`~latentlang.results.lens_result.LensResult` at a glance: peak and last-layer
    probabilities."""

    numbers = key_numbers(result)
    meta = result.meta
    colors = palette(result.languages)
    rows = [
        [
            f'<span style="color:{colors[lang]}">■</span> {lang}',
            numbers[f"peak_p_{lang}"],
            numbers[f"peak_layer_{lang}"],
            numbers[f"last_p_{lang}"],
        ]
        for lang in result.languages
    ]
    title = (
        f"LensResult · {meta.get('model', '?')} · {meta.get('task', '?')} {meta.get('src', '')}→"
        f"{meta.get('tgt', '')} · {result.n_prompts} concepts · {result.n_layers} layers"
    )
    table = table_html(title, ["language", "peak P", "at layer", "last-layer P"], rows)
    # Colour swatches are markup, not text: unescape just those.
    return table.replace("&lt;span style=&quot;", '<span style="').replace(
        "&quot;&gt;■&lt;/span&gt;", '">■</span>'
    )


def leakage_summary_html(result) -> str:
    """A :class:`~latentlang.results.leakage.LeakageResult` at a glance: items, refusals and
    replies with no option per language."""
    rows = []
    for lang, items in result.items.groupby("language", sort=False):
        refused = items["refused"].astype(bool)
        rows.append([lang, len(items), int(refused.sum()), int((~refused & (items["answer"] == 0)).sum())])
    title = f"LeakageResult · {result.meta.get('model', '?')} · {result.n_layers} layers"
    return table_html(title, ["language", "items", "refused", "no option"], rows)


def _cell(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def save_html(grid, path: str | Path, last: int | None = None) -> Path:
    """Save a :class:`~latentlang.results.token_grid.TokenGrid`'s interactive view as a standalone
    HTML file (no network needed to view it); ``last``: show only the last positions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        standalone(token_grid_html(grid, last=last), f"{grid.model}: logit lens"), encoding="utf-8"
    )
    return path


def standalone(fragment: str, title: str) -> str:
    """A complete HTML page around a fragment."""
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body>{fragment}</body></html>"
    )


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{0.12 + 0.88 * float(alpha):.3f})"


def _visible(token: str) -> str:
    return token.replace(" ", "␣").replace("\n", "↵") or "∅"
