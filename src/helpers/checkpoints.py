"""Where fine-tuned checkpoints live, when one is complete, and which run made it; torch-free.

The finetune stage writes one peft adapter folder per checkpoint epoch,
``results/<study>/<model_slug>/finetune/<style>/checkpoint-epoch-<e>/``, with our ``warmbook_checkpoint.json``
(the training run's id and the files it was saved with) beside the adapter and the trainer state to resume from
(CONTRIBUTING.md, "Results layout"). The warmth and evaluation stages only read that layout: which epochs exist
and are complete, which adapter a variant runs with, and an identity that keys their caches. That reading lives
here, apart from the training code, so that those stages depend on the layout and not on trl, peft and the
trainer, and so that the layout has one definition that the writer (``helpers.training.finetune``) and the
readers share. Nothing here imports torch; :func:`require_checkpoints` loads ``helpers.models`` only when it
checks an adapter against its base model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers.paths import model_slug, study_dir
from helpers.validation import ParameterError, check_choice
from helpers.vocabulary import ALL_STYLES, ALL_VARIANTS, SELECTED_CHECKPOINT

CHECKPOINT_PREFIX = "checkpoint-epoch-"
"""A checkpoint folder is this prefix and its epoch in :func:`format_epoch`'s form."""
INFO_FILE = "warmbook_checkpoint.json"
"""Our record in every checkpoint folder: ``run_id``, epoch, step, settings and the ``files`` it was saved with."""
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", INFO_FILE)
"""Files without which a checkpoint is not an adapter the later stages can load."""
_RESUME_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
"""What transformers' ``Trainer`` saves beside the weights to resume training exactly (``resume_from_checkpoint``)
from a single process or DDP, besides the RNG state: ``rng_state.pth`` from one process, ``rng_state_<rank>.pth``
from each of several. Checkpoints list the files they were saved with (``files`` in our info file), which covers
the other layouts (FSDP saves ``optimizer.bin`` and ``pytorch_model_fsdp.bin``); these names are the rule for
checkpoints saved before that list was kept."""


def _rng_files(processes: int) -> tuple[str, ...]:
    """The RNG files a checkpoint written by ``processes`` training processes holds (transformers' naming)."""
    return ("rng_state.pth",) if processes <= 1 else tuple(f"rng_state_{r}.pth" for r in range(processes))


def check_style(style: str) -> str:
    """``warm``, ``cold`` or a mitigation style (``candid``); anything else fails before data or models are touched."""
    return check_choice("style", style, ALL_STYLES)


def check_checkpoints(checkpoints: Sequence[float], epochs: float | None = None) -> tuple[float, ...]:
    """Positive, distinct epochs (as floats, sorted); with ``epochs``, none beyond the end of the schedule."""
    if isinstance(checkpoints, str | int | float) or not checkpoints:
        raise ParameterError(
            "checkpoints", checkpoints, "a non-empty list of epochs such as [0.5, 1, 1.5, 2]"
        )
    values = []
    for value in checkpoints:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ParameterError("checkpoints", value, "each element a number of epochs greater than 0")
        values.append(float(value))
    if len(set(values)) != len(values):
        raise ParameterError("checkpoints", list(checkpoints), "distinct epochs")
    if epochs is not None and max(values) > epochs:
        raise ParameterError("checkpoints", max(values), f"epochs at most epochs={epochs:g}")
    return tuple(sorted(values))


def format_epoch(epoch: float) -> str:
    """``0.5`` -> ``"0.5"``, ``2.0`` -> ``"2"``: the form used in folder names, CSVs and the book."""
    return f"{float(epoch):g}"


def finetune_dir(study: str, model: str, style: str) -> Path:
    """``results/<study>/<model_slug>/finetune/<style>``: every checkpoint and the training log of one run."""
    return study_dir(study) / model_slug(model) / "finetune" / check_style(style)


def checkpoint_dir(study: str, model: str, style: str, epoch: float) -> Path:
    """Folder of the adapter saved at ``epoch`` (it may not exist yet)."""
    return finetune_dir(study, model, style) / f"{CHECKPOINT_PREFIX}{format_epoch(epoch)}"


