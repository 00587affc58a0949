"""Atomic, resumable file output.

Long runs must survive a crash or a failing judge without losing finished work (DESIGN.md): every table is
written to a temporary file in the same folder and renamed into place, and per-item caches are append-only
JSONL files that are flushed after every batch.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a DataFrame as CSV atomically (no index column)."""
    return atomic_write_text(path, frame.to_csv(index=False))


def atomic_write_json(obj: Any, path: Path) -> Path:
    """Write JSON atomically, pretty-printed so results diff well."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records to a JSONL file and flush them to disk (a crash loses at most the current batch)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Read a JSONL file, skipping a truncated last line left by a crash."""
    path = Path(path)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
