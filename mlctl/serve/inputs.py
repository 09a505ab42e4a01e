"""Request rows → checked model inputs, before the model runs.

JSON rows are checked against the model's signature columns
(:class:`mlctl.predict.validate.InputColumn`) with the same rules as batch scoring:
a numeric column takes numbers, numeric text or null (the pipeline imputes missing
values); text such as ``"abc"``, booleans, and non-finite numbers are refused. Other
columns take any scalar. Every offending row and column is reported (up to a limit),
and the message never echoes the whole schema or body.

The result is a :class:`Columns` batch — plain lists per column — so a micro-batch
of many requests becomes one DataFrame with a single construction.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlctl.predict.compiled import frame_of
from mlctl.predict.validate import TYPE_RANGES, InputColumn

MAX_REPORTED = 20  # errors listed in one response; the count says how many in all
_ABSENT = object()  # a column the row does not have (unlike null)
INT64 = TYPE_RANGES["long"]
DOUBLE = TYPE_RANGES["double"]


@dataclass(frozen=True)
class FieldError:
    """One bad value: its row (0-based in the request), column and what is wrong."""

    row: int | None
    column: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


class InvalidInput(Exception):
    """The request's rows do not fit the model (HTTP 422)."""

    def __init__(self, errors: list[FieldError], total: int | None = None) -> None:
        self.errors = errors[:MAX_REPORTED]
        self.total = total if total is not None else len(errors)
        first = errors[0] if errors else FieldError(None, None, "invalid input")
        where = ", ".join(
            p
            for p in (
                f"row {first.row}" if first.row is not None else "",
                f"column '{first.column}'" if first.column else "",
            )
            if p
        )
        more = f" (and {self.total - 1} more)" if self.total > 1 else ""
        super().__init__(f"{where + ': ' if where else ''}{first.message}{more}")


class BadRequest(Exception):
    """The body is not what the endpoint reads (HTTP 400)."""


@dataclass
class Columns:
    """Checked rows as one list per model input column, plus the pass-through id."""

    names: list[str]
    values: dict[str, list[Any]]
    numeric: set[str]
    rows: int
    ids: list[Any] = field(default_factory=list)  # the recipe's id column, if sent

    def frame(self) -> pd.DataFrame:
        return frame_of(self.names, self.values, self.numeric)

    @staticmethod
    def concat(parts: Sequence[Columns]) -> Columns:
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        values = {name: [] for name in first.names}
        ids: list[Any] = []
        for part in parts:
            for name in first.names:
                values[name].extend(part.values[name])
            ids.extend(part.ids)
        return Columns(first.names, values, first.numeric, sum(p.rows for p in parts), ids)


# A scoring request's rows: checked (one list per column) and as sent (for the log).
Rows = tuple[Columns, list[dict[str, Any]]]


