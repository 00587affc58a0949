"""A benchmark command (not a timed test): how much of a fine-tune's compute is padding, and what grouping saves.

``python -m helpers benchmark-finetune`` reads the demo's warm training examples (written by its training-data
run: ``python -m helpers run configs/demo.yaml --upto training_data``, a few seconds) and, with
``configs/demo.yaml``'s fine-tune section, reports the share of pad tokens in its batches
when they are drawn at random and when examples of similar length are grouped (transformers'
``LengthGroupedSampler``, the ``train_sampling_strategy: group_by_length`` of the fine-tune stage), then trains
the same number of optimizer steps both ways and prints the seconds per step. The per-token loss is the same
either way (pads carry no loss; ``tests/test_finetune.py``), so the grouping changes cost, not what is learned
per token. Timings on a shared machine are noisy: run it on a quiet one.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from helpers.paths import REPO_ROOT
from helpers.validation import check_positive_int

DEMO_CONFIG = REPO_ROOT / "configs" / "demo.yaml"


def padding_share(lengths: np.ndarray, order: np.ndarray, batch_size: int) -> float:
    """Share of the tokens a padded batch computes that are padding, for batches taken in ``order``."""
    pad = total = 0
    for start in range(0, len(order), batch_size):
        batch = lengths[order[start : start + batch_size]]
        pad += int((batch.max() - batch).sum())
        total += int(batch.max()) * len(batch)
    return pad / total if total else float("nan")


def benchmark_finetune(study: str = "demo", steps: int = 12, seed: int = 0) -> dict[str, float]:
    """Padding shares and seconds per optimizer step of the demo's warm fine-tune, random vs length-grouped."""
    from helpers.training.finetune import build_trainer, load_training_examples, training_data_path
    from helpers.training.params import FinetuneParams

    check_positive_int("steps", steps)
    path = training_data_path(study, "warm")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: write it first with `python -m helpers run configs/demo.yaml --upto training_data`"
        )
    examples = load_training_examples(path)
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    section = {k: v for k, v in config["finetune"].items() if k not in ("lr_sweep", "lr_sweep_steps")}
    results: dict[str, float] = {}
    for strategy in ("random", "group_by_length"):
        params = FinetuneParams.build(
            study=study, style="warm", seed=seed, **(section | {"train_sampling_strategy": strategy})
        )
        with tempfile.TemporaryDirectory() as scratch:
            trainer = build_trainer(params.model, examples, params, Path(scratch), "cpu")
            if strategy == "random":
                lengths = np.array([len(row["input_ids"]) for row in trainer.train_dataset])
                rng = np.random.default_rng(seed)
                draws = [
                    padding_share(lengths, rng.permutation(len(lengths)), params.per_device_batch)
                    for _ in range(50)
                ]
                results["padding_share_random"] = float(np.mean(draws))
                results["padding_share_sorted"] = padding_share(
                    lengths, np.argsort(lengths), params.per_device_batch
                )
            trainer.args.max_steps = steps
            started = time.perf_counter()
            trainer.train()
            results[f"seconds_per_step_{strategy}"] = (time.perf_counter() - started) / steps
    results["speedup"] = results["seconds_per_step_random"] / results["seconds_per_step_group_by_length"]
    print(
        f"padding share of the demo's warm batches: random {results['padding_share_random']:.1%}, "
        f"length-sorted {results['padding_share_sorted']:.1%}\n"
        f"seconds per optimizer step over {steps} steps: random {results['seconds_per_step_random']:.2f}, "
        f"group_by_length {results['seconds_per_step_group_by_length']:.2f} "
        f"(speedup {results['speedup']:.2f}x)"
    )
    return results
