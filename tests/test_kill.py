"""Kill anywhere, lose nothing: generation SIGKILLed at random moments, then completed.

A real subprocess (tests/kill_worker.py) answers 24 prompts into a JSONL cache and is SIGKILLed ten times at
random moments of its generation; every other round the cache is also cut at a random byte of its last line, as a
kill inside a write would leave it. The eleventh run completes. Its answers must equal an uninterrupted run's,
with every prompt cached exactly once: no duplicated and no missing rows.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

from helpers.storage import TornLineWarning, read_jsonl

WORKER = Path(__file__).with_name("kill_worker.py")
KILLS = 10


class Worker:
    """tests/kill_worker.py: loads the tiny model once, then runs each generation in a child process to kill."""

    def __init__(self, model_dir: Path):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(model_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True
        ).start()
        assert self._read() == "ready"

    def _read(self, timeout: float = 300) -> str:
        """The worker's next line; a worker silent for ``timeout`` seconds fails the test instead of hanging it."""
        try:
            return self.lines.get(timeout=timeout).strip()
        except queue.Empty:
            raise AssertionError(
                f"the kill worker gave no answer in {timeout:.0f} s (a child hangs?)"
            ) from None

    def _send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def run(self, cache: Path, out: Path, kill_at: tuple[int, float] | None = None) -> tuple[int, float]:
        """Generate into ``cache`` in a new child; (exit code, seconds).

        With ``kill_at=(rows, delay)`` the child is SIGKILLed ``delay`` seconds after the cache has grown by
        ``rows`` lines. Waiting for the cache to grow, rather than for a fixed time measured on another run, puts
        the kill inside generation on any machine: a time drawn from the uninterrupted run's length landed after
        the end when a slower first run (cold caches on a busy CI machine) set the scale.
        """
        lines_before = _lines(cache)
        self._send(f"run {cache} {out}")
        pid, started = int(self._read()), time.perf_counter()
        if kill_at is not None:
            rows, delay = kill_at
            while _lines(cache) < lines_before + rows and time.perf_counter() - started < 60:
                time.sleep(0.002)
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL)
        self._send("wait")
        return int(self._read()), time.perf_counter() - started

    def close(self) -> None:
        """End the worker; one that does not exit (a hung child it waits for) is killed."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _lines(path: Path) -> int:
    """Whole lines in ``path`` so far (0 if it does not exist yet)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _tear_last_line(cache: Path, rng: random.Random) -> bool:
    """Cut the cache inside its last line, as a kill in the middle of a write leaves it."""
    data = cache.read_bytes() if cache.exists() else b""
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    if len(data) - start < 3:
        return False
    cache.write_bytes(data[: rng.randrange(start + 1, len(data) - 1)])
    return True


def test_generation_killed_ten_times_at_random_completes_as_if_never_interrupted(tiny_model_dir, tmp_path):
    worker = Worker(tiny_model_dir)
    try:
        reference = tmp_path / "reference.json"
        status, seconds = worker.run(tmp_path / "reference.jsonl", reference)
        assert status == 0

        cache, out = tmp_path / "killed.jsonl", tmp_path / "killed.json"
        rng = random.Random(11)
        cached, killed_midway, torn = [], 0, 0
        for round_ in range(KILLS):
            # Kill after a random number of new rows (short of the last batch) plus part of one batch's time. A run
            # that finished before its kill leaves `out`; it is removed so the next run is not counted as one.
            remaining = 24 - (cached[-1] if cached else 0)
            rows = rng.randrange(max(remaining - 2, 1))
            out.unlink(missing_ok=True)
            status, _ = worker.run(cache, out, kill_at=(rows, rng.uniform(0, seconds / 12)))
            killed_midway += status == -signal.SIGKILL and not out.exists()
            if round_ % 2 and _tear_last_line(cache, rng):
                torn += 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TornLineWarning)
                cached.append(len({record["key"] for record in read_jsonl(cache)}))
        status, _ = worker.run(cache, out)
    finally:
        worker.close()

    assert status == 0 and json.loads(out.read_text()) == json.loads(reference.read_text())
    keys = [record["key"] for record in read_jsonl(cache)]
    assert len(keys) == len(set(keys)) == 24, "a prompt is duplicated or missing in the cache"
    assert killed_midway >= KILLS // 2, f"only {killed_midway} kills landed inside generation"
    print(
        f"\n{KILLS} kills, {killed_midway} inside generation, {torn} torn lines; prompts cached after each: {cached}"
    )


RUNNER_WORKER = Path(__file__).with_name("runner_kill_worker.py")


def _snapshot_study(root: Path) -> dict[str, str]:
    """Every file a study left (results and run records), with volatile fields of the state records dropped."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            text = path.read_text()
            if path.suffix == ".json" and path.parent.name == "runs":
                state = json.loads(text)
                state.pop("seconds", None)
                text = json.dumps(state, sort_keys=True)
            files[str(path.relative_to(root))] = text
    return files


def test_the_runner_killed_ten_times_at_random_completes_as_if_never_interrupted(tmp_path):
    config = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(results: Path, kill_after: float | None = None) -> int:
        """Run the study; with ``kill_after``, SIGKILL it then and return -9 if it was still running."""
        process = subprocess.Popen(
            [sys.executable, str(RUNNER_WORKER), str(config)],
            env=env | {"WARMBOOK_RESULTS": str(results)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if kill_after is not None:
            time.sleep(kill_after)
            process.send_signal(signal.SIGKILL)
        return process.wait(timeout=120)

    started = time.perf_counter()
    assert run(tmp_path / "uninterrupted") == 0
    seconds = time.perf_counter() - started  # ~3.5 s here, imports included; kills are drawn on this scale
    expected = _snapshot_study(tmp_path / "uninterrupted" / "demo")
    rng = random.Random(11)
    landed, attempts, studies = 0, 0, 0
    while landed < KILLS and attempts < 4 * KILLS:
        # Kill a fresh study at random moments (past the imports) until one run gets through.
        killed = tmp_path / f"killed-{studies}"
        while (code := run(killed, kill_after=rng.uniform(0.2, 0.9) * seconds)) == -signal.SIGKILL:
            landed, attempts = landed + 1, attempts + 1
        attempts += 1
        assert code == 0 and run(killed) == 0
        assert _snapshot_study(killed / "demo") == expected, (
            "a killed study ended unlike an uninterrupted one"
        )
        studies += 1
    assert landed >= KILLS, f"only {landed} kills landed inside a running study"
