"""Small text forms every stage shares: an error's first line, a class label as text,
a number for a message or a JSON document, a time as ISO 8601 UTC.

One home for each (they were copied into many modules); pure Python, so anything
may import this module.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def first_line(error: BaseException | str) -> str:
    """The first non-blank line of an error message; the exception's type name when
    the message is empty (``''`` for an empty string)."""
    text = str(error).strip()
    if text:
        return text.splitlines()[0].strip()
    return type(error).__name__ if isinstance(error, BaseException) else ""


def class_text(value: Any) -> str:
    """A class label as text: ``Yes``, ``1`` (not ``1.0``), ``True``; the form the
    prediction log, column names and the HTTP API use."""
    from numpy import generic

    if isinstance(value, generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def number_text(value: Any, digits: int = 4) -> str:
    """A number for people: ``n/a`` for none or NaN, ``digits`` decimals, one decimal
    and thousands separators from 1000 (an RMSE in dollars); anything else as str."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        return f"{value:.{digits}f}"
    return str(value)


def json_number(value: Any) -> float | None:
    """A JSON-safe float: None for a missing, non-numeric, NaN or infinite value."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def iso_utc(ts: float, timespec: str = "auto") -> str:
    """Epoch seconds as ISO 8601 UTC with a ``Z`` (``2026-11-27T12:00:00Z``).

    Raises:
        OverflowError, OSError, ValueError: a time the platform cannot represent.
    """
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
