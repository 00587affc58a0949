"""The papermill study runner: a study config becomes notebook runs, executed in dependency order.

Each run is one stage notebook with one stage parameter object (``helpers.<stage>.params``): the runner copies
the config's section for that stage, sets the run's own fields (model, style, variant...) and hands the object's
values to papermill unchanged. Runs write only under ``results/<study>/``: the executed notebook to
``notebooks/<stage>/<run>.ipynb``, the state record to ``runs/<run>.json``, and the stage's outputs.

A run is done only while its fingerprint still matches and its recorded outputs are intact. The fingerprint
covers everything that can change a result: the parameters, the notebook, the source of every library module the
notebook imports (followed transitively), the data files the stage reads, and the fingerprints and output
hashes of the runs it depends on. So an edited scoring rule re-runs exactly the evaluations and the analysis; a
damaged results file re-runs its run and whatever read it. A failed run keeps its partial notebook, reports the
failing cell, and only the runs that depend on it are held back.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import nbformat
import yaml

from helpers.checkpoints import format_epoch
from helpers.model_names import check_model_resolves
from helpers.params import StageParams
from helpers.paths import REPO_ROOT, model_slug, study_dir
from helpers.storage import atomic_write_json, atomic_write_text
from helpers.study.config import STAGES, StudyConfig
from helpers.study.stages import ANALYSIS_INPUTS, BEYOND_PAPER_INPUTS, BY_NAME, REGISTRY
from helpers.validation import ParameterError

STAGE_TITLES = {stage.name: stage.title for stage in REGISTRY}
#: Data files (globs under ``data/``) each stage reads: part of its fingerprint.
STAGE_DATA: dict[str, tuple[str, ...]] = {stage.name: stage.data for stage in REGISTRY}


@dataclass(frozen=True)
class Run:
    """One notebook execution: a stage's parameter object and the runs whose outputs it reads."""

    name: str
    title: str
    params: StageParams
    depends_on: tuple[str, ...] = field(default=())

    @property
    def stage(self) -> str:
        return self.params.stage

    @property
    def parameters(self) -> dict[str, Any]:
        return self.params.notebook_parameters()

    def notebook(self, root: Path = REPO_ROOT) -> Path:
        return root / "notebooks" / f"{self.stage}.ipynb"

    def output_path(self, study: str) -> Path:
        """Where the executed notebook goes: ``results/<study>/notebooks/<stage>/<run>.ipynb``."""
        return study_dir(study) / "notebooks" / self.stage / f"{self.name}.ipynb"

    def outputs(self, study: str) -> list[Path]:
        """The result files this run is responsible for (hashed after it ran; checked by ``status``)."""
        root = study_dir(study)
        p = self.parameters
        patterns = BY_NAME[self.stage].outputs(p)
        return sorted({f for pattern in patterns for f in root.glob(pattern) if f.is_file()})


def with_upstream(runs: list[Run], names: set[str]) -> set[str]:
    """``names`` and every run they read from, directly or through others (what ``run --upto`` executes)."""
    by_name = {run.name: run for run in runs}
    unknown = sorted(names - set(by_name))
    if unknown:
        raise ParameterError("run", unknown[0], f"a run of this study: {', '.join(sorted(by_name))}")
    wanted, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += by_name[name].depends_on
    return wanted


def _derive(section: StageParams, **run_values: Any) -> StageParams:
    """The section's object with this run's own fields set (validated again, so a bad combination fails)."""
    return section.updated(**run_values)


