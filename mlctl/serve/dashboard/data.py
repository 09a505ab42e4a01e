"""What ``GET /dashboard/data`` answers, from what the server already has (pure: no I/O).

- :func:`metric_snapshot`: the cumulative counters, gauges and histogram buckets of the
  exposition ``/metrics`` renders, parsed back, so the page shows the numbers a scrape
  shows (every worker's, summed by prometheus-client's multiprocess mode);
- :func:`monitor_summary`: the verdict of the latest ``mlctl monitor`` result, its
  drifted columns and production metrics, read defensively (a file of another
  version of mlctl, or a damaged one, gives what can be read, never an error).

Histograms travel as ``{"le": [finite upper bounds], "counts": [cumulative counts, the
last one for +Inf], "count", "sum"}``: JSON has no infinity.
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# The routes that score rows: the page's request rate, error rate and latency are theirs.
SCORING_ROUTES = ("/predict", "/invocations", "/v2/models/{name}/infer")

# counter family -> (key in the snapshot, the labels kept, in order)
COUNTERS = {
    "mlctl_requests": ("requests", ("route", "code")),
    "mlctl_errors": ("errors", ("route", "code")),
    "mlctl_predictions": ("predictions", ("version", "variant", "label")),
    "mlctl_rows_dropped": ("rows_dropped", ("reason",)),
    "mlctl_model_load_failures": ("model_load_failures", ("role",)),
}
SCALARS = {
    "mlctl_cache_hits": "cache_hits",
    "mlctl_cache_rejected": "cache_rejected",
    "mlctl_log_rows_failed": "log_rows_failed",
    "mlctl_feedback_unknown": "feedback_unknown",
    "mlctl_log_queue_depth": "log_queue_depth",
}
HISTOGRAMS = {
    "mlctl_request_seconds": ("latency", "route"),  # one histogram per route
    "mlctl_prediction_score": ("scores", None),
    "mlctl_batch_rows": ("batch_rows", None),
}
MAX_DRIFTED_SHOWN = 20


def metric_snapshot(exposition: str) -> dict[str, Any]:
    """The dashboard's metrics from a text exposition (Prometheus 0.0.4 format)."""
    out: dict[str, Any] = {key: [] for key, _ in COUNTERS.values()}
    out.update({key: 0.0 for key in SCALARS.values()})
    out.update({key: ({} if by else _empty()) for key, by in HISTOGRAMS.values()})
    out["models"] = []
    for family in text_string_to_metric_families(exposition):
        name = family.name
        if name in COUNTERS:
            key, labels = COUNTERS[name]
            for s in family.samples:
                if s.name == name + "_total":
                    row = {k: s.labels.get(k, "") for k in labels}
                    out[key].append({**row, "value": s.value})
        elif name in SCALARS:
            out[SCALARS[name]] = sum(
                s.value for s in family.samples if s.name in (name, name + "_total")
            )
        elif name in HISTOGRAMS:
            key, by = HISTOGRAMS[name]
            found = _histograms(family.samples, name, by)
            out[key] = found if by else found.get("", _empty())
        elif name in ("mlctl_model", "mlctl_model_info"):  # the served versions
            out["models"] = [
                {k: s.labels.get(k, "") for k in ("name", "version", "alias", "role")}
                for s in family.samples
                if s.name == "mlctl_model_info"
            ]
    for key, _ in COUNTERS.values():
        out[key].sort(key=lambda row: [str(v) for k, v in row.items() if k != "value"])
    return out


def _empty() -> dict[str, Any]:
    return {"le": [], "counts": [0.0], "count": 0.0, "sum": 0.0}


def _histograms(samples: list[Any], name: str, by: str | None) -> dict[str, dict[str, Any]]:
    """``{label value: histogram}`` of one family (``""`` when not split by a label)."""
    buckets: dict[str, dict[float, float]] = {}
    totals: dict[str, dict[str, float]] = {}
    for s in samples:
        group = s.labels.get(by, "") if by else ""
        if s.name == name + "_bucket":
            buckets.setdefault(group, {})[float(s.labels["le"])] = s.value
        elif s.name in (name + "_count", name + "_sum"):
            totals.setdefault(group, {})[s.name.rsplit("_", 1)[1]] = s.value
    out = {}
    for group, by_le in buckets.items():
        bounds = sorted(by_le)
        out[group] = {
            "le": [b for b in bounds if math.isfinite(b)],
            "counts": [by_le[b] for b in bounds],
            "count": totals.get(group, {}).get("count", by_le.get(math.inf, 0.0)),
            "sum": totals.get(group, {}).get("sum", 0.0),
        }
    return out