def checkpoint_info(path: Path) -> dict[str, Any]:
    """Our info file of a checkpoint; empty if it is missing or unreadable (then not a checkpoint of this run)."""
    try:
        info = json.loads((path / INFO_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def checkpoint_problem(path: Path, resumable: bool = False) -> str | None:
    """Why a checkpoint folder cannot be used (a missing or unreadable file), or None if it is complete.

    A checkpoint is complete only when every file is: the adapter (config and readable safetensors weights),
    our ``warmbook_checkpoint.json`` and, with ``resumable``, the trainer state transformers resumes from: every
    file the checkpoint was saved with, as our info file lists them, whatever the training layout (one process,
    DDP or FSDP) and however many processes wrote it. Folders are written under a temporary name and
    renamed into place, so only damage from outside leaves one incomplete; it is then redone, never handed to
    peft (which would fail far from the cause).
    """
    from safetensors import SafetensorError, safe_open

    names = _ADAPTER_FILES
    if resumable:
        info = checkpoint_info(path)
        saved = info.get("files")
        if saved is None:
            saved = (*_RESUME_FILES, *_rng_files(int(info.get("num_processes", 1))))
        elif not any(name.startswith("optimizer") for name in saved):
            return "saved without optimizer state"
        names = tuple(dict.fromkeys((*names, *saved)))
    missing = [name for name in names if not (path / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        with safe_open(str(path / "adapter_model.safetensors"), framework="pt") as weights:
            if not list(weights.keys()):
                return "adapter_model.safetensors holds no tensors"
    except (SafetensorError, OSError) as error:
        return f"adapter_model.safetensors is unreadable ({error})"
    return None


def checkpoint_folders(study: str, model: str, style: str) -> dict[float, Path]:
    """Every ``checkpoint-epoch-<e>`` folder of one run, complete or not, by epoch (sorted)."""
    found = {}
    for path in finetune_dir(study, model, style).glob(f"{CHECKPOINT_PREFIX}*"):
        try:
            found[float(path.name.removeprefix(CHECKPOINT_PREFIX))] = path
        except ValueError:
            continue
    return dict(sorted(found.items()))


def list_checkpoints(study: str, model: str, style: str) -> dict[float, Path]:
    """Complete saved adapters of one run, by epoch (sorted); incomplete and temporary folders are ignored."""
    return {e: p for e, p in checkpoint_folders(study, model, style).items() if checkpoint_problem(p) is None}


def require_checkpoints(study: str, model: str, style: str, epochs: Sequence[float]) -> dict[float, Path]:
    """The adapters of the requested epochs, or a ParameterError naming the missing one and those available.

    Stages that read checkpoints call this before generating or scoring anything. Each adapter is checked
    against ``model`` with ``helpers.models``, imported here rather than at the top because it loads torch
    (the caller is about to load the model anyway).
    """
    from helpers.models import check_adapter_matches

    available = list_checkpoints(study, model, style)
    chosen = {}
    for epoch in check_checkpoints(epochs):
        if epoch not in available:
            have = ", ".join(format_epoch(e) for e in available) or "none yet"
            raise ParameterError(
                "checkpoint",
                epoch,
                f"a saved {style} checkpoint of {model!r} in study {study!r} (available epochs: {have}; "
                "run the finetune stage with these checkpoints first)",
            )
        chosen[epoch] = available[epoch]
    for path in chosen.values():
        check_adapter_matches(model, path)
    return chosen


def variant_adapter(
    study: str, model: str, variant: str, checkpoint: float = SELECTED_CHECKPOINT
) -> Path | None:
    """The adapter a variant runs with: none for ``original``/``warm_prompt``, a checkpoint for a fine-tuned
    variant (``warm``, ``cold``, ``candid``: every style is the variant of its fine-tune)."""
    check_choice("variant", variant, ALL_VARIANTS)
    if variant in ("original", "warm_prompt"):
        return None
    return require_checkpoints(study, model, variant, [checkpoint])[float(checkpoint)]


def checkpoint_identity(adapter: str | Path) -> str:
    """A short hash of the run that produced an adapter: caches keyed on it never mix two trainings."""
    info = Path(adapter) / INFO_FILE
    if not info.exists():
        return hashlib.sha256(str(Path(adapter).resolve()).encode()).hexdigest()[:16]
    return json.loads(info.read_text())["run_id"]