def plan_runs(config: StudyConfig) -> list[Run]:
    """Expand a study config into runs, listed in dependency order (training_data -> finetune -> ... -> analysis)."""
    common = {"study": config.study, "seed": config.seed}
    device = {"device": config.device}
    runs: list[Run] = [
        Run(
            "paper_results",
            STAGE_TITLES["paper_results"],
            STAGES["paper_results"](study=config.study),
        ),
        Run(
            "scorer_check",
            STAGE_TITLES["scorer_check"],
            STAGES["scorer_check"](study=config.study),
        ),
        Run(
            "training_data",
            "Warm and cold rewrites of ShareGPT",
            _derive(config.training_data, **common, styles=list(config.styles)),
        ),
    ]
    checkpoints = config.finetune.checkpoints
    for model in config.models:
        slug = model_slug(model)
        on_model = {**common, **device, "model": model}
        for style in config.styles:
            params = _derive(config.finetune, **on_model, style=style)
            runs.append(
                Run(f"finetune-{slug}-{style}", f"Fine-tuning {slug}: {style}", params, ("training_data",))
            )
        warmth = _derive(
            config.warmth, **on_model, styles=list(config.styles), checkpoints=checkpoints,
            selected_checkpoint=config.selected_checkpoint,
        )  # fmt: skip
        finetunes = tuple(f"finetune-{slug}-{s}" for s in config.styles)
        # The warmth stage reads the validation prompts of training_data as well as each style's checkpoints.
        runs.append(Run(f"warmth-{slug}", f"SocioT warmth of {slug}", warmth, ("training_data", *finetunes)))
        stages = [("evaluate", "Evaluation", config.evaluate, config.variants)]
        stages.append(("capabilities", "Capabilities", config.capabilities, config.capability_variants))
        for stage, label, section, variants in stages:
            for variant in variants:
                params = _derive(section, **on_model, variant=variant, checkpoint=config.selected_checkpoint)
                deps = (f"finetune-{slug}-{variant}",) if variant in config.styles else ()
                runs.append(Run(f"{stage}-{slug}-{variant}", f"{label} of {slug}: {variant}", params, deps))
        runs += beyond_paper_evaluations(config, model)
    evaluations = tuple(r.name for r in runs if r.stage == "evaluate")
    runs.append(
        Run("answers", "The answers, side by side", STAGES["answers"].build(study=config.study), evaluations)
    )
    if asks_beyond_the_paper(config):
        beyond = STAGES["beyond_paper"].build(**common, selected_checkpoint=config.selected_checkpoint)
        deps = tuple(r.name for r in runs if r.stage in BEYOND_PAPER_INPUTS)
        runs.append(Run("beyond_paper", "Beyond the paper: seeds, dose–response, mitigation", beyond, deps))
    analysis = STAGES["analysis"].build(**common, selected_checkpoint=config.selected_checkpoint)
    analysis_deps = tuple(r.name for r in runs if r.stage in ANALYSIS_INPUTS)
    runs.append(Run("analysis", "Statistics and figures of this study", analysis, analysis_deps))
    return runs


def asks_beyond_the_paper(config: StudyConfig) -> bool:
    """Whether the study asks what the paper does not: several seeds, a dose–response or a mitigation arm."""
    mitigation = "candid" in config.variants or "ask" in config.evaluate.templates
    return len(config.sampling_seeds) > 1 or bool(config.dose_response) or mitigation


def beyond_paper_evaluations(config: StudyConfig, model: str) -> list[Run]:
    """The evaluations beyond the paper: every variant again under each extra sampling seed (same items and
    prompts, ``generation_seed`` k, results in ``<variant>/seed<k>/``), and each ``dose_response`` style at every
    checkpoint on the plain and incorrect-belief prompts (``<style>/epoch<e>/``). The main evaluation already
    holds the original (checkpoint 0) and a style's selected checkpoint when that style is a variant."""
    slug = model_slug(model)
    on_model = {"study": config.study, "seed": config.seed, "device": config.device, "model": model}
    runs = []
    for seed in config.sampling_seeds[1:]:
        for variant in config.variants:
            params = _derive(
                config.evaluate, **on_model, variant=variant, checkpoint=config.selected_checkpoint,
                generation_seed=seed, results_folder=f"seed{seed}",
            )  # fmt: skip
            deps = (f"finetune-{slug}-{variant}",) if variant in config.styles else ()
            runs.append(Run(params.run_name(), f"Evaluation of {slug}: {variant}, seed {seed}", params, deps))
    for style in config.dose_response:
        for epoch in config.finetune.checkpoints:
            if epoch == config.selected_checkpoint and style in config.variants:
                continue
            params = _derive(
                config.evaluate, **on_model, variant=style, checkpoint=epoch, templates=["original", "incorrect"],
                amendment_types=["unmodified"], results_folder=f"epoch{format_epoch(epoch)}",
            )  # fmt: skip
            title = f"Evaluation of {slug}: {style} at epoch {format_epoch(epoch)}"
            runs.append(Run(params.run_name(), title, params, (f"finetune-{slug}-{style}",)))
    return runs


