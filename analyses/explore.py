"""The interactive logit-lens view of one translation prompt on the default model, saved as a
standalone HTML file, and a headless-Chromium screenshot of it with one cell hovered.

    python analyses/explore.py [--model SPEC]   # writes figures/explore/{explore.html, screenshot.png}
"""

from pathlib import Path

import _browser
from _common import parser, update_readme

import latentlang
from latentlang.studies.prompts import translation_prompts


def main() -> None:
    args = parser(__doc__).parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    prompt = next(
        p for p in translation_prompts(latentlang.load_words(), "fr", "zh", n_shots=2) if p.concept == "dog"
    )
    grid = latentlang.explore(prompt.text, lm)
    out = Path(args.out) / "explore"
    page = latentlang.save_html(grid, out / "explore.html", last=16)
    # Hover the last position at the layer where a word (not punctuation) is most confidently decoded.
    wordy = [i for i in range(grid.n_layers) if grid.top_labels[i, -1, 0] not in ("none", "other")]
    layer = max(wordy, key=lambda i: grid.top_probs[i, -1, 0]) if wordy else grid.n_layers - 1
    seen = _browser.hover_cell(
        page, f"{layer},{min(15, grid.top_probs.shape[1] - 1)}", out / "screenshot.png"
    )
    if seen["errors"]:
        raise SystemExit(f"JavaScript errors: {seen['errors']}")
    update_readme(
        "explore",
        f"Hovered: layer {layer} at the last position; the tooltip read: "
        f"`{' · '.join(seen['tooltip'].splitlines()[:4])}` …",
    )


if __name__ == "__main__":
    main()
