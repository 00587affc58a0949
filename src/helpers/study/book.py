"""Assemble one study's executed notebooks and the hand-written chapters into the jupyter-book report.

``book/`` holds sources only. The book of a study is assembled in ``results/<study>/book/`` (generated): the
chapters, and a copy of every executed run under ``runs/<stage>/<run>.ipynb`` with its own title and, at its top, a
box with the exact command that re-executes that page alone, generated from the run's stored parameters. The
chapters glue numbers from fixed paths (``runs/analysis/analysis.ipynb``). jupyter-book 1.0.4.post1 builds offline
(2.x fetches its theme at build time); notebooks are not re-executed (``execute_notebooks: off``): the book shows
exactly what papermill computed. Builds are strict (``-W -n --keep-going``), so a broken reference fails, and the
HTML lands in ``book/_build/html``; a failed build raises :class:`BookBuildError` and leaves jupyter-book's output in
``book/_build/build.log``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nbformat
import yaml

from helpers.paths import REPO_ROOT, study_dir
from helpers.paths import book_dir as default_book_dir
from helpers.study.config import SECTIONS, StudyConfig, load_config
from helpers.study.runner import STAGE_TITLES, Run, plan_runs, with_upstream
from helpers.study.snapshot import code_version, read_stamp, snapshot_dir
from helpers.study.stages import REGISTRY

#: A Sphinx problem as jupyter-book prints it (``page.md:12: WARNING: undefined label: …``); -W makes each fatal.
_SPHINX_PROBLEM = re.compile(r"\b(?:WARNING|ERROR|CRITICAL|SEVERE):")
_EXCEPTION_LINE = re.compile(r"^\w*(?:Error|Exception)\b")


class BookBuildError(RuntimeError):
    """jupyter-book refused to build the book (in the strict build: any Sphinx warning, e.g. a broken reference).

    :attr:`summary` is one line: the exit status, how many Sphinx warnings and errors, the first of them (or the
    exception that ended the build) and the log that holds jupyter-book's whole output
    (``<sources>/_build/build.log``). The message is that line followed by the output's tail.
    """

    def __init__(self, returncode: int, stdout: str, stderr: str, log: Path) -> None:
        self.returncode, self.stdout, self.stderr, self.log = returncode, stdout, stderr, log
        lines = [line.strip() for line in f"{stdout}\n{stderr}".splitlines() if line.strip()]
        problems = [line for line in lines if _SPHINX_PROBLEM.search(line)]
        exceptions = [line for line in lines if _EXCEPTION_LINE.match(line)]
        first = (problems or exceptions[-1:] or lines[-1:] or ["no output"])[0]
        first = first if len(first) <= 300 else first[:299] + "…"
        found = f", {len(problems)} Sphinx warnings or errors; first: " if problems else ": "
        self.summary = (
            f"jupyter-book build failed (exit status {returncode}{found}{first}); its full output is in {log}"
        )
        super().__init__(f"{self.summary}\n{stdout[-4000:]}\n{stderr[-4000:]}")


CHAPTERS_BEFORE = ["question", "method"]
CHAPTERS_AFTER = ["results", "limitations", "teaching", "glossary"]
#: The run pages, in the registry's order, and the one instructive change each stage's re-run box offers.
STAGE_ORDER = [stage.name for stage in REGISTRY if stage.in_runs_part]
VARIATIONS = {stage.name: stage.variation for stage in REGISTRY if stage.variation}


def _shown(path: Path) -> str:
    """A path as the box prints it: relative to the repository when inside it, else under its variable."""
    path = Path(path)
    if path.is_relative_to(REPO_ROOT):
        return str(path.relative_to(REPO_ROOT))
    for variable in ("WARMBOOK_SNAPSHOTS", "WARMBOOK_RESULTS"):
        base = os.environ.get(variable)
        if base and path.is_relative_to(base):
            return f"${variable}/{path.relative_to(base)}"
    return path.name


def _recorded_minutes(root: Path, names: set[str]) -> float:
    """The recorded wall time of ``names`` (their ``runs/<run>.json``), in minutes; runs never recorded add 0."""
    seconds = 0.0
    for name in names:
        record = root / "runs" / f"{name}.json"
        if record.is_file():
            seconds += float(json.loads(record.read_text()).get("seconds") or 0.0)
    return seconds / 60


def _variant_setting(stage: str, name: str, value: Any) -> str:
    """``--set`` for a stage's parameter: ``section.name=value``, or ``name=value`` for the study's matrix."""
    return f"{stage}.{name}={value}" if stage in SECTIONS else f"{name}={value}"


def rerun_box(run: Run, study: str, runs: list[Run], root: Path, config_path: str) -> str:
    """A MyST admonition with the commands that reproduce this page, re-execute it, and vary one parameter.

    Every path it names exists in the build it appears in: the parameters file is the one under ``root`` (the
    study's results, or the committed snapshot after ``make read``). The snapshot holds notebooks, tables and
    figures but no adapters or caches, so the box names the runs this page reads and the one command that
    produces them (``run --upto``); a variant runs as a new study, so it never overwrites this one's results.
    """
    notebook = f"notebooks/{run.stage}.ipynb"
    output = f"results/{study}/notebooks/{run.stage}/{run.name}.ipynb"
    params_file = _shown(root / "runs" / f"{run.name}.params.yaml")
    needed = with_upstream(runs, {run.name})
    upstream = sorted(needed - {run.name})
    minutes = _recorded_minutes(root, needed)
    lines = [
        ":::{admonition} Re-run this page",
        ":class: tip dropdown",
        f"This page is `{notebook}` executed by papermill with the parameters of run `{run.name}` of the study "
        f"`{study}` (stored in `{params_file}`). From the repository root, after `make setup`:",
        "",
    ]
    if upstream:
        lines += [
            f"It reads what {len(upstream)} earlier run{'s' if len(upstream) > 1 else ''} wrote "
            f"({', '.join(f'`{name}`' for name in upstream)}); the committed snapshot holds their pages and tables "
            "but not their adapters or caches. This produces them and this page, skipping what is already done "
            f"(about {minutes:.0f} min as recorded here):",
        ]
    else:
        lines += [f"It reads no earlier run. This re-runs it (about {minutes:.0f} min as recorded here):"]
    lines += ["", "```bash", f".venv/bin/python -m helpers run {config_path} --upto {run.name}", "```", ""]
    lines += [
        "Once those exist, papermill re-executes this page alone:",
        "",
        "```bash",
        f".venv/bin/papermill {notebook} {output} -f {params_file}",
        "```",
    ]
    if run.stage in VARIATIONS:
        name, value = VARIATIONS[run.stage]
        variant = f"{study}-{name.replace('_', '-')}-{value}"
        lines += [
            "",
            f"The same page with one parameter changed (`{name}` = {run.parameters[name]!r} here), as a new "
            f"study `{variant}`: its results go to `results/{variant}/` and this study's stay as they are; it "
            + (
                f"computes the {len(upstream)} runs this page needs in that study first."
                if upstream
                else "needs no earlier run."
            ),
            "",
            "```bash",
            f".venv/bin/python -m helpers run {config_path} --study {variant} "
            f"--set {_variant_setting(run.stage, name, value)} --upto {run.name}",
            "```",
        ]
    lines.append(":::")
    return "\n".join(lines)


def _stage_copy(run: Run, box: str, executed: Path, target: Path) -> None:
    """Copy an executed notebook into the staging folder with its run title and its re-run box."""
    notebook = nbformat.read(executed, as_version=4)
    first = notebook.cells[0] if notebook.cells else None
    if first is not None and first.cell_type == "markdown" and first.source.startswith("# "):
        heading, _, rest = first.source.partition("\n")
        first.source = f"# {run.title}\n{rest}"
    # The template's defaults would read as this run's: show only the injected ones.
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        if "injected-parameters" in tags:
            cell.source = "# The parameters of this run (injected by papermill)\n" + cell.source
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell(box))
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


@dataclass(frozen=True)
class Companion:
    """A study beyond the paper shown as a part of another study's book: its config, where its executed notebooks
    live (its snapshot) and its config's path as the re-run boxes name it."""

    config: StudyConfig
    root: Path
    config_path: str

    @property
    def folder(self) -> str:
        """Where its pages go in the book: ``beyond/<study>/`` (so its figures sit at ``../../figures``)."""
        return f"beyond/{self.config.study}"


def companion_studies(config: StudyConfig, configs: Path | None = None) -> list[Companion]:
    """The studies whose config says ``extends: <config.study>`` and that have a committed snapshot, by name.

    ``make read`` of the demo thus shows ``configs/demo-extended.yaml``'s snapshot as a part beyond the paper;
    without a snapshot of it the book is the demo's alone.
    """
    found = []
    for path in sorted((configs or REPO_ROOT / "configs").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict) or raw.get("extends") != config.study:
            continue
        companion = load_config(path)
        root = snapshot_dir(companion.study)
        if root.is_dir():
            found.append(Companion(companion, root, _shown(path.resolve())))
    return found


def _stage_chapters(runs: list[Run], prefix: str = "") -> list[dict[str, Any]]:
    """One chapter per stage with executed runs: its page, or a landing page with one section per run."""
    chapters = []
    for stage in STAGE_ORDER:
        pages = [
            {"file": f"{prefix}runs/{r.stage}/{r.name}", "title": r.title} for r in runs if r.stage == stage
        ]
        if len(pages) == 1:
            chapters.append(pages[0] | {"title": STAGE_TITLES[stage]})
        elif pages:
            chapters.append({"file": f"{prefix}stages/{stage}", "sections": pages})
    return chapters


def write_toc(
    config: StudyConfig, staging: Path, runs: list[Run], companions: dict[str, list[Run]] | None = None
) -> Path:
    """``_toc.yml``: the chapters, then one page per executed run grouped by stage, then the findings; each
    companion study (``{book folder: its executed runs}``) adds a part marked beyond the paper, its own
    beyond-the-paper page first."""
    parts = [{"caption": "The study", "chapters": [{"file": c} for c in CHAPTERS_BEFORE]}]
    chapters = _stage_chapters(runs)
    if chapters:
        parts.append({"caption": f"Runs of the '{config.study}' study", "chapters": chapters})
    after = [{"file": c} for c in CHAPTERS_AFTER if (staging / f"{c}.md").exists()]
    for position, stage in ((1, "paper_results"), (2, "scorer_check")):
        for run in [r for r in runs if r.stage == stage]:
            after.insert(position, {"file": f"runs/{stage}/{run.name}", "title": run.title})
    parts.append({"caption": "Findings and use", "chapters": after})
    for folder, companion_runs in (companions or {}).items():
        pages = _stage_chapters(companion_runs, f"{folder}/")
        first = [c for c in pages if c.get("file", "").endswith("/beyond_paper")]
        study = folder.removeprefix("beyond/")
        parts.append({
            "caption": f"Beyond the paper: the '{study}' study",
            "chapters": first + [c for c in pages if c not in first],
        })  # fmt: skip
    path = staging / "_toc.yml"
    path.write_text(yaml.safe_dump({"format": "jb-book", "root": "intro", "parts": parts}, sort_keys=False))
    return path


def _provenance(config: StudyConfig, root: Path) -> str:
    """The front page's statement of what this book shows: the study, the code version and the date."""
    stamp = read_stamp(root)
    if stamp:
        return (
            f"This book shows the snapshot of the study `{config.study}` committed with the code: computed by code "
            f"version `{stamp['code_version']}` on {stamp['date']} (`make book` recomputes it with the code as it is now)."
        )
    return f"This book shows the study `{config.study}` as computed in this checkout by code version `{code_version()}`."


def _stage_runs(
    config: StudyConfig, root: Path, staging: Path, config_path: str, companion: bool = False
) -> list[Run]:
    """Copy every executed run of a study under ``staging/runs/`` with its re-run box, and its figures beside.

    A ``companion`` study's pages are its runs part only (the paper's results and the scorer check are the same
    pages as the main study's), titled with the study's name so that no two pages of the book share a title.
    """
    planned = plan_runs(config)
    executed = {run.name: root / "notebooks" / run.stage / f"{run.name}.ipynb" for run in planned}
    runs = [run for run in planned if executed[run.name].exists()]
    if companion:
        runs = [
            replace(run, title=f"{run.title} (study '{config.study}')")
            for run in runs
            if run.stage in STAGE_ORDER
        ]
    for run in runs:
        box = rerun_box(run, config.study, planned, root, config_path)
        _stage_copy(run, box, executed[run.name], staging / "runs" / run.stage / f"{run.name}.ipynb")
    if (root / "figures").is_dir():  # run pages link their PNG/PDF/CSV files as ../../figures/<file>
        shutil.copytree(root / "figures", staging / "figures")
    return runs


def _companion_landing_pages(companion: Companion, runs: list[Run], staging: Path) -> None:
    """A landing page for each stage of a companion study with several runs (the main book's are in stages/)."""
    for stage in {run.stage for run in runs}:
        if sum(run.stage == stage for run in runs) > 1:
            page = staging / companion.folder / "stages" / f"{stage}.md"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(
                f"# {STAGE_TITLES[stage]} (study '{companion.config.study}', beyond the paper)\n\n"
                f"The runs of this stage in the study `{companion.config.study}` ({companion.config.description}), "
                f"one page each, as computed for its snapshot; re-run them with `{companion.config_path}`.\n"
            )


def assemble_book(
    config: StudyConfig, sources: Path | None = None, root: Path | None = None, config_path: str | None = None,
    companions: list[Companion] | tuple[Companion, ...] = (),
) -> Path:  # fmt: skip
    """Build the study's book source folder under ``results/<study>/book/`` and return it.

    ``root`` is where the executed study lives: ``results/<study>`` (default) or a snapshot folder;
    ``config_path`` is the config as the re-run boxes name it (default ``configs/<study>.yaml``); each of
    ``companions`` (:func:`companion_studies`) adds its runs under ``beyond/<study>/`` as a part beyond the paper.
    """
    sources = sources or default_book_dir()
    root = root or study_dir(config.study)
    staging = study_dir(config.study) / "book"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(sources, staging, ignore=shutil.ignore_patterns("_build", "_toc.yml"))
    intro = staging / "intro.md"
    provenance = [_provenance(config, root)]
    provenance += [
        f"Beyond the paper, it also shows the study `{c.config.study}` (`{c.config_path}`): "
        + _provenance(c.config, c.root).removeprefix("This book shows ")
        for c in companions
    ]
    intro.write_text(intro.read_text() + "".join(f"\n```{{note}}\n{line}\n```\n" for line in provenance))
    config_path = _shown(Path(config_path).resolve()) if config_path else f"configs/{config.study}.yaml"
    runs = _stage_runs(config, root, staging, config_path)
    beyond = {}
    for companion in companions:
        beyond[companion.folder] = _stage_runs(
            companion.config,
            companion.root,
            staging / companion.folder,
            companion.config_path,
            companion=True,
        )
        _companion_landing_pages(companion, beyond[companion.folder], staging)
    write_toc(config, staging, runs, beyond)
    return staging


def build_book(
    config: StudyConfig, sources: Path | None = None, root: Path | None = None, config_path: str | None = None,
    companions: list[Companion] | tuple[Companion, ...] = (),
) -> Path:  # fmt: skip
    """Assemble (with any ``companions`` beyond the paper) and build the HTML book strictly into
    ``<sources>/_build/html``; return its index.html.

    Raises :class:`BookBuildError` (its output kept in ``<sources>/_build/build.log``) when jupyter-book fails.
    """
    sources = sources or default_book_dir()
    staging = assemble_book(config, sources, root, config_path, companions)
    shutil.rmtree(sources / "_build", ignore_errors=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [
        str(jupyter_book),
        "build",
        str(staging),
        "--path-output",
        str(sources),
        "-W",
        "-n",
        "--keep-going",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        log = sources / "_build" / "build.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(command)}\n\n{result.stdout}\n{result.stderr}")
        raise BookBuildError(result.returncode, result.stdout, result.stderr, log)
    return sources / "_build" / "html" / "index.html"