def _number(value: Any, bounds: tuple[float, float] = DOUBLE) -> tuple[float | None, str | None]:
    """(value as float or None for missing, error message or None).

    ``bounds``: the range of the column's signature type (a ``long`` holds 64-bit
    integers); a number outside it is refused, never wrapped or overflowed."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, f"expected a number, got a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        number = value  # compared exactly below: an int of any size, no overflow
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None, None
        if not text.isascii() or "_" in text:  # float() reads "1_000" and Arabic digits
            return None, f"expected a number, got {_show(value)}"
        try:
            number = float(text)
        except ValueError:
            return None, f"expected a number, got {_show(value)}"
    else:
        return None, f"expected a number, got {_kind(value)}"
    if isinstance(number, float) and not math.isfinite(number):
        return None, f"expected a finite number, got {_show(value)}"
    if not bounds[0] <= number <= bounds[1]:
        return None, _out_of_range(value, bounds)
    return float(number), None


def _out_of_range(value: Any, bounds: tuple[float, float]) -> str:
    return f"{_show(value)} is out of range: this column holds {bounds[0]:g} to {bounds[1]:g}"


def _scalar(value: Any) -> tuple[Any, str | None]:
    if value is None or isinstance(value, str | int | float | bool):
        if isinstance(value, float) and not math.isfinite(value):
            return None, f"expected a finite value, got {_show(value)}"
        if type(value) is int and not INT64[0] <= value <= INT64[1]:
            return None, _out_of_range(value, INT64)
        return value, None
    return None, f"expected a single value, got {_kind(value)}"


def _bounds(column: InputColumn) -> tuple[float, float]:
    return TYPE_RANGES.get(column.type or "", DOUBLE)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_records(
    records: Any,
    columns: Sequence[InputColumn],
    id_column: str | None = None,
    strict: bool = True,
) -> Columns:
    """Check row objects (``[{"col": value, ...}, ...]``).

    Args:
        records: The decoded JSON value that should be a list of objects.
        columns: The model's input columns.
        id_column: A column passed through to the response (not a model input).
        strict: Refuse fields the model does not read (``/predict``); MLflow's
            protocol ignores them (``/invocations``).

    Raises:
        BadRequest: ``records`` is not a list.
        InvalidInput: an empty batch, or rows with missing, unknown or bad values.
    """
    if not isinstance(records, list):
        raise BadRequest(f"expected a list of row objects, got {_kind(records)}")
    if not records:
        raise InvalidInput([FieldError(None, None, "the batch is empty: send at least one row")])
    names, known, numeric, spec = _plan(columns, id_column)
    outs: list[list[Any]] = [[] for _ in names]
    values = dict(zip(names, outs, strict=True))
    # (name, numeric?, required?, its output list, range): looked up once, not per value.
    plan = [(*s[:3], out, *s[3:]) for s, out in zip(spec, outs, strict=True)]
    ids: list[Any] = []
    errors: list[FieldError] = []
    total = 0
    for i, row in enumerate(records):
        if not isinstance(row, dict):
            total += 1
            if len(errors) < MAX_REPORTED:
                errors.append(FieldError(i, None, f"expected an object, got {_kind(row)}"))
            continue
        for name, is_numeric, required, out, low, high in plan:
            raw = row.get(name, _ABSENT)
            kind = type(raw)
            # Fast paths for what JSON decoders give (exact types; bool is not int here).
            # The comparison is False for NaN and infinities, exact for ints of any size.
            if is_numeric:
                if (kind is float or kind is int) and low <= raw <= high:
                    out.append(float(raw))
                    continue
            elif kind is str:
                out.append(raw)
                continue
            if raw is _ABSENT:
                if required:
                    total += 1
                    if len(errors) < MAX_REPORTED:
                        errors.append(FieldError(i, name, "missing"))
                out.append(None)
                continue
            value, problem = _number(raw, (low, high)) if is_numeric else _scalar(raw)
            if problem:
                total += 1
                if len(errors) < MAX_REPORTED:
                    errors.append(FieldError(i, name, problem))
            out.append(np.nan if value is None and is_numeric else value)
        if id_column:
            ids.append(row.get(id_column))
        if strict and not known.issuperset(row):
            for key in row:
                if key not in known:
                    total += 1
                    if len(errors) < MAX_REPORTED:
                        errors.append(FieldError(i, str(key), _unknown(str(key), names)))
    if errors:
        raise InvalidInput(errors, total)
    return Columns(names, values, numeric, len(records), ids if id_column else [])


Spec = tuple[str, bool, bool, float, float]  # name, numeric?, required?, low, high
_PLANS: dict[tuple[int, str | None], tuple[Any, list[str], frozenset[str], Any, list[Spec]]] = {}
MAX_PLANS = 32  # models' column lists remembered (a few per served version)


def _plan(
    columns: Sequence[InputColumn], id_column: str | None
) -> tuple[list[str], frozenset[str], set[str], list[Spec]]:
    """What :func:`check_records` derives from the model's columns, once per column list
    (a server checks every request against the same list): the names, the keys a row
    may hold, the numeric columns and each column's rule. Cached by the list's identity;
    the cache holds the list, so its id is not reused while the entry lives."""
    key = (id(columns), id_column)
    hit = _PLANS.get(key)
    if hit is not None and hit[0] is columns:
        return hit[1], hit[2], hit[3], hit[4]
    names = [c.name for c in columns]
    known = frozenset(names) | ({id_column} if id_column else frozenset())
    numeric = {c.name for c in columns if c.numeric}
    spec = [(c.name, c.name in numeric, c.required, *_bounds(c)) for c in columns]
    if len(_PLANS) >= MAX_PLANS:
        _PLANS.clear()
    _PLANS[key] = (columns, names, known, numeric, spec)
    return names, known, numeric, spec


def check_columnar(
    data: Any,
    columns: Sequence[InputColumn],
    id_column: str | None = None,
    strict: bool = True,
) -> Columns:
    """Check a column object (``{"col": [v0, v1, ...], ...}``), all lists of one length.

    Raises:
        BadRequest: ``data`` is not an object of lists of one length.
        InvalidInput: as :func:`check_records`.
    """
    if not isinstance(data, dict):
        raise BadRequest(f"expected an object of column lists, got {_kind(data)}")
    lengths = {len(v) for v in data.values() if isinstance(v, list)}
    if any(not isinstance(v, list) for v in data.values()):
        bad = next(k for k, v in data.items() if not isinstance(v, list))
        raise BadRequest(f"column '{bad}' must be a list of values, got {_kind(data[bad])}")
    if len(lengths) > 1:
        raise BadRequest(f"column lists differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    keys = list(data)
    records = [{k: data[k][i] for k in keys} for i in range(n)]
    return check_records(records, columns, id_column, strict)


def _unknown(key: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    return "unknown column" + (f"; did you mean '{close[0]}'?" if close else "")
