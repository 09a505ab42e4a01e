"""The model report's number policy: one rule per kind of number, for both renderers
and the plots' labels.

- **Scores** (metrics, probabilities, rates, thresholds, importances, SHAP means): a
  value within [-1, 1] has 4 decimals (``0.8467``); a larger one 4 significant digits
  (``1.820``, ``12.35``, ``123.5``) and no decimals from 1,000 on (``52,346``), with
  thousands separators. A value that rounds to zero at that precision is ``0.0000``
  (never ``-0.0000`` nor ``-2.558e-05``).
- **mean ± std**: the std with as many decimals as its mean (``0.8501 ± 0.0112``,
  ``52,346 ± 1,235``, ``1.820 ± 0.012``).
- **Counts** (rows, versions, deciles): integers with thousands separators (``7,043``).
- **Ratios** (lift): 2 decimals (``2.85``).
- **Seconds**: 2 decimals (``0.41``), thousands separators.
- **Hyperparameters**: as set, floats to 4 significant digits (``0.04738``, ``1e-05``):
  a small regularisation strength is not zero.
- None and NaN are ``n/a``; infinities ``inf`` / ``-inf``; booleans ``yes`` / ``no``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

NA = "n/a"
SIGNIFICANT = 4
PARAM_TEXT_LIMIT = 40


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _special(value: Any) -> str | None:
    """The text of None, NaN, infinities and booleans; None for an ordinary value."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return NA
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return None


def decimals(value: float) -> int:
    """Decimals a score shows: 4 within [-1, 1], else 4 significant digits (none from
    1,000 on)."""
    a = abs(value)
    if a <= 1:
        return 4
    places = max(0, SIGNIFICANT - (int(math.floor(math.log10(a))) + 1))
    rounded = abs(_round(value, places))
    if places and rounded >= 10 ** (SIGNIFICANT - places):  # 9.9996 -> 10.00, not 10.000
        places -= 1
    return places


def _round(value: float, places: int) -> Decimal:
    """Half away from zero, as people round (1234.5 -> 1235; Python's round gives 1234)."""
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _fixed(value: float, places: int) -> str:
    rounded = _round(value, places)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.0000"
    return f"{rounded:,.{places}f}"


def score(value: Any) -> str:
    """A score by the policy above."""
    value = _plain(value)
    special = _special(value)
    if special is not None:
        return special
    if isinstance(value, int):
        return count(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return _fixed(number, decimals(number))


def mean_std(mean: Any, std: Any) -> str:
    """``mean ± std``, the std with the decimals of the mean."""
    mean, std = _plain(mean), _plain(std)
    text = score(mean)
    if _special(mean) is not None or not isinstance(mean, int | float):
        return text if text == NA else f"{text} ± {score(std)}"
    special = _special(std)
    if special is not None or not isinstance(std, int | float):
        return f"{text} ± {special or std}"
    return f"{text} ± {_fixed(float(std), decimals(float(mean)))}"


def count(value: Any) -> str:
    """An integer with thousands separators (a float is rounded)."""
    value = _plain(value)
    special = _special(value)
    if special is not None:
        return special
    try:
        return f"{int(round(float(value))):,}"
    except (TypeError, ValueError):
        return str(value)


def ratio(value: Any) -> str:
    """A multiplier such as a lift: 2 decimals."""
    value = _plain(value)
    special = _special(value)
    if special is not None:
        return special
    return _fixed(float(value), 2)


def seconds(value: Any) -> str:
    """A duration in seconds: 2 decimals."""
    return ratio(value)


def param(value: Any) -> str:
    """A hyperparameter value as set: floats to 4 significant digits, long text cut."""
    value = _plain(value)
    if isinstance(value, float) and not (math.isnan(value) or math.isinf(value)):
        return f"{value:.{SIGNIFICANT}g}"
    special = _special(value)
    if special is not None:
        return "None" if value is None else special
    text = str(value)
    return text if len(text) <= PARAM_TEXT_LIMIT else text[: PARAM_TEXT_LIMIT - 1] + "…"


def params(values: Mapping[str, Any]) -> list[str]:
    """``key=value`` lines of a candidate's best parameters (``model__`` dropped)."""
    return [f"{key.removeprefix('model__')}={param(v)}" for key, v in values.items()]


def fmt(value: Any) -> str:
    """Any value as report text: scores and counts by the policy, mappings as
    ``key=value`` pairs, sequences comma-joined, the rest as ``str``."""
    value = _plain(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={param(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    if value is None or isinstance(value, bool | int | float):
        return score(value)
    return str(value)
