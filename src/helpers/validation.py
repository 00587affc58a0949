"""User-facing parameter errors.

Bad input must fail before any model is loaded, with a message that names the parameter, the value given and
what is allowed (project non-negotiable). Every stage validates through these helpers so messages look alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


class ParameterError(ValueError):
    """A parameter has a value the study cannot use."""

    def __init__(self, name: str, value: Any, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"Invalid value for parameter '{name}': {value!r}. Allowed: {allowed}.")


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; otherwise raise a ParameterError listing them."""
    if value not in allowed:
        raise ParameterError(name, value, "one of " + ", ".join(repr(a) for a in allowed))
    return value


def check_choices(name: str, values: Iterable[Any], allowed: Sequence[Any]) -> list[Any]:
    """Check every element of a list parameter; the error names the first bad element."""
    values = list(values)
    if not values:
        raise ParameterError(name, values, "a non-empty list of " + ", ".join(repr(a) for a in allowed))
    for value in values:
        if value not in allowed:
            raise ParameterError(name, value, "each element one of " + ", ".join(repr(a) for a in allowed))
    return values


def check_positive_int(name: str, value: Any) -> int:
    """An integer > 0 (booleans are refused: ``True`` is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(name, value, "an integer greater than 0")
    return value


def check_seed(seed: Any) -> int:
    """A seed: an integer >= 0 (``random.Random`` and ``torch.manual_seed`` refuse or wrap negatives)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError("seed", seed, "an integer greater than or equal to 0")
    return seed


def check_non_negative_float(name: str, value: Any) -> float:
    """A real number >= 0 (temperatures, learning rates)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ParameterError(name, value, "a number greater than or equal to 0")
    return float(value)


_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_NAME_KINDS = ("study", "run", "model")


def check_name(kind: str, value: Any) -> str:
    """A study, run or model name that cannot lead a path outside the results and cache folders.

    Study and run names become folder and file names under ``results/``, so they are one plain path component:
    letters, digits, ``_``, ``.`` and ``-``, and not ``.`` or ``..``. A model is the embedded model's name
    (``embedded:...``), an existing local folder, or a hub id ``name`` / ``org/name`` made of such components;
    its results folder is :func:`helpers.paths.model_slug`, which keeps only the last component.
    """
    check_choice("kind", kind, _NAME_KINDS)
    plain = "letters, digits, '_', '.' and '-' (not '.' or '..')"
    if kind == "model":
        if (
            isinstance(value, str)
            and value.startswith("embedded:")
            and _is_plain(value.removeprefix("embedded:"))
        ):
            return value
        if isinstance(value, str) and value and Path(value).expanduser().is_dir():
            return value
        parts = value.split("/") if isinstance(value, str) else []
        if not 1 <= len(parts) <= 2 or not all(_is_plain(part) for part in parts):
            raise ParameterError(
                "model",
                value,
                f"the embedded model, an existing local folder or a hub id 'org/name' of {plain}",
            )
        return value
    if not isinstance(value, str) or not _is_plain(value):
        raise ParameterError(kind, value, f"a name of {plain}, with no '/'")
    return value


def _is_plain(part: str) -> bool:
    return bool(_NAME.fullmatch(part)) and part not in (".", "..")
