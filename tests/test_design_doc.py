"""docs/design.md's module map names every module under src/helpers, once, and nothing else.

The map is how a new maintainer finds where a responsibility lives; it is kept by hand, so it drifts whenever a
module is added, renamed or removed. This test makes that drift fail in the commit that causes it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "helpers"
DESIGN = ROOT / "docs" / "design.md"
SECTION = "## Library modules (src/helpers/)"


def modules_in_tree() -> list[str]:
    """Dotted names of every module under src/helpers; a package is named by its ``__init__.py``."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def modules_in_map(text: str) -> list[str]:
    """The first-column names of the module table in the "Library modules" section, in order."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    rows = re.findall(r"^\| `([\w.]+)` \|", section, re.MULTILINE)
    assert rows, f"{DESIGN} has no module table under {SECTION!r}"
    return rows


def test_the_map_reader_finds_rows_only_in_its_section():
    text = "## Other\n| `helpers.nowhere` | x |\n" + SECTION + "\n| module | role |\n|---|---|\n"
    text += "| `helpers.a` | one |\n| `helpers.b.c` | two |\n## Next\n| `helpers.later` | y |\n"
    assert modules_in_map(text) == ["helpers.a", "helpers.b.c"]


def test_every_module_is_in_the_design_map_once_and_the_map_names_no_other():
    mapped = modules_in_map(DESIGN.read_text(encoding="utf-8"))
    tree = modules_in_tree()
    assert sorted(set(tree) - set(mapped)) == [], f"modules missing from {SECTION!r} in docs/design.md"
    assert sorted(set(mapped) - set(tree)) == [], f"{SECTION!r} names modules that do not exist"
    assert sorted({name for name in mapped if mapped.count(name) > 1}) == [], "named more than once"
