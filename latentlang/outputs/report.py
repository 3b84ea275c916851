"""What the CLI prints when a study finishes: a few lines of what was measured, per result type."""

from functools import singledispatch

from latentlang.results.ablate import AblateResult
from latentlang.results.leakage import LeakageResult, leakage_numbers
from latentlang.results.lens_result import LensResult
from latentlang.results.measures import key_numbers
from latentlang.results.patch import SETS, PatchResult
from latentlang.results.sets import GridResult, ReproduceResult
from latentlang.results.steer import SteerResult


@singledispatch
def report(result) -> list[str]:
    """The lines that sum up ``result`` (none for a result whose files say it all)."""
    return []


@report.register
def _(result: LensResult) -> list[str]:
    """Last-layer means, each language's peak, and where English leads the target."""
    numbers = key_numbers(result)
    last = ", ".join(f"{lang} {numbers[f'last_p_{lang}']:.3f}" for lang in result.languages)
    lines = [f"{result.n_prompts} concepts; mean probability at the last layer: {last}"]
    for lang in result.languages:
        lines.append(
            f"  peak P({lang}) = {numbers[f'peak_p_{lang}']:.3f} at layer {numbers[f'peak_layer_{lang}']}"
        )
    if numbers.get("en_leads_tgt_layers"):
        tgt, layers = result.meta["tgt"], numbers["en_leads_tgt_layers"]
        lines.append(f"  P(en) > P({tgt}) (paired 95%, P(en) >= 0.01) at layers {layers}")
    return lines


@report.register
def _(result: GridResult) -> list[str]:
    """The per-cell table: concepts, takeover layer, English's middle-layer peak."""
    table = result.table()
    columns = ["cell", "concepts", "takeover_layer", "peak_en_middle", "peak_en_middle_layer"]
    return [
        table[[c for c in columns if c in table]].to_string(index=False, float_format=lambda x: f"{x:.3f}")
    ]


@report.register
def _(result: ReproduceResult) -> list[str]:
    """Concepts per run (and the error of a run that could not be made)."""
    columns = [c for c in ("run", "n", "n_single", "error") if c in result.counts]
    return [result.counts[columns].to_string(index=False, na_rep="")]


@report.register
def _(result: LeakageResult) -> list[str]:
    """Per language: items, refusals and replies with no option, and how many of them leak."""
    lines = [
        f"{lang}: {n['items']} items; {n['answered']} answered, {n['refused']} refused "
        f"({n['refused_hidden_any']} with a confident hidden preference at some layer: leakage), "
        f"{n['no_option']} named no option "
        f"({n['no_option_hidden_any']} with one)"
        for lang, n in leakage_numbers(result).items()
    ]
    if result.meta.get("unmeasurable"):
        lines.append(
            f"not measured (an option number has no token): {len(result.meta['unmeasurable'])} items"
        )
    return lines


@report.register
def _(result: PatchResult) -> list[str]:
    """Per set: the output probability unpatched, and at the patch layer where it is highest."""
    summary = result.summary()
    lines = [f"{len(result.pairs)} concept pairs ({len(result.meta.get('dropped', []))} dropped)"]
    for s, name in enumerate(SETS):
        column = summary[f"p_{name}"]
        before = float(result.unpatched[:, -1, s].mean())
        best = int(column.idxmax())
        lines.append(f"  {name}: {before:.3f} unpatched, {column.max():.3f} patching layer {best}")
    return lines


@report.register
def _(result: SteerResult) -> list[str]:
    """Unsteered, and at the (α, layer) that raises the concept in B most: both probabilities."""
    a, b = result.languages
    summary = result.summary()
    best = summary.loc[summary[f"p_concept_{b}"].idxmax()]
    lines = [f"{len(result.prompts)} prompts ({len(result.meta.get('dropped', []))} dropped)"]
    p_a, p_b = result.base_probs.mean(0)
    lines.append(f"  unsteered: P(concept in {a}) {p_a:.3f}, in {b} {p_b:.3f}")
    lines.append(
        f"  α = {best['alpha']:g} at layer {int(best['layer'])}: in {a} {best[f'p_concept_{a}']:.3f}, "
        f"in {b} {best[f'p_concept_{b}']:.3f}"
    )
    return lines


@report.register
def _(result: AblateResult) -> list[str]:
    """The target concept's output probability unablated, and where ablation lowers it most
    against the control (the paired difference and its interval)."""
    summary = result.summary()
    row = summary.loc[summary["delta_target"].idxmin()]
    return [
        f"{len(result.prompts)} prompts ({len(result.meta.get('dropped', []))} dropped)",
        f"  P(target) unablated {row['p_target_unablated']:.3f}; from layer {int(row['layer'])} on: "
        f"ablated {row['p_target_ablated']:.3f}, control {row['p_target_control']:.3f}, "
        f"difference {row['delta_target']:+.3f} "
        f"({row['delta_target_ci_low']:+.3f} to {row['delta_target_ci_high']:+.3f})",
    ]