# ---------------------------------------------------------------------------------------------- fingerprints


def _module_file(module: str, root: Path) -> Path | None:
    parts = module.split(".")
    base = root / "src" / Path(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _helpers_imports(source: str, package: str) -> set[str]:
    """Every ``helpers`` module a piece of code imports, at any depth of the code (lazy imports included)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [module]
                ).strip(".")
            if module.split(".")[0] == "helpers":
                found.add(module)
                found |= {f"{module}.{a.name}" for a in node.names}
    return found


def library_sources(notebook: Path, root: Path = REPO_ROOT) -> list[Path]:
    """The library files a notebook runs: its ``helpers`` imports, followed transitively (with packages' inits)."""
    tree = tuple(sorted((str(f), f.stat().st_mtime_ns) for f in (root / "src" / "helpers").rglob("*.py")))
    return list(_library_sources(notebook, root, notebook.stat().st_mtime_ns, tree))


@cache
def _library_sources(notebook: Path, root: Path, _mtime: int, _tree: tuple) -> tuple[Path, ...]:
    code = "\n".join(
        "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for cell in nbformat.read(notebook, as_version=4).cells
        if cell.cell_type == "code"
    )
    todo = _helpers_imports(code, "helpers")
    seen: dict[str, Path] = {}
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):  # a module imports its packages' __init__ too
            name = ".".join(parts[:depth])
            path = _module_file(name, root)
            if path is None or name in seen:
                continue
            seen[name] = path
            package = name if path.name == "__init__.py" else ".".join(parts[: depth - 1]) or "helpers"
            todo |= _helpers_imports(path.read_text(), package) - set(seen)
    return tuple(sorted(set(seen.values())))


def notebook_content(notebook: Path) -> str:
    """What a notebook runs and says: each cell's type, tags and source (not its ids, outputs or JSON layout)."""
    cells = nbformat.read(notebook, as_version=4).cells
    return json.dumps([(c.cell_type, c.metadata.get("tags", []), c.source) for c in cells])


@cache
def _file_digest(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file (memoised on its modification time and size within one process)."""
    stat = path.stat()
    return _file_digest(path, stat.st_mtime_ns, stat.st_size)


def _data_files(stage: str, root: Path) -> list[Path]:
    data = root / "data"
    return sorted({f for pattern in STAGE_DATA[stage] for f in data.glob(pattern) if f.is_file()})


def outputs_digest(outputs: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest()[:16]


def fingerprints(
    runs: Iterable[Run], states: dict[str, dict[str, Any]] | None = None, root: Path = REPO_ROOT
) -> dict[str, str]:
    """One fingerprint per run: parameters, notebook, library sources, data files, upstream prints and outputs."""
    states = states or {}
    prints: dict[str, str] = {}
    for run in runs:
        digest = hashlib.sha256()
        digest.update(json.dumps(run.parameters, sort_keys=True).encode())
        notebook = run.notebook(root)
        digest.update(notebook_content(notebook).encode() if notebook.exists() else b"missing notebook")
        sources = library_sources(notebook, root) if notebook.exists() else []
        for path in [*sources, *_data_files(run.stage, root)]:
            digest.update(f"{path.relative_to(root)}:{file_digest(path)}".encode())
        for dep in run.depends_on:
            digest.update(prints[dep].encode())
            digest.update(outputs_digest(states.get(dep, {}).get("outputs", {})).encode())
        prints[run.name] = digest.hexdigest()[:16]
    return prints


# ----------------------------------------------------------------------------------------------------- state


def _state_path(study: str, run: Run) -> Path:
    return study_dir(study) / "runs" / f"{run.name}.json"


def _read_state(study: str, run: Run) -> dict[str, Any]:
    path = _state_path(study, run)
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        return {}


def record_outputs(run: Run, study: str) -> dict[str, str]:
    """``{path relative to the study folder: sha256}`` of the run's outputs as they are now."""
    root = study_dir(study)
    return {str(path.relative_to(root)): file_digest(path) for path in run.outputs(study)}


def run_status(config: StudyConfig, root: Path = REPO_ROOT) -> list[tuple[Run, str, dict[str, Any]]]:
    """``(run, status, state)`` per run, in dependency order.

    Status: ``done``; ``stale`` (its fingerprint changed: parameters, code, data or an upstream result, or its
    recorded outputs are missing or changed); ``failed``; ``pending`` (never run, or an upstream is not done).
    """
    runs = plan_runs(config)
    states = {run.name: _read_state(config.study, run) for run in runs}
    prints = fingerprints(runs, states, root)
    status_of: dict[str, str] = {}
    rows = []
    for run in runs:
        state = states[run.name]
        if not state:
            status = "pending"
        elif state.get("status") == "failed":
            status = "failed" if state.get("fingerprint") == prints[run.name] else "stale"
        elif state.get("fingerprint") != prints[run.name]:
            status = "stale"
        elif not run.output_path(config.study).exists() or record_outputs(run, config.study) != state.get(
            "outputs"
        ):
            status = "stale"
        elif any(status_of[dep] != "done" for dep in run.depends_on):
            status = "stale"
        else:
            status = "done"
        status_of[run.name] = status
        rows.append((run, status, state))
    return rows


def strip_volatile_metadata(path: Path) -> None:
    """Drop timings and random cell ids from an executed notebook so reruns diff cleanly."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.pop("papermill", None)
    notebook.metadata.get("widgets", {}).clear()
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    atomic_write_text(path, nbformat.writes(notebook))


#: Set in every kernel: library progress bars and the IProgress warning belong to the terminal, not the book's pages.
KERNEL_ENVIRONMENT = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "PYTHONWARNINGS": "ignore:IProgress not found,ignore::FutureWarning",
}


def execute_run(run: Run, study: str) -> dict[str, Any]:
    """Execute one notebook with papermill; return its state record (status, seconds, failing cell).

    papermill's progress bar shows the run's cells on the terminal; the kernel inherits ``KERNEL_ENVIRONMENT``.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from traitlets.config import Config

    output = run.output_path(study)
    output.parent.mkdir(parents=True, exist_ok=True)
    os.environ.update(KERNEL_ENVIRONMENT)
    started = time.monotonic()
    state: dict[str, Any] = {"status": "done", "error": None, "failed_cell": None}
    try:
        papermill.execute_notebook(
            str(run.notebook()),
            str(output),
            parameters=run.parameters,
            kernel_name="python3",
            cwd=str(run.notebook().parent),
            progress_bar=True,
            log_output=False,
            # Encrypt the kernel's local TCP channels: silences ipykernel's "running over TCP without encryption"
            # warning at its source instead of filtering it.
            config=Config({"KernelManager": {"transport_encryption": "auto"}}),
        )
    except PapermillExecutionError as error:
        state = {
            "status": "failed",
            "failed_cell": error.exec_count,
            "error": f"{error.ename}: {error.evalue}",
        }
    except Exception as error:  # a kernel crash or a missing notebook: record it and go on with other runs
        state = {"status": "failed", "failed_cell": None, "error": f"{type(error).__name__}: {error}"}
    if output.exists():
        strip_volatile_metadata(output)
    state["seconds"] = round(time.monotonic() - started, 1)
    return state


def _still_done(run: Run, study: str, states: dict[str, dict[str, Any]], runs: list[Run]) -> bool:
    """A recorded run whose fingerprint (with its upstreams as they are now) and outputs are unchanged."""
    state = states.get(run.name, {})
    return (
        state.get("status") == "done"
        and state.get("fingerprint") == fingerprints(runs, states)[run.name]
        and run.output_path(study).exists()
        and record_outputs(run, study) == state.get("outputs")
    )


def execute_study(
    config: StudyConfig,
    only: set[str] | None = None,
    force: set[str] | None = None,
    execute: Callable[[Run, str], dict[str, Any]] = execute_run,
) -> dict[str, str]:
    """Run every pending, stale or forced run in dependency order; return ``{run name: outcome}``.

    Outcomes: ``skipped`` (done for the same fingerprint), ``done``, ``failed``, ``blocked`` (a dependency
    failed or is not done). ``only`` restricts execution to the named runs (their dependencies must be done);
    ``force`` redoes the named runs even when done (their dependents follow if the outputs change).
    """
    force = force or set()
    for model in config.models:
        check_model_resolves(model)
    if config.warmth.scorer_model not in config.models:
        check_model_resolves(config.warmth.scorer_model, "warmth.scorer_model")
    rows = run_status(config)
    known = {run.name for run, _, _ in rows}
    for name in (only or set()) | force:
        if name not in known:
            raise ParameterError("run", name, f"a run of this study: {', '.join(sorted(known))}")
    states = {run.name: state for run, _, state in rows}
    todo = [
        run for run, status, _ in rows
        if (status != "done" or run.name in force) and (only is None or run.name in only)
    ]  # fmt: skip
    print(
        f"Study '{config.study}': {len(rows)} runs, {len(rows) - len(todo)} up to date, {len(todo)} to run."
    )
    outcome: dict[str, str] = {}
    started = time.monotonic()
    for run, status, _ in rows:
        if run not in todo:
            outcome[run.name] = "skipped" if status == "done" else status
            continue
        blockers = [d for d in run.depends_on if outcome.get(d) not in ("done", "skipped")]
        if blockers:
            outcome[run.name] = "blocked"
            print(f"[{todo.index(run) + 1}/{len(todo)}] {run.name}: blocked by {', '.join(blockers)}")
            continue
        if run.name not in force and _still_done(run, config.study, states, [r for r, _, _ in rows]):
            outcome[run.name] = (
                "skipped"  # stale only while an upstream was; it was redone with the same outputs
            )
            print(
                f"[{todo.index(run) + 1}/{len(todo)}] {run.name}: upstream redone with identical outputs, still done"
            )
            continue
        print(f"[{todo.index(run) + 1}/{len(todo)}] {run.name} ({run.stage}) ...", flush=True)
        state = execute(run, config.study)
        if state["status"] == "done":
            state["outputs"] = record_outputs(run, config.study)
        states[run.name] = state
        prints = fingerprints([r for r, _, _ in rows], states)
        state |= {"fingerprint": prints[run.name], "parameters": run.parameters}
        # The state record is written last: it is what makes a run done, so a kill before it redoes the run.
        atomic_write_text(
            _state_path(config.study, run).with_suffix(".params.yaml"), yaml.safe_dump(run.parameters)
        )
        atomic_write_json(state, _state_path(config.study, run))
        outcome[run.name] = state["status"]
        elapsed = time.monotonic() - started
        if state["status"] == "done":
            print(f"    done in {state['seconds']:.0f} s (study elapsed {elapsed / 60:.1f} min)")
        else:
            where = f"cell {state['failed_cell']}" if state["failed_cell"] is not None else "before any cell"
            print(
                f"    FAILED at {where}: {state['error']}\n    partial notebook: {run.output_path(config.study)}"
            )
    return outcome
