"""The monitoring report: one self-contained HTML page from a ``mlctl monitor`` result.

:func:`write_report` takes the result document as plain data (the JSON that
``mlctl monitor`` writes, see docs/monitoring.md) and renders it defensively: a
section whose key is missing or null says "not computed", a field that is missing
renders as "n/a". Nothing is fetched when the page is opened: the CSS is inline,
the plots are inline SVG (:mod:`mlctl.monitor.report_plots`), and there is no
script. Every piece of text from the document (column names, categories, reasons,
messages) is HTML-escaped, and in plots matplotlib's ``$`` math markup is escaped too.

The same document always gives the same bytes: the page holds no time but the
document's own, and the SVG carries no software or date metadata.

The page's pieces: :mod:`mlctl.monitor.report_html` (CSS, text, tables, badges),
:mod:`mlctl.monitor.report_drift` (the drift sections), :mod:`mlctl.monitor.report_plots`
(the plots).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlctl.monitor import report_plots as plots
from mlctl.monitor.report_drift import (
    MAX_COLUMN_PLOTS,
    columns_of,
    drift_section,
    prediction_section,
)
from mlctl.monitor.report_html import (
    CSS,
    NA,
    NOT_COMPUTED,
    as_list,
    as_map,
    badge,
    bullets,
    check_badge,
    duration,
    esc,
    is_num,
    not_computed,
    rate,
    share,
    short,
    status_badge,
    table,
    utc,
    value_text,
    verdict_cell,
)

__all__ = ["MAX_COLUMN_PLOTS", "NOT_COMPUTED", "render_report", "write_report"]

_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}

# --------------------------------------------------------------------------- public


def write_report(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write the report of one monitoring result as a self-contained HTML file.

    The file is written next to its final name and moved into place, so a reader
    (a web server, a browser reloading) never sees half a page.

    Args:
        result: The result document of ``mlctl monitor`` (its parsed JSON).
        path: Where to write the page; parent folders are created.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(result)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:  # umask applies
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def render_report(result: Mapping[str, Any]) -> str:
    """The report as HTML text (see :func:`write_report`)."""
    doc = as_map(result)
    model = as_map(doc.get("model"))
    title = f"Monitoring report: {value_text(model.get('name') or doc.get('recipe'))}"
    if model.get("version") is not None:
        title += f" v{value_text(model.get('version'))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)} {status_badge(doc.get('status'))}</h1>",
        bullets(doc.get("reasons")),
        bullets(doc.get("notes"), "reasons muted"),
        _summary(doc, model),
        _overview(doc),
    ]
    with plots.matplotlib.rc_context(plots.RC):
        parts += [
            drift_section(doc.get("drift")),
            prediction_section(doc.get("prediction_drift")),
            _performance_section(doc.get("performance")),
            _volume_section(doc.get("volume")),
        ]
    parts += [_alerts_section(doc.get("alerts")), _retrain_section(doc, doc.get("retrain"))]
    parts.append(
        f'<p class="muted">Result schema version {esc(value_text(doc.get("schema_version")))}, '
        f"mlctl {esc(value_text(doc.get('mlctl_version')))}.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


# --------------------------------------------------------------------------- summary


def _summary(doc: Mapping[str, Any], model: Mapping[str, Any]) -> str:
    window, source = as_map(doc.get("window")), as_map(doc.get("source"))
    by_version = as_map(source.get("rows_by_version"))
    whole = "the whole file" if source.get("kind") == "file" else NA
    start = window.get("start_utc") or window.get("start")
    end = window.get("end_utc") or window.get("end")
    span = f"{utc(start)} → {utc(end)}"
    if window.get("seconds") is not None:
        span += f" ({duration(window.get('seconds'))})"
    version = value_text(model.get("version"))
    if model.get("alias"):
        version += f" (alias {value_text(model.get('alias'))})"
    rows = [
        ("Recipe", doc.get("recipe")),
        ("Model", model.get("name")),
        ("Version", version),
        ("Run id", model.get("run_id")),
        ("Window (UTC, end excluded)", span if window else whole),
        ("Source", f"{value_text(source.get('kind'))}: {value_text(source.get('location'))}"),
        ("Rows", source.get("rows")),
        *(
            [("Rows by model version", ", ".join(f"v{k}: {v}" for k, v in by_version.items()))]
            if len(by_version) > 1
            else []
        ),
        ("Generated at", utc(doc.get("generated_at"))),
    ]
    return "<h2>Summary</h2>" + table(["Item", "Value"], rows, align_numbers=False)


def _overview(doc: Mapping[str, Any]) -> str:
    rows = []
    drift = doc.get("drift")
    if isinstance(drift, Mapping):
        rows.append(
            (
                "Data drift",
                verdict_cell(drift.get("dataset_drift"), "dataset drift", "no dataset drift"),
                f"{value_text(drift.get('n_drifted'))} of {value_text(drift.get('n_tested'))} tested "
                f"columns drifted ({share(drift.get('share_drifted'))}; dataset drift at "
                f"{share(drift.get('drift_share'))})",
            )
        )
    else:
        rows.append(("Data drift", ("html", badge(NOT_COMPUTED, "na")), ""))
    pred = columns_of(doc.get("prediction_drift"))
    if pred is not None:
        drifted = [c.get("column") for c in pred if c.get("drifted")]
        detail = ", ".join(map(str, drifted)) + " drifted" if drifted else "no column drifted"
        rows.append(("Prediction drift", verdict_cell(bool(drifted), "drift", "no drift"), detail))
    else:
        rows.append(("Prediction drift", ("html", badge(NOT_COMPUTED, "na")), ""))
    for name, key in (("Performance", "performance"), ("Volume", "volume")):
        section = doc.get(key)
        if isinstance(section, Mapping):
            rows.append((name, check_badge(section), section.get("message") or ""))
        else:
            rows.append((name, ("html", badge(NOT_COMPUTED, "na")), ""))
    return "<h2>Checks</h2>" + table(["Check", "Verdict", "Detail"], rows)


# --------------------------------------------------------------------------- performance


def _performance_section(perf: Any) -> str:
    head = "<h2>Performance</h2>"
    if not isinstance(perf, Mapping):
        return head + not_computed("Performance (ground truth)")
    parts = [head, f"<p>{check_badge(perf)[1]} {esc(value_text(perf.get('message') or ''))}</p>"]
    rows = [
        ("Predictions in the window", perf.get("n_predictions")),
        ("Labelled", perf.get("n_labelled")),
        ("Labelled share", share(perf.get("labelled_share"))),
        ("Evaluated (label and prediction map to a class)", perf.get("n_evaluated")),
        ("Labels needed for a verdict", perf.get("min_labels")),
        ("Probabilities", perf.get("probabilities")),
    ]
    versions = as_map(perf.get("model_versions"))
    if versions:
        rows.append(("Model versions", ", ".join(f"v{k}: {v}" for k, v in versions.items())))
    parts.append(table(["Item", "Value"], rows, align_numbers=False))
    if perf.get("status") == "not_enough_labels":
        parts.append(
            '<p class="muted">Not enough labels yet: no verdict on performance. Ground truth '
            "arrives through POST /feedback; a later run over the same window sees it.</p>"
        )
    metrics = as_map(perf.get("metrics"))
    if metrics:
        mrows, classes = [], []
        for name, m in metrics.items():
            m = as_map(m)
            better = m.get("greater_is_better")
            direction = NA if better is None else ("higher" if better else "lower") + " is better"
            dropped = ("html", '<span class="bad">yes</span>') if m.get("dropped") else "no"
            mrows.append(
                [
                    name,
                    direction,
                    m.get("trained"),
                    m.get("production"),
                    m.get("drop"),
                    m.get("max_drop"),
                    dropped,
                ]
            )
            classes.append("drifted" if m.get("dropped") else "")
        header = ["Metric", "Direction", "Training", "Production", "Drop", "Max drop", "Dropped"]
        parts.append("<h3>Production vs training</h3>" + table(header, mrows, classes))
    checks = [c for c in as_list(perf.get("checks")) if isinstance(c, Mapping)]
    if checks:
        crows = [
            [
                c.get("name"),
                c.get("actual"),
                _OPS.get(str(c.get("op")), c.get("op")),
                c.get("required"),
                ("html", '<span class="ok">pass</span>')
                if c.get("passed")
                else ("html", '<span class="bad">fail</span>'),
            ]
            for c in checks
        ]
        parts.append("<h3>Readiness thresholds on production data</h3>")
        parts.append(table(["Check", "Actual", "Op", "Required", "Result"], crows))
    for key, what in (("unmatched_labels", "labels"), ("unmatched_predictions", "predictions")):
        un = as_map(perf.get(key))
        if un.get("count"):
            values = ", ".join(f"{k!r} ×{v}" for k, v in as_map(un.get("values")).items())
            parts.append(
                f'<p class="muted">{esc(value_text(un.get("count")))} {what} match no class of '
                f"the model: {esc(values)}</p>"
            )
    series = as_map(perf.get("series"))
    points = [p for p in as_list(series.get("points")) if isinstance(p, Mapping)]
    if points:
        bucket = series.get("bucket_seconds")
        per = "day" if bucket == plots.DAY else f"{duration(bucket)} bucket"
        parts.append(f"<h3>Production performance per {esc(per)}</h3>")
        with_values = sum(1 for p in points if any(map(is_num, as_map(p.get("metrics")).values())))
        if with_values < 2:
            parts.append(
                f'<p class="muted">{with_values} {esc(per)}{"" if with_values == 1 else "s"} '
                f"with enough labels ({esc(value_text(series.get('min_labels')))} or more) so far; "
                "the line grows as ground truth arrives.</p>"
            )
        markup = plots.series_svg(points, metrics, series.get("min_labels"), bucket)
        parts.append(f'<figure class="wide">{markup}</figure>')
    return "".join(parts)


# --------------------------------------------------------------------------- volume


def _volume_section(vol: Any) -> str:
    head = "<h2>Volume</h2>"
    if not isinstance(vol, Mapping):
        return head + not_computed("Volume")
    recent, base = as_map(vol.get("recent")), as_map(vol.get("baseline"))
    limits = as_map(vol.get("limits"))
    parts = [head, f"<p>{check_badge(vol)[1]} {esc(value_text(vol.get('message') or ''))}</p>"]
    rows = [
        ("Recent window", f"{utc(recent.get('start_utc'))} → {utc(recent.get('end_utc'))}"),
        (
            "Recent predictions",
            f"{value_text(recent.get('total'))} ({rate(recent.get('per_hour'))}; "
            f"{value_text(recent.get('zero_hours'))} hours without any)",
        ),
        ("Baseline window", f"{utc(base.get('start_utc'))} → {utc(base.get('end_utc'))}"),
        (
            "Baseline rate",
            f"{rate(base.get('per_hour'))} ({value_text(base.get('statistic'))} of "
            f"{value_text(base.get('hours_with_history'))} hours with history)",
        ),
        ("Ratio recent / baseline", short(vol.get("ratio"))),
        (
            "Limits",
            f"drop above {share(limits.get('max_drop_share'))}, spike above "
            f"{short(limits.get('max_spike_factor'))}×, at least "
            f"{value_text(limits.get('min_baseline_hours'))} baseline hours",
        ),
    ]
    parts.append(table(["Item", "Value"], rows, align_numbers=False))
    hourly = [h for h in as_list(vol.get("hourly")) if isinstance(h, Mapping)]
    hours = plots.known_hours(hourly)
    if hours:
        if len(hours) < len(hourly):
            parts.append(
                f'<p class="muted">No prediction was logged before {esc(utc(hours[0][0]))}: '
                "the charts start there.</p>"
            )
        markup = plots.volume_svg(hours, vol, recent, base, limits)
        parts.append(f'<figure class="wide">{markup}</figure>')
        daily = plots.daily_volume_svg(hours)
        if daily:
            parts.append(f'<figure class="wide">{daily}</figure>')
    elif hourly:
        parts.append('<p class="muted">No prediction was logged in these hours.</p>')
    return "".join(parts)


# --------------------------------------------------------------------------- alerts, retrain


def _alerts_section(alerts: Any) -> str:
    items = [a for a in as_list(alerts) if isinstance(a, Mapping)]
    if not items:
        return "" if alerts is None else '<h2>Alerts</h2><p class="muted">No alert was sent.</p>'
    keys: list[str] = []
    for a in items:
        keys += [str(k) for k in a if str(k) not in keys]
    rows = [[a.get(k) for k in keys] for a in items]
    return "<h2>Alerts</h2>" + table(keys, rows)


def _retrain_section(doc: Mapping[str, Any], retrain: Any) -> str:
    if retrain is None:
        return (
            '<h2>Retrain</h2><p class="muted">No retrain in this run.</p>'
            if "retrain" in doc
            else ""
        )
    if not isinstance(retrain, Mapping):
        return f"<h2>Retrain</h2><p>{esc(value_text(retrain))}</p>"
    rows = [(k, v) for k, v in retrain.items()]
    return "<h2>Retrain</h2>" + table(["Item", "Value"], rows, align_numbers=False)
