"""User-facing parameter errors.

Bad input must fail before any model is loaded, with a message that names the parameter, the value given and
what is allowed (project non-negotiable). Every stage validates through these helpers so messages look alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def check_non_negative_float(name: str, value: Any) -> float:
    """A real number >= 0 (temperatures, learning rates)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ParameterError(name, value, "a number greater than or equal to 0")
    return float(value)
