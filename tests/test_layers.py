"""The package's layers import only downward, with no cycles, and no module outgrows 400 lines.

Every import is walked, module-level and function-local alike; the one allowed upward step is a
result's ``_repr_html_`` importing its view (treescope's pattern)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "latentlang"
#: Layer -> the layers its modules may import (besides their own).
ALLOWED = {
    "base": set(),  # errors, config
    "language": {"base"},
    "core": {"base", "language"},
    "results": {"base", "language"},
    "outputs": {"base", "language", "results"},
    "studies": {"base", "language", "core", "results", "outputs"},
    "cli": {"base", "studies", "outputs"},
    "package": {"base", "language", "core", "results", "outputs", "studies"},  # latentlang/__init__.py
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1] in ("errors", "config"):
        return "base"
    return parts[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> list[tuple[str, str]]:
    """(imported module, the function it is imported in or "") for every latentlang import."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            targets = []
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in child.names]
            elif isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            found.extend((t, inner) for t in targets if t.split(".")[0] == "latentlang")
            visit(child, inner)

    visit(tree, "")
    return found


def graph() -> dict[str, list[tuple[str, str]]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def test_every_import_goes_down_a_layer():
    upward = []
    for module, targets in graph().items():
        for target, function in targets:
            if function == "_repr_html_" and target == "latentlang.outputs.html":
                continue
            if layer_of(target) != layer_of(module) and layer_of(target) not in ALLOWED[layer_of(module)]:
                upward.append(f"{module} ({function or 'module level'}) imports {target}")
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    edges = {
        module: {t for t, function in targets if function != "_repr_html_" and t != module}
        for module, targets in graph().items()
    }
    state: dict[str, str] = {}
    cycles = []

    def walk(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                walk(target, [*path, target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            walk(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_walker_sees_function_local_imports(tmp_path):
    """The check is not vacuous: a local import inside a function is found."""
    found = dict(graph())["latentlang.results.lens_result"]
    assert ("latentlang.outputs.html", "_repr_html_") in found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.name} has {lines} lines"


def test_a_saved_result_shows_itself_without_the_model_stack_or_matplotlib(tmp_path):
    """Loading a LensResult and rendering its Jupyter table imports neither torch, transformers
    nor matplotlib (the package's names are imported on first use)."""
    code = f"""
import sys
import numpy as np, pandas as pd
from latentlang.results.lens_result import LensResult
n, layers = 2, 3
result = LensResult(
    probs=np.full((n, layers, 1), 0.5), control=np.zeros((n, layers, 1)), entropy=np.ones((n, layers)),
    energy=np.ones((n, layers)), top_ids=np.zeros((n, layers, 1), int), top_probs=np.ones((n, layers, 1)),
    top_tokens=np.full((n, layers, 1), "a"), mass=np.ones((n, layers, 1)), languages=["en"], labels=["en"],
    prompts=pd.DataFrame({{"concept": ["a", "b"]}}), meta={{"task": "translation", "src": "fr", "tgt": "en"}},
)
result.save({str(tmp_path / "r.npz")!r})
html = LensResult.load({str(tmp_path / "r.npz")!r})._repr_html_()
assert "peak P" in html
heavy = sorted(m for m in ("torch", "transformers", "matplotlib", "nnsight") if m in sys.modules)
print(heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
