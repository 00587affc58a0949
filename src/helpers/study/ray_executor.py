"""The study's run matrix on a Ray cluster: one remote task per run, as many at once as the cluster holds.

The local runner (:func:`helpers.study.runner.execute_study`) executes one notebook at a time on one machine; the
paper's study is dozens of GPU runs (four models x two fine-tunes, warmth, four evaluated variants, capabilities).
Ray is the distributed engine here, used as it is meant to be: a task per run with its GPU count as
a resource, the dependency graph expressed by passing each upstream task's result to its dependents, so Ray starts
a run as soon as the runs it reads are finished and a GPU is free.

What decides what runs, and what is recorded, stays exactly the local runner's: ``execute_study`` itself walks
the runs in dependency order on the driver, and the ``execute`` it calls only waits for the Ray task of that run.
So the same fingerprints and state files decide what runs, state files are written by the driver alone, and the
outcome is the one the local executor gives. Each run writes only its own files (its notebook, its stage's
outputs; ``Run.outputs``), so runs executing side by side never write the same file.

Requirements on a real cluster: every node has this repository and its ``.venv`` at the same path, and
``WARMBOOK_RESULTS`` / ``WARMBOOK_CACHE`` point at storage all nodes share (the driver's values travel with
each task, together with the hub and judge keys).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from helpers.study.config import StudyConfig
from helpers.study.runner import Run, execute_run, execute_study, run_status
from helpers.study.stages import BY_NAME

#: Environment variables each task takes from the driver: where results and caches live, hub and judge keys.
FORWARDED_ENV = (
    "WARMBOOK_RESULTS",
    "WARMBOOK_CACHE",
    "WARMBOOK_BOOK",
    "WARMBOOK_JUDGE_API_KEY",
    "OPENAI_API_KEY",
    "HF_TOKEN",
    "HF_HOME",
)


def run_gpus(run: Run, cluster_gpus: float) -> int:
    """GPUs a run asks Ray for: none on a cluster without GPUs or with ``device: cpu``; else its own count.

    A fine-tune takes one GPU per training process (``num_processes``); a generating stage takes
    ``tensor_parallel_size`` GPUs (vLLM's tensor parallelism, or the GPUs ``device_map="auto"`` spreads a Hugging
    Face model over); the data, analysis and paper-results runs need none.
    """
    parameters = run.parameters
    if cluster_gpus == 0 or not BY_NAME[run.stage].uses_model or parameters.get("device") == "cpu":
        return 0
    key = "num_processes" if run.stage == "finetune" else "tensor_parallel_size"
    return int(parameters.get(key) or 1)


def runs_to_execute(config: StudyConfig, only: set[str] | None, force: set[str] | None) -> list[Run]:
    """The runs ``execute_study`` will consider executing (pending, stale, failed or forced; within ``only``)."""
    force = force or set()
    return [
        run
        for run, status, _ in run_status(config)
        if (status != "done" or run.name in force) and (only is None or run.name in only)
    ]


def _execute_after(
    execute: Callable[[Run, str], dict[str, Any]],
    run: Run,
    study: str,
    env: dict[str, str],
    *upstream: dict[str, Any],
) -> dict[str, Any]:
    """The body of one Ray task: Ray has resolved the upstream states; run only if every one of them is done."""
    if any(state.get("status") != "done" for state in upstream):
        return {
            "status": "blocked",
            "error": "an upstream run did not finish",
            "failed_cell": None,
            "seconds": 0,
        }
    os.environ.update(env)
    return execute(run, study)


def execute_study_on_ray(
    config: StudyConfig,
    address: str | None = None,
    only: set[str] | None = None,
    force: set[str] | None = None,
    execute: Callable[[Run, str], dict[str, Any]] = execute_run,
) -> dict[str, str]:
    """Execute the study's runs as Ray tasks; same arguments and outcome as ``execute_study``.

    ``address`` is a Ray cluster (``ray://head:10001`` or ``auto``); ``None`` connects to the Ray instance this
    process already started, or starts a local one. ``execute`` runs one notebook (papermill; tests inject a
    fake) inside the task.
    """
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=False)
    try:
        env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        remote = ray.remote(_execute_after)
        status = {run.name: status for run, status, _ in run_status(config)}
        refs: dict[str, Any] = {}
        for run in runs_to_execute(config, only, force):
            upstream = [refs[dep] if dep in refs else {"status": status[dep]} for dep in run.depends_on]
            refs[run.name] = remote.options(num_gpus=run_gpus(run, cluster_gpus), num_cpus=1).remote(
                execute, run, config.study, env, *upstream
            )
        return execute_study(
            config, only=only, force=force, execute=lambda run, _study: ray.get(refs[run.name])
        )
    finally:
        if started_here:
            ray.shutdown()
