"""Run the demo config's matrix with a stand-in for papermill that writes real result files, slowly.

Used by tests/test_kill.py: the test SIGKILLs this process at random moments and runs it again until the study
completes. Each stand-in run writes its executed notebook, its stage's outputs (atomically, as the stages do) and
sleeps between writes, so kills land before, inside and after runs and their state records.

Usage: ``python tests/runner_kill_worker.py CONFIG`` (``WARMBOOK_RESULTS`` names the results root).
"""

from __future__ import annotations

import json
import sys
import time

from helpers.paths import model_slug, study_dir
from helpers.storage import atomic_write_text
from helpers.study.config import load_config
from helpers.study.runner import execute_study


def slow_stage(run, study: str) -> dict:
    """Write what the stage writes, deterministically from the run's parameters, with pauses in between."""
    time.sleep(0.05)
    atomic_write_text(run.output_path(study), '{"cells": []}')
    p = run.parameters
    if run.stage == "evaluate":
        for task in p["tasks"]:
            time.sleep(0.02)
            path = study_dir(study) / model_slug(p["model"]) / p["variant"] / f"{task}.csv"
            atomic_write_text(path, f"task,variant\n{task},{p['variant']}\n")
    if run.stage == "training_data":
        atomic_write_text(
            study_dir(study) / "training_data" / "warm.jsonl", json.dumps({"n": p["n_conversations"]}) + "\n"
        )
    return {"status": "done", "failed_cell": None, "error": None, "seconds": 0.0}


if __name__ == "__main__":
    outcome = execute_study(load_config(sys.argv[1]), execute=slow_stage)
    print(sorted(outcome.items()))
