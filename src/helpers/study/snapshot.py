"""A committed snapshot of an executed study, so a reader sees the book without running anything (``make read``).

``snapshots/<study>/`` holds what the book shows: the executed notebooks, the analysis tables, the figure files and
the run records (parameters, fingerprints, output hashes), but not adapters or caches, which are rebuilt. Its
``SNAPSHOT.json`` names the code version and the date that made it. ``make book`` still recomputes everything;
``python -m helpers status`` compares the snapshot's fingerprints with the code as it is now.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers.paths import REPO_ROOT, study_dir
from helpers.storage import atomic_write_json
from helpers.study.config import StudyConfig
from helpers.study.runner import fingerprints, plan_runs

#: What a snapshot keeps of a study's results folder (globs relative to it).
KEPT = (
    "notebooks/**/*.ipynb",
    "runs/*.json",
    "runs/*.params.yaml",
    "analysis/*.csv",
    "analysis/*.json",
    "beyond/*.csv",
    "beyond/*.json",
    "figures/*",
)


def snapshot_dir(study: str) -> Path:
    """``$WARMBOOK_SNAPSHOTS/<study>`` (tests) or ``<repo>/snapshots/<study>``."""
    return Path(os.environ.get("WARMBOOK_SNAPSHOTS", REPO_ROOT / "snapshots")) / study


def code_version(root: Path = REPO_ROOT) -> str:
    """``git describe`` of the working tree (``-dirty`` when it has uncommitted changes), or ``unknown``."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def take_snapshot(config: StudyConfig) -> Path:
    """Copy the study's kept results into ``snapshots/<study>/`` (replacing an older snapshot) and stamp it."""
    source, target = study_dir(config.study), snapshot_dir(config.study)
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for pattern in KEPT:
        for path in source.glob(pattern):
            if path.is_file():
                copy = staging / path.relative_to(source)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)
    stamp = {
        "study": config.study,
        "code_version": code_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    atomic_write_json(stamp, staging / "SNAPSHOT.json")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def read_stamp(folder: Path) -> dict[str, Any]:
    path = folder / "SNAPSHOT.json"
    return json.loads(path.read_text()) if path.exists() else {}


def stale_in_snapshot(config: StudyConfig) -> list[str]:
    """Runs whose fingerprint today differs from the snapshot's: what ``make book`` would recompute."""
    folder = snapshot_dir(config.study)
    runs = plan_runs(config)
    states = {}
    for run in runs:
        path = folder / "runs" / f"{run.name}.json"
        states[run.name] = json.loads(path.read_text()) if path.exists() else {}
    now = fingerprints(runs, states)
    return [run.name for run in runs if states[run.name].get("fingerprint") != now[run.name]]
