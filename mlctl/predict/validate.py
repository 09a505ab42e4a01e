"""Input checks against a model's signature, one chunk at a time, vectorised.

The signature is MLflow's list of ``{"name", "type", "required"}`` input columns.
A numeric column (``long``, ``double``, ``integer``, ``float``) must hold numbers,
numeric text or nothing: missing values are fine because the pipeline imputes them.
Anything else would be turned into a missing value by the pipeline's coercion step
and imputed without a word, so such rows are rejected instead of scored. Text and
other columns accept any value.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_numeric_dtype,
    is_object_dtype,
    is_string_dtype,
)

from mlctl.errors import DataError

NUMERIC_TYPES = frozenset({"long", "double", "integer", "float"})
# The values each numeric signature type holds (MLflow: long = int64, integer = int32,
# float = float32, double = float64); the server refuses numbers outside them.
TYPE_RANGES: dict[str, tuple[float, float]] = {
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "float": (-3.4028234663852886e38, 3.4028234663852886e38),
    "double": (-sys.float_info.max, sys.float_info.max),
}
NOT_A_NUMBER = "not a number"
INFINITE = "infinite number"
# Values that are numbers already (no text to parse), as pandas' infer_dtype names them.
_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}


@dataclass(frozen=True)
class InputColumn:
    """One column the model reads: its name, signature type and whether it must exist."""

    name: str
    type: str | None  # None: not known (a model logged without a signature)
    required: bool = True

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


@dataclass
class CheckedChunk:
    """One chunk after the checks.

    Attributes:
        inputs: The model's input columns in signature order, every row; numeric
            text already parsed to numbers (so the pipeline does not parse it again).
        good: One bool per row: True when the row holds no bad value.
        rejects: One row per bad value: ``row`` (1-based over the whole input),
            ``column``, ``value`` (as text) and ``reason``, ordered by row.
    """

    inputs: pd.DataFrame
    good: np.ndarray
    rejects: pd.DataFrame


def input_columns(
    schema: Sequence[dict[str, Any]], fallback: Sequence[str] = ()
) -> list[InputColumn]:
    """The signature's columns; ``fallback`` names (untyped) when there is no signature."""
    if not schema:
        return [InputColumn(str(name), None) for name in fallback]
    return [
        InputColumn(str(c["name"]), c.get("type"), bool(c.get("required", True))) for c in schema
    ]


def check_columns(columns: Sequence[str], expected: Sequence[InputColumn], where: str) -> None:
    """Fail when required input columns are missing, naming every one of them.

    Args:
        columns: The columns the input has.
        expected: The model's input columns.
        where: What is being checked, for the message (e.g. ``--input data/new.csv``).

    Raises:
        DataError: listing each missing column with the nearest existing name.
    """
    have = [str(c) for c in columns]
    missing = [c.name for c in expected if c.required and c.name not in have]
    if not missing:
        return
    parts = []
    for name in missing:
        close = difflib.get_close_matches(name, have, n=1, cutoff=0.6)
        parts.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    noun = "column" if len(missing) == 1 else f"{len(missing)} columns"
    raise DataError(
        f"{where}: {noun} the model needs {'is' if len(missing) == 1 else 'are'} missing: "
        + ", ".join(parts),
        hint="the model reads: " + ", ".join(c.name for c in expected),
    )


def numeric_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a column that must be numeric.

    Numbers stay, numeric text (surrounding spaces allowed) is parsed, missing values
    and blank text become NaN.

    Returns:
        The float64 values, and two bool masks: values that are not numbers (text
        such as ``"abc"``) and values that are infinite (``inf``, ``"-Infinity"``, ``1e999``).
    """
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.zeros(len(values), dtype=bool), np.isinf(values)
    if is_string_dtype(series.dtype) and not is_object_dtype(series.dtype):
        # pandas' own string dtype: every value is text or missing, and .str is vectorised.
        stripped = series.str.strip()
        cleaned = stripped.mask(stripped == "")
    elif infer_dtype(series, skipna=True) in _NUMBER_KINDS:
        cleaned = series.astype(object)
    else:
        stripped = series.astype(object).str.strip()
        # .str gives NaN for what is not text (numbers in a mixed column): keep those as they are.
        cleaned = stripped.where(stripped.notna(), series.astype(object))
        cleaned = cleaned.mask(cleaned == "")
    missing = cleaned.isna().to_numpy(dtype=bool)
    values = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    unparsed = ~missing & np.isnan(values)
    if unparsed.any():
        _overflowed_to_inf(cleaned, values, unparsed)
    return values, unparsed, np.isinf(values)


def _overflowed_to_inf(cleaned: pd.Series, values: np.ndarray, unparsed: np.ndarray) -> None:
    """pandas 2.x gives NaN for numeric text beyond float64 (``"1e999"``), pandas 3 gives
    inf: read such text as Python does, so it is flagged as infinite, not as text. Only an
    infinite result is taken, so nothing else Python's float() reads (``"1_000"``) is."""
    for i in np.flatnonzero(unparsed):
        try:
            number = float(str(cleaned.iat[i]).strip())
        except ValueError:
            continue
        if np.isinf(number):
            values[i] = number
            unparsed[i] = False


def check_chunk(
    frame: pd.DataFrame, columns: Sequence[InputColumn], first_row: int
) -> CheckedChunk:
    """Check every value of a chunk against the model's input columns.

    Args:
        frame: The chunk as read (extra columns are ignored).
        columns: The model's input columns.
        first_row: Row number of the chunk's first row (1-based over the whole input).
    """
    n = len(frame)
    inputs: dict[str, Any] = {}
    bad = np.zeros(n, dtype=bool)
    found: list[pd.DataFrame] = []
    for col in columns:
        if col.name not in frame.columns:  # an optional column: missing everywhere
            inputs[col.name] = pd.Series(np.nan, index=frame.index)
            continue
        series = frame[col.name]
        if not col.numeric:
            inputs[col.name] = series
            continue
        values, not_number, infinite = numeric_values(series)
        inputs[col.name] = pd.Series(values, index=frame.index)
        failed = not_number | infinite
        if failed.any():
            bad |= failed
            found.append(_rejects(series, col, not_number, infinite, first_row))
    return CheckedChunk(pd.DataFrame(inputs, index=frame.index), ~bad, _sorted(found))


def _rejects(
    series: pd.Series, col: InputColumn, not_number: np.ndarray, infinite: np.ndarray, first: int
) -> pd.DataFrame:
    positions = np.flatnonzero(not_number | infinite)
    raw = series.to_numpy(dtype=object, na_value=None)[positions]
    reasons = np.where(not_number[positions], NOT_A_NUMBER, INFINITE)
    return pd.DataFrame(
        {
            "row": positions.astype(np.int64) + first,
            "column": col.name,
            "value": [str(v) for v in raw],
            "reason": [f"{r} (column type {col.type})" for r in reasons],
        }
    )


def _sorted(found: list[pd.DataFrame]) -> pd.DataFrame:
    if not found:
        return pd.DataFrame(
            {"row": pd.Series(dtype=np.int64), "column": [], "value": [], "reason": []}
        )
    # Stable sort keeps the signature's column order within a row.
    return pd.concat(found, ignore_index=True).sort_values("row", kind="stable", ignore_index=True)
