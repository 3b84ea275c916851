"""The logit-lens token grid of one translation prompt: the top decoded token at every layer and
position, coloured by language and shaded by probability.

    python analyses/token_grid.py [--model SPEC] [--src fr] [--tgt zh] [--concept dog]
"""

from pathlib import Path

from _common import parser, update_readme

import latentlang
from latentlang.outputs.style import save_figure
from latentlang.outputs.token_grid import token_grid_figure
from latentlang.studies.prompts import translation_prompts
from latentlang.studies.tokens import token_grid


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--src", default="fr")
    options.add_argument("--tgt", default="zh")
    options.add_argument("--concept", default="dog")
    args = options.parse_args()
    lm = latentlang.load_model(args.model, device=args.device)
    prompts = translation_prompts(latentlang.load_words(), args.src, args.tgt, n_shots=2)
    prompt = next(p for p in prompts if p.concept == args.concept)
    grid = token_grid(lm, prompt.text)
    out = Path(args.out) / "token-grid"
    out.mkdir(parents=True, exist_ok=True)
    grid.to_dataframe().to_csv(out / "token_grid.csv", index=False)
    save_figure(token_grid_figure(grid, last=14), out / "token_grid", dpi=170)
    last = [
        (layer, grid.top_tokens[layer, -1, 0], float(grid.top_probs[layer, -1, 0]))
        for layer in range(grid.n_layers)
        if grid.top_probs[layer, -1, 0] >= 0.3
    ]
    update_readme(
        "token-grid",
        f"Prompt ends `{prompt.text.splitlines()[-1]}`; top token at the last position "
        "with probability ≥ 0.3: "
        + "; ".join(f"layer {layer}: `{tok.strip()}` {p:.2f}" for layer, tok, p in last)
        + ".",
    )


def _visible(token: str) -> str:
    return token.replace(" ", "␣").replace("\n", "\\n") or "∅"


if __name__ == "__main__":
    main()
