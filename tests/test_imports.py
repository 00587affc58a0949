"""The library's import graph: no module imports itself through others, and checkpoint layout needs no torch.

Every ``import`` statement of every module under ``src/helpers`` counts, the lazy ones inside functions
included: a lazy import only hides a cycle until the function runs, and it makes two modules one unit that
neither can be read, tested or fingerprinted without the other. ``helpers.checkpoints`` is what the
evaluation and warmth stages read of a fine-tune; it must load without torch, so that reading checkpoint
folders never pulls in the training stack.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "helpers"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom, module: str, path: Path) -> list[str]:
    """The modules one import statement loads (a ``from package import submodule`` names the submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
    found = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    return found or [base]


def import_graph(top_level_only: bool = False) -> dict[str, set[str]]:
    """Each helpers module -> every module it imports (helpers' own and third-party, by full name)."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        nodes = tree.body if top_level_only else ast.walk(tree)
        graph[module] = {
            name
            for node in nodes
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in _imported(node, module, path)
        }
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node] & graph.keys()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_every_module_and_the_lazy_imports():
    graph = import_graph()
    assert {"helpers.checkpoints", "helpers.training.finetune", "helpers.evaluation.evaluate"} <= graph.keys()
    # finetune imports trl only inside build_trainer: the walk must see imports inside functions.
    assert "trl" in graph["helpers.training.finetune"]
    assert "trl" not in import_graph(top_level_only=True)["helpers.training.finetune"]


def test_the_cycle_finder_finds_a_lazy_cycle():
    assert _cycles({"a": {"b"}, "b": {"c", "os"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_under_helpers_imports_itself_through_others():
    assert _cycles(import_graph()) == []


def test_the_checkpoint_module_loads_no_torch():
    """Neither its own imports nor those of the helpers modules it loads name torch (or peft, transformers,
    trl, which import it), and importing it in a fresh interpreter leaves torch unloaded."""
    graph = import_graph(top_level_only=True)
    loaded, todo = set(), ["helpers.checkpoints"]
    while todo:
        module = todo.pop()
        if module not in loaded:
            loaded.add(module)
            todo += sorted(graph.get(module, ()))
    heavy = {name for name in loaded if name.split(".")[0] in {"torch", "peft", "transformers", "trl"}}
    assert heavy == set()
    assert "torch" not in {name.split(".")[0] for name in import_graph()["helpers.checkpoints"]}
    probe = "import sys, helpers.checkpoints; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
