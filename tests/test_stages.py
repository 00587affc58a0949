"""The stage registry is the only table of stages, and it says which way imports may go."""

from __future__ import annotations

import ast
from pathlib import Path

from test_imports import MODULES, import_graph

from helpers.study.stages import REGISTRY, package_order

REPO = Path(__file__).resolve().parents[1]
NAMES = {stage.name for stage in REGISTRY}


def stage_tables(source: str) -> list[int]:
    """Lines of dict keys, lists, tuples or sets that name three or more stages: a table of stages."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            values = node.keys
        elif isinstance(node, ast.List | ast.Tuple | ast.Set):
            values = node.elts
        else:
            continue
        named = {v.value for v in values if isinstance(v, ast.Constant) and v.value in NAMES}
        if len(named) >= 3:
            lines.append(node.lineno)
    return lines


def registry_problems(notebooks: set[str], stages) -> list[str]:
    """What is wrong between the notebooks and the registry: a notebook without an entry, an entry without a
    notebook, or a parameter object that names another stage."""
    names = {stage.name for stage in stages}
    problems = [f"notebooks/{name}.ipynb has no registry entry" for name in sorted(notebooks - names)]
    problems += [f"stage {name!r} has no notebook" for name in sorted(names - notebooks)]
    problems += [f"{s.params.__name__}.stage is not {s.name!r}" for s in stages if s.params.stage != s.name]
    return problems


NOTEBOOKS = {path.stem for path in (REPO / "notebooks").glob("*.ipynb")}


def test_every_notebook_is_a_registered_stage_and_every_stage_has_its_notebook():
    assert registry_problems(NOTEBOOKS, REGISTRY) == []


def test_a_stage_missing_from_the_registry_is_caught():
    without_warmth = [stage for stage in REGISTRY if stage.name != "warmth"]
    assert registry_problems(NOTEBOOKS, without_warmth) == ["notebooks/warmth.ipynb has no registry entry"]


def test_no_module_outside_the_registry_keeps_a_table_of_stages():
    found = {
        module: lines
        for module, path in MODULES.items()
        if module != "helpers.study.stages" and (lines := stage_tables(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"tables of stages outside helpers.study.stages: {found}"


def test_the_table_finder_sees_a_planted_seventh_table():
    planted = 'TIMES = {"training_data": 1, "finetune": 2, "warmth": 3}\nOK = {"finetune": 1}\n'
    assert stage_tables(planted) == [1]


def test_no_stage_package_imports_from_a_stage_after_it():
    order = {package: i for i, package in enumerate(package_order())}
    assert list(order) == ["training", "warmth", "evaluation", "analysis"]

    def rank(module: str) -> int | None:
        parts = module.split(".")
        return order.get(parts[1]) if len(parts) > 1 else None

    backwards = sorted(
        (module, target)
        for module, targets in import_graph().items()
        if rank(module) is not None
        for target in targets
        if target.startswith("helpers.") and rank(target) is not None and rank(target) > rank(module)
    )
    assert backwards == [], f"imports from a later stage into an earlier one: {backwards}"