def histogram_quantile(q: float, le: list[float], counts: list[float]) -> float | None:
    """PromQL's ``histogram_quantile`` on cumulative bucket counts (the last for +Inf):
    linear inside the bucket the rank falls in; the highest finite bound when it falls
    in +Inf; None without observations. The page computes the same in JavaScript (on
    bucket differences); this one states the arithmetic and is tested against it."""
    if not counts or counts[-1] <= 0 or not 0 <= q <= 1:
        return None
    rank = q * counts[-1]
    i = next(i for i, c in enumerate(counts) if c >= rank)
    if i == len(le):  # the +Inf bucket
        return le[-1] if le else None
    start = le[i - 1] if i > 0 else 0.0
    if i == 0 and le[0] <= 0:
        return le[0]
    below = counts[i - 1] if i > 0 else 0.0
    inside = counts[i] - below
    if inside <= 0:
        return le[i]
    return start + (le[i] - start) * (rank - below) / inside


# ------------------------------------------------------------------ monitoring


def monitor_summary(
    doc: Any, served_version: int | None, age_seconds: float | None
) -> dict[str, Any]:
    """What the page shows of a monitoring result document (``latest.json``)."""
    doc = doc if isinstance(doc, dict) else {}
    model = _dict(doc.get("model"))
    drift = _dict(doc.get("drift"))
    columns = [_dict(c) for c in _list(drift.get("columns"))]
    drifted = sorted(
        (c for c in columns if c.get("drifted") is True),
        key=lambda c: -(_number(c.get("score")) or 0.0),
    )
    prediction = _dict(doc.get("prediction_drift"))
    perf = _dict(doc.get("performance"))
    volume = _dict(doc.get("volume"))
    window = _dict(doc.get("window"))
    monitored = _text(model.get("version"), 40)
    return {
        "status": _text(doc.get("status")) or "unknown",
        "reasons": [_text(r) for r in _list(doc.get("reasons"))][:10],
        "generated_at": _text(doc.get("generated_at")),
        "age_seconds": None if age_seconds is None else round(max(0.0, age_seconds), 1),
        "model_version": monitored,
        "about_served_version": served_version is not None
        and str(monitored) == str(served_version),
        "window": {
            "start_utc": _text(window.get("start_utc")),
            "end_utc": _text(window.get("end_utc")),
        }
        if window
        else None,
        "rows": _number(_dict(doc.get("source")).get("rows")),
        "drift": {
            "status": _text(drift.get("status")),
            "n_tested": _number(drift.get("n_tested")),
            "n_drifted": _number(drift.get("n_drifted")),
            "share_drifted": _number(drift.get("share_drifted")),
            "drifted": [_column(c) for c in drifted[:MAX_DRIFTED_SHOWN]],
            "more_drifted": max(0, len(drifted) - MAX_DRIFTED_SHOWN),
        },
        "prediction_drift": [
            _column(c) for c in map(_dict, _list(prediction.get("columns"))) if c.get("drifted")
        ],
        "performance": {
            "status": _text(perf.get("status")),
            "message": _text(perf.get("message")),
            "n_evaluated": _number(perf.get("n_evaluated")),
            "metrics": [
                {
                    "name": _text(name),
                    "production": _number(_dict(m).get("production")),
                    "trained": _number(_dict(m).get("trained")),
                    "dropped": _dict(m).get("dropped") is True,
                }
                for name, m in _dict(perf.get("metrics")).items()
            ],
        }
        if perf
        else None,
        "volume": {"status": _text(volume.get("status")), "message": _text(volume.get("message"))}
        if volume
        else None,
    }


def _column(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "column": _text(c.get("column")),
        "test": _text(c.get("test")),
        "score": _number(c.get("score")),
        "p_value": _number(c.get("p_value")),
        "threshold": _number(c.get("threshold")),
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any, limit: int = 300) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
