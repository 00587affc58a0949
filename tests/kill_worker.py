"""Answer a fixed list of prompts into a generation cache, in child processes tests/test_kill.py SIGKILLs at random.

Importing torch and transformers takes several seconds; a process started per kill would make ten kills cost a
minute. So this worker loads the tiny model once, then forks one child per ``run CACHE OUT`` line read on stdin:
it prints the child's pid, the test SIGKILLs that child whenever it likes, and ``wait`` prints the child's exit
status. Each child is a separate process that opens the cache afresh, as a rerun of a notebook would; it writes
its answers to ``OUT`` only when all are done.

Usage: ``python tests/kill_worker.py MODEL_DIR`` (prints ``ready`` once the model is loaded).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import torch

from helpers.generation import GenerationSettings, generate_responses
from helpers.models import load_model
from helpers.storage import atomic_write_json

PROMPTS = [f"Question {i}: name a number bigger than {i * 7}." for i in range(24)]
SETTINGS = GenerationSettings(temperature=0.8, max_new_tokens=8, batch_size=2, seed=5)


def _own_tqdm_lock() -> None:
    """Give this forked child a progress-bar lock of its own.

    tqdm's lock holds a multiprocessing semaphore, created once per process (here by the parent, when loading the
    model showed a bar) and shared by every process forked from it. A child SIGKILLed inside a bar update leaves
    the semaphore taken, and every later child would wait on it forever (seen once in 10 kills).
    """
    from tqdm import std

    classes, pending = [], [std.tqdm]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    for cls in classes:
        if "_lock" in vars(cls):
            delattr(cls, "_lock")
    std.tqdm.set_lock(threading.RLock())


def main(model_dir: str) -> None:
    torch.set_num_threads(1)  # the same arithmetic in every child, so answers can be compared exactly
    model, tokenizer = load_model(model_dir, device="cpu")
    print("ready", flush=True)
    child = 0
    for line in sys.stdin:
        command, *paths = line.split()
        if command == "run":
            child = os.fork()
            if child == 0:
                _own_tqdm_lock()
                outputs = generate_responses(model, tokenizer, PROMPTS, SETTINGS, "tiny", Path(paths[0]))
                atomic_write_json(outputs, Path(paths[1]))
                os._exit(0)
            print(child, flush=True)
        elif command == "wait":
            print(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
