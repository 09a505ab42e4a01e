"""The recipe's SLO (``deploy.serve.slo``) against what a load test measured.

Errors are the requests answered with a 5xx or not answered at all (timeout, reset,
refused, unfinished when the run ended, not sent in time in an open loop), over every
request sent; a 4xx is the client's fault and is reported by status, not counted.
Throughput is 2xx answers per second over the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    name: str  # p95_ms, p99_ms, max_error_rate, min_throughput_rps
    limit: float
    value: float | None
    passed: bool

    def text(self) -> str:
        """``p95 12.1 ms <= 100 ms``: what a person reads in a tag or a table."""
        value = self.value
        if self.name in ("p95_ms", "p99_ms"):
            shown = "n/a" if value is None else f"{value:.1f} ms"
            sign = "<=" if self.passed else ">"
            return f"{self.name[:3]} {shown} {sign} {self.limit:g} ms"
        if self.name == "max_error_rate":
            sign = "<=" if self.passed else ">"
            return f"errors {100 * (value or 0):.2f} % {sign} {100 * self.limit:g} %"
        sign = ">=" if self.passed else "<"
        return f"throughput {value or 0:.1f}/s {sign} {self.limit:g}/s"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "limit": self.limit, "value": self.value, "passed": self.passed}


def check(slo: dict[str, Any], results: dict[str, Any]) -> list[Check]:
    """Every SLO key that is set, checked (an unanswered run fails the latency checks)."""
    latency = results["latency_ms"]
    checks = []
    for key in ("p95_ms", "p99_ms"):
        limit = slo.get(key)
        if limit is not None:
            value = latency.get(key)
            checks.append(Check(key, float(limit), value, value is not None and value <= limit))
    rate = results["error_rate"]
    limit = float(slo.get("max_error_rate", 0.01))
    checks.append(Check("max_error_rate", limit, rate, rate is not None and rate <= limit))
    if slo.get("min_throughput_rps") is not None:
        limit = float(slo["min_throughput_rps"])
        value = results["ok_per_second"]
        checks.append(Check("min_throughput_rps", limit, value, value >= limit))
    return checks


def verdict(checks: list[Check]) -> str:
    """``pass: p95 12.1 ms <= 100 ms`` or ``fail: p95 180.3 ms > 100 ms; ...`` (the
    failed checks first, at most three shown)."""
    failed = [c for c in checks if not c.passed]
    shown = (failed or checks)[:3]
    return ("fail: " if failed else "pass: ") + "; ".join(c.text() for c in shown)
