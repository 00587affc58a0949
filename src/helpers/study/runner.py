"""The papermill study runner: a study config becomes notebook runs, executed in dependency order.

Each run is one parameterized notebook (a stage) for one model and condition. A run is identified by a
fingerprint of its parameters, its notebook's source and the fingerprints of the runs it depends on, so
changing one parameter re-runs exactly the affected runs and their dependents, and a second ``make book``
skips everything already done. A failed run keeps its partial notebook, reports the failing cell, and only the
runs that depend on it are held back.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from helpers.paths import NOTEBOOKS_DIR, book_dir, model_slug, study_dir
from helpers.storage import atomic_write_json, atomic_write_text
from helpers.study.config import StudyConfig

STAGE_TITLES = {
    "training_data": "Warm and cold training data",
    "finetune": "Fine-tuning",
    "warmth": "SocioT warmth",
    "evaluate": "Evaluation",
    "capabilities": "Capabilities and safety",
    "analysis": "Analysis",
    "paper_results": "The paper's released results",
}


@dataclass(frozen=True)
class Run:
    """One notebook execution: a stage, its parameters and the runs whose outputs it reads."""

    name: str
    stage: str
    title: str
    parameters: dict[str, Any]
    depends_on: tuple[str, ...] = field(default=())

    @property
    def notebook(self) -> Path:
        return NOTEBOOKS_DIR / f"{self.stage}.ipynb"

    def output_path(self, study: str) -> Path:
        return book_dir() / "runs" / study / self.stage / f"{self.name}.ipynb"


def plan_runs(config: StudyConfig) -> list[Run]:
    """Expand a study config into runs, listed in dependency order (STUDY.md's pipeline, DESIGN.md's stages)."""
    common = {"study": config.study, "seed": config.seed}
    device = {"device": config.device}
    runs: list[Run] = [Run("paper_results", "paper_results", "Figures from the authors' released data", {})]
    td = config.training_data
    runs.append(
        Run(
            "training_data",
            "training_data",
            "Warm and cold rewrites of ShareGPT",
            {**common, **td.model_dump()},
        )
    )
    ft = config.finetune
    for model in config.models:
        slug = model_slug(model)
        for style in ft.styles:
            params = {**common, **device, "model": model, "style": style}
            params |= ft.model_dump(exclude={"styles", "selected_checkpoint"})
            runs.append(
                Run(
                    f"finetune-{slug}-{style}",
                    "finetune",
                    f"{style.capitalize()} fine-tune of {slug}",
                    params,
                    ("training_data",),
                )
            )
        wm = config.warmth
        warmth_params = {
            **common,
            **device,
            "model": model,
            "styles": list(ft.styles),
            "checkpoints": list(ft.checkpoints),
            "selected_checkpoint": ft.selected_checkpoint,
        }
        warmth_params |= {"n_prompts": wm.n_prompts, "scorer_model": wm.scorer_model, "n_passes": wm.n_passes}
        warmth_params |= {"max_new_tokens": wm.max_new_tokens, "batch_size": config.batch_size}
        runs.append(
            Run(
                f"warmth-{slug}",
                "warmth",
                f"Warmth of {slug} per checkpoint",
                warmth_params,
                tuple(f"finetune-{slug}-{s}" for s in ft.styles),
            )
        )
        ev = config.evaluation
        for variant in ev.variants:
            params = {
                **common,
                **device,
                "model": model,
                "variant": variant,
                "checkpoint": ft.selected_checkpoint,
            }
            params |= ev.model_dump(exclude={"variants", "judge"})
            params |= {
                "judge_base_url": ev.judge.base_url if ev.judge else None,
                "judge_model": ev.judge.model if ev.judge else None,
            }
            deps = (f"finetune-{slug}-{variant}",) if variant in ("warm", "cold") else ()
            runs.append(Run(f"evaluate-{slug}-{variant}", "evaluate", f"{slug}: {variant}", params, deps))
        if config.capabilities:
            cp = config.capabilities
            for variant in cp.variants:
                params = {
                    **common,
                    **device,
                    "model": model,
                    "variant": variant,
                    "checkpoint": ft.selected_checkpoint,
                }
                params |= cp.model_dump(exclude={"variants"}) | {"batch_size": config.batch_size}
                deps = (f"finetune-{slug}-{variant}",) if variant in ("warm", "cold") else ()
                runs.append(
                    Run(f"capabilities-{slug}-{variant}", "capabilities", f"{slug}: {variant}", params, deps)
                )
    analysis_deps = tuple(r.name for r in runs if r.stage in ("warmth", "evaluate", "capabilities"))
    runs.append(
        Run(
            "analysis",
            "analysis",
            "Statistics and figures of this study",
            {"study": config.study, "selected_checkpoint": config.finetune.selected_checkpoint},
            analysis_deps,
        )
    )
    return runs


def _fingerprints(runs: list[Run]) -> dict[str, str]:
    prints: dict[str, str] = {}
    for run in runs:
        digest = hashlib.sha256()
        digest.update(json.dumps(run.parameters, sort_keys=True, default=str).encode())
        digest.update(run.notebook.read_bytes() if run.notebook.exists() else b"missing")
        for dep in run.depends_on:
            digest.update(prints[dep].encode())
        prints[run.name] = digest.hexdigest()[:16]
    return prints


def _state_path(study: str, run: Run) -> Path:
    return study_dir(study) / "runs" / f"{run.name}.json"


def _read_state(study: str, run: Run) -> dict[str, Any]:
    path = _state_path(study, run)
    return json.loads(path.read_text()) if path.exists() else {}


def run_status(config: StudyConfig) -> list[tuple[Run, str, dict[str, Any]]]:
    """``(run, status, state)`` per run; status is done, failed, stale (parameters changed) or pending."""
    runs = plan_runs(config)
    prints = _fingerprints(runs)
    rows = []
    for run in runs:
        state = _read_state(config.study, run)
        if not state:
            status = "pending"
        elif state.get("fingerprint") != prints[run.name]:
            status = "stale"
        elif state.get("status") == "done" and run.output_path(config.study).exists():
            status = "done"
        elif state.get("status") == "failed":
            status = "failed"
        else:
            status = "pending"
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


def execute_run(run: Run, study: str) -> dict[str, Any]:
    """Execute one notebook with papermill; return its state record (status, seconds, failing cell)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = run.output_path(study)
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    state: dict[str, Any] = {"status": "done", "error": None, "failed_cell": None}
    try:
        papermill.execute_notebook(
            str(run.notebook),
            str(output),
            parameters=run.parameters,
            kernel_name="python3",
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
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


def execute_study(
    config: StudyConfig,
    only: set[str] | None = None,
    execute: Callable[[Run, str], dict[str, Any]] = execute_run,
) -> dict[str, str]:
    """Run every pending or stale run in dependency order; return ``{run name: outcome}``.

    Outcomes: ``skipped`` (done for the same fingerprint), ``done``, ``failed``, ``blocked`` (a dependency
    failed or is not done). ``only`` restricts execution to the named runs (their dependencies must be done).
    """
    rows = run_status(config)
    prints = _fingerprints([run for run, _, _ in rows])
    outcome: dict[str, str] = {}
    todo = [run for run, status, _ in rows if status != "done" and (only is None or run.name in only)]
    up_to_date = sum(1 for _, status, _ in rows if status == "done")
    print(f"Study '{config.study}': {len(rows)} runs, {up_to_date} up to date, {len(todo)} to run.")
    started = time.monotonic()
    position = 0
    for run, status, _ in rows:
        if status == "done":
            outcome[run.name] = "skipped"
            continue
        if only is not None and run.name not in only:
            outcome[run.name] = status
            continue
        position += 1
        blockers = [d for d in run.depends_on if outcome.get(d) not in ("done", "skipped")]
        if blockers:
            outcome[run.name] = "blocked"
            print(f"[{position}/{len(todo)}] {run.name}: blocked by {', '.join(blockers)}")
            continue
        print(f"[{position}/{len(todo)}] {run.name} ({run.stage}) ...", flush=True)
        state = execute(run, config.study) | {"fingerprint": prints[run.name], "parameters": run.parameters}
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
