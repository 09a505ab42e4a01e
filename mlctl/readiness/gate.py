"""The readiness gate: every check with its actual and required value.

Pure logic: it takes numbers, returns a verdict. Where the numbers come from
(test set, CV, baseline, current champion) is the caller's business.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlctl.text import number_text


@dataclass
class Check:
    """One gate check."""

    name: str
    metric: str
    op: str  # ">=" or "<="
    actual: float | None
    required: float | None
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    """All checks; the gate passes only if every one does."""

    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks]}


def _compare(actual: float | None, op: str, required: float) -> bool:
    if actual is None or math.isnan(actual):
        return False
    return actual >= required if op == ">=" else actual <= required


def threshold_checks(
    thresholds: dict[str, float], metrics: dict[str, float], source: str = "test"
) -> list[Check]:
    """``min_x``/``max_x`` thresholds against measured metrics."""
    out = []
    for key, required in thresholds.items():
        direction, _, metric = key.partition("_")
        op = ">=" if direction == "min" else "<="
        actual = metrics.get(metric)
        detail = "" if actual is not None and not math.isnan(actual) else "metric undefined"
        out.append(
            Check(
                f"{source} {key}",
                metric,
                op,
                actual,
                required,
                _compare(actual, op, required),
                detail,
            )
        )
    return out


def cv_checks(
    thresholds: dict[str, float], metric: str, mean: float, std: float, k: float
) -> list[Check]:
    """Thresholds on CV: mean - k*std for min_, mean + k*std for max_."""
    out = []
    for key, required in thresholds.items():
        direction = key.partition("_")[0]
        op = ">=" if direction == "min" else "<="
        actual = mean - k * std if op == ">=" else mean + k * std
        sign = "-" if op == ">=" else "+"
        out.append(
            Check(
                f"cv {key}",
                metric,
                op,
                actual,
                required,
                _compare(actual, op, required),
                f"mean {number_text(mean)} {sign} {k:g} x std {number_text(std)}",
            )
        )
    return out


def baseline_check(
    metric: str, greater_is_better: bool, actual: float, baseline: float, margin: float
) -> Check:
    """The winner must beat the dummy baseline by ``margin`` on the test set."""
    op = ">=" if greater_is_better else "<="
    required = baseline + margin if greater_is_better else baseline - margin
    if math.isnan(baseline):
        return Check(
            "beats baseline",
            metric,
            op,
            actual,
            None,
            True,
            "baseline metric undefined; check skipped",
        )
    return Check(
        "beats baseline",
        metric,
        op,
        actual,
        required,
        _compare(actual, op, required),
        f"baseline {number_text(baseline)}, margin {margin:g}",
    )


def champion_check(
    metric: str,
    greater_is_better: bool,
    actual: float,
    champion: float | None,
    tolerance: float,
    champion_label: str,
    problem: str | None = None,
) -> Check:
    """The winner must not be worse than the current champion on the same test set."""
    op = ">=" if greater_is_better else "<="
    if problem:
        return Check(
            "not worse than champion",
            metric,
            op,
            actual,
            None,
            False,
            f"{champion_label}: {problem}",
        )
    if champion is None:
        return Check("not worse than champion", metric, op, actual, None, True, "no champion yet")
    required = champion - tolerance if greater_is_better else champion + tolerance
    return Check(
        "not worse than champion",
        metric,
        op,
        actual,
        required,
        _compare(actual, op, required),
        f"{champion_label} scores {number_text(champion)} on this test set",
    )
