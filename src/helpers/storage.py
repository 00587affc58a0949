"""Atomic, resumable file output, and validated reading of what earlier runs wrote.

Long runs must survive a kill, a crash or a failing judge without losing finished work and without ever using a
damaged result (docs/design.md). Three rules follow:

- every table is written to a temporary file in the same folder, fsynced and renamed into place, so a reader
  sees the old file or the new one, never half of one;
- per-item caches are append-only JSONL files, fsynced after every batch. A kill in the middle of a write can
  leave a torn last line: the next append cuts it away before writing (never gluing a record onto it), and
  reading drops it with a warning, so that record is simply redone. A bad line anywhere else is damage, not an
  interrupted write, and raises an error naming the file and line;
- results tables are checked when read (columns, types, row count), so garbage stops the analysis with a message
  naming the file instead of flowing into the statistics.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

ColumnKind = Literal["str", "int", "float", "bool"]
"""What a results column must hold: any text, integers, numbers (empty allowed, read as NaN), or 0/1/True/False."""


class CorruptFileError(ValueError):
    """A results or cache file is damaged: the message names the file, where, and how to redo it."""


class TornLineWarning(UserWarning):
    """A cache's last line was cut off by an interrupted write; it is dropped and its record redone."""


def _fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (a power cut can otherwise undo it); no-op on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Flush every file of a folder (not recursive) and the folder itself to disk, before renaming it into place.

    Libraries such as transformers save checkpoints file by file without fsync; a rename is only as durable as
    the data it publishes.
    """
    folder = Path(folder)
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(folder)


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
    _fsync_dir(path.parent)
    return path


def atomic_write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a DataFrame as CSV atomically (no index column).

    Every text field is quoted: a model's answer may hold a bare carriage return, which minimal quoting leaves
    unquoted and a reader then takes for the end of a row, shifting the columns of the rest of that row.
    """
    return atomic_write_text(path, frame.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC))


def atomic_write_json(obj: Any, path: Path) -> Path:
    """Write JSON atomically, pretty-printed so results diff well."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _parse_record(line: bytes) -> dict[str, Any] | None:
    """The JSON object on one line, or None if the line is not one (bad JSON, bad UTF-8 or not an object)."""
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError (a write cut inside a multi-byte character)
        return None
    return record if isinstance(record, dict) else None


def _end_torn_line(handle, path: Path) -> None:
    """Before appending, make the file end with a newline: cut away a torn last line, keep a complete one.

    A file not ending in ``\\n`` was interrupted mid-write. If its last line is a whole record (only the newline
    is missing) it is kept and terminated; otherwise it is truncated away, so the new record starts on its own
    line and the lost one is redone by the caller.
    """
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return
    handle.seek(end - 1)
    if handle.read(1) == b"\n":
        return
    start, block = end, 1 << 16
    while start > 0:  # find the start of the last line without reading a large cache whole
        handle.seek(max(0, start - block))
        chunk = handle.read(start - max(0, start - block))
        newline = chunk.rfind(b"\n")
        start = max(0, start - block)
        if newline >= 0:
            start += newline + 1
            break
    handle.seek(start)
    if _parse_record(handle.read(end - start).strip()) is not None:
        handle.write(b"\n")
        return
    warnings.warn(
        TornLineWarning(
            f"{path}: dropped a torn last line ({end - start} bytes) left by an interrupted write"
        ),
        stacklevel=3,
    )
    handle.flush()
    os.ftruncate(handle.fileno(), start)
    handle.seek(0, os.SEEK_END)


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records as one write, fsynced: a kill loses at most this batch, and never damages earlier lines."""
    path = Path(path)
    payload = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")
    if not payload:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with path.open("a+b") as handle:
        _end_torn_line(handle, path)
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        _fsync_dir(path.parent)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSONL file (none if it does not exist).

    A torn last line (no newline, not a whole record) is the write a kill interrupted: it is dropped with a
    :class:`TornLineWarning` and the caller redoes that record. Any other line that is not a JSON object raises
    :class:`CorruptFileError` naming the file and line: skipping it silently would lose or redo work unnoticed.
    """
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            record = _parse_record(line)
            if record is not None:
                yield record
            elif not line.endswith(b"\n"):
                warnings.warn(
                    TornLineWarning(
                        f"{path}, line {number}: dropped a torn last line left by an interrupted write"
                    ),
                    stacklevel=2,
                )
            else:
                raise CorruptFileError(
                    f"{path}, line {number}: not a JSON object ({line[:80]!r}). The file is damaged; delete it "
                    "(its records will be redone) or repair that line."
                )


def _bad_values(values: pd.Series, kind: ColumnKind) -> pd.Series:
    """The non-empty values of a column that are not of ``kind`` (empty ints and bools count as bad too)."""
    if kind == "str":
        return values.iloc[0:0]
    if kind == "bool":
        allowed = {True, False, "True", "False", "true", "false", "0", "1"}  # True == 1 and False == 0
        return values[~values.map(lambda v: v in allowed if not pd.isna(v) else False)]
    numbers = pd.to_numeric(values, errors="coerce")
    if kind == "float":
        return values[numbers.isna() & values.notna()]
    return values[numbers.isna() | (numbers.fillna(0) % 1 != 0)]


def read_results_csv(
    path: Path,
    columns: Mapping[str, ColumnKind],
    expected_rows: int | None = None,
    **read_csv_kwargs: Any,
) -> pd.DataFrame:
    """Read a results table written by a stage, refusing garbage with an error that names the file.

    ``columns`` maps each required column to its kind (other columns are allowed and kept); ``expected_rows``
    is checked when the caller knows how many rows the stage wrote. Values are returned as pandas parses them
    (``read_csv_kwargs`` pass through), so a valid file reads exactly as ``pd.read_csv`` would. Any problem
    raises :class:`CorruptFileError` (or FileNotFoundError), never a silently shorter or mistyped table.
    """
    path = Path(path)
    redo = "rerun the stage that writes it (`python -m helpers run CONFIG` redoes damaged outputs)"
    try:
        frame = pd.read_csv(path, **read_csv_kwargs)
    except ValueError as error:  # ParserError, EmptyDataError and UnicodeDecodeError are ValueErrors
        raise CorruptFileError(f"{path}: not a readable CSV table ({error}); {redo}.") from error
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise CorruptFileError(
            f"{path}: missing column(s) {missing} (found {list(frame.columns)[:12]}); {redo}."
        )
    for name, kind in columns.items():
        bad = _bad_values(frame[name], kind)
        if len(bad):
            row, value = bad.index[0], bad.iloc[0]
            raise CorruptFileError(
                f"{path}: column {name!r} must hold {kind} values, but data row {row + 1} has {value!r} "
                f"({len(bad)} bad value(s) in all); {redo}."
            )
    if expected_rows is not None and len(frame) != expected_rows:
        raise CorruptFileError(f"{path}: {len(frame)} rows, expected {expected_rows}; {redo}.")
    return frame
