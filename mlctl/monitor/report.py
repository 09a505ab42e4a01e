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

Reference vs current distributions are drawn for up to :data:`MAX_COLUMN_PLOTS`
columns, drifted ones first; the table lists every column (drifted first).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl.evaluate.report import fmt
from mlctl.monitor import report_plots as plots

MAX_COLUMN_PLOTS = 24  # about 1.5 s of plotting on 2 cores; the table lists the rest
NA = "n/a"
NOT_COMPUTED = "not computed"
_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
P_VALUE_TESTS = ("ks", "chisquare", "z")

_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;
 margin:0;padding:24px 32px;color:#1f2328;background:#fff;line-height:1.45;max-width:1280px}
h1{font-size:1.6em;margin:0 0 12px}
h2{font-size:1.25em;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
h3{font-size:1.05em;margin:18px 0 8px}
table{border-collapse:collapse;font-size:0.88em;margin:4px 0}
th,td{border:1px solid #d0d7de;padding:3px 9px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted td{background:#fff1f0}
.scroll{overflow-x:auto}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-size:0.8em;
 vertical-align:middle}
.pass{background:#1a7f37}.fail{background:#cf222e}.na{background:#6e7781}.warn{background:#9a6700}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:12px}
figure{display:inline-block;margin:0;border:1px solid #d0d7de;padding:6px;border-radius:6px}
figure img,figure svg{max-width:100%;height:auto;display:block}
.plots figure svg{width:374px}
figure.wide{display:block;max-width:1000px}
figure.wide svg{width:100%}
figcaption{font-size:0.82em;color:#57606a;margin-top:2px}
.muted{color:#57606a}
ul.reasons{margin:6px 0 0;padding-left:20px}
"""


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
    doc = _map(result)
    model = _map(doc.get("model"))
    title = f"Monitoring report: {_text(model.get('name') or doc.get('recipe'))}"
    if model.get("version") is not None:
        title += f" v{_text(model.get('version'))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)} {_status_badge(doc.get('status'))}</h1>",
        _bullets(doc.get("reasons")),
        _bullets(doc.get("notes"), "reasons muted"),
        _summary(doc, model),
        _overview(doc),
    ]
    with plots.matplotlib.rc_context(plots.RC):
        parts += [
            _drift_section(doc.get("drift")),
            _prediction_section(doc.get("prediction_drift")),
            _performance_section(doc.get("performance")),
            _volume_section(doc.get("volume")),
        ]
    parts += [_alerts_section(doc.get("alerts")), _retrain_section(doc, doc.get("retrain"))]
    parts.append(
        f'<p class="muted">Result schema version {_e(_text(doc.get("schema_version")))}, '
        f"mlctl {_e(_text(doc.get('mlctl_version')))}.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


# --------------------------------------------------------------------------- text helpers


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _text(value: Any) -> str:
    """A value as report text ("n/a" for None and NaN)."""
    if isinstance(value, Mapping | list) and value and not isinstance(value, str):
        return json.dumps(value, sort_keys=True, default=str)
    return fmt(value)


def _g(value: Any) -> str:
    """A rate or factor, short: 38.08, 118, 3."""
    return f"{value:.4g}" if _is_num(value) else NA


def _rate(value: Any) -> str:
    return f"{value:.4g}/h" if _is_num(value) else NA


def _share(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return NA
    return f"{100 * value:.1f} %"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds <= 0:
        return NA
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g} s"


def _utc(value: Any) -> str:
    """An epoch or ISO time as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, str) and value:
        return value.replace("T", " ").replace("Z", " UTC").replace("+00:00", " UTC")
    return NA


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    classes: Sequence[str] = (),
    align_numbers: bool = True,
) -> str:
    """A table of escaped text; a cell given as ``("html", markup)`` is inserted as is."""
    out = ['<div class="scroll"><table><thead><tr>']
    out += [f"<th>{_e(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        css = classes[i] if i < len(classes) and classes[i] else ""
        out.append(f'<tr class="{_e(css)}">' if css else "<tr>")
        for cell in row:
            if isinstance(cell, tuple) and len(cell) == 2 and cell[0] == "html":
                out.append(f"<td>{cell[1]}</td>")
            else:
                num = ' class="num"' if align_numbers and _is_num(cell) else ""
                out.append(f"<td{num}>{_e(_text(cell))}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _badge(text: str, css: str) -> str:
    return f'<span class="badge {css}">{_e(text)}</span>'


def _status_badge(status: Any) -> str:
    css = {"healthy": "pass", "attention": "fail", "not_enough_data": "na"}.get(str(status), "na")
    return _badge(str(status) if status else "unknown", css)


def _verdict(flag: bool | None, yes: str, no: str) -> tuple[str, str]:
    return ("html", _badge(yes, "fail")) if flag else ("html", _badge(no, "pass"))


def _not_computed(what: str) -> str:
    return f'<p class="muted">{_e(what)}: {NOT_COMPUTED}.</p>'


def _bullets(lines: Any, css: str = "reasons") -> str:
    """The document's reasons or notes as a list ('' when there are none)."""
    items = [line for line in _list(lines) if line not in (None, "")]
    if not items:
        return ""
    lis = "".join(f"<li>{_e(line)}</li>" for line in items)
    return f'<ul class="{css}">{lis}</ul>'


def _summary(doc: Mapping[str, Any], model: Mapping[str, Any]) -> str:
    window, source = _map(doc.get("window")), _map(doc.get("source"))
    by_version = _map(source.get("rows_by_version"))
    whole = "the whole file" if source.get("kind") == "file" else NA
    start = window.get("start_utc") or window.get("start")
    end = window.get("end_utc") or window.get("end")
    span = f"{_utc(start)} → {_utc(end)}"
    if window.get("seconds") is not None:
        span += f" ({_duration(window.get('seconds'))})"
    version = _text(model.get("version"))
    if model.get("alias"):
        version += f" (alias {_text(model.get('alias'))})"
    rows = [
        ("Recipe", doc.get("recipe")),
        ("Model", model.get("name")),
        ("Version", version),
        ("Run id", model.get("run_id")),
        ("Window (UTC, end excluded)", span if window else whole),
        ("Source", f"{_text(source.get('kind'))}: {_text(source.get('location'))}"),
        ("Rows", source.get("rows")),
        *(
            [("Rows by model version", ", ".join(f"v{k}: {v}" for k, v in by_version.items()))]
            if len(by_version) > 1
            else []
        ),
        ("Generated at", _utc(doc.get("generated_at"))),
    ]
    return "<h2>Summary</h2>" + _table(["Item", "Value"], rows, align_numbers=False)


def _overview(doc: Mapping[str, Any]) -> str:
    rows = []
    drift = doc.get("drift")
    if isinstance(drift, Mapping):
        rows.append(
            (
                "Data drift",
                _verdict(drift.get("dataset_drift"), "dataset drift", "no dataset drift"),
                f"{_text(drift.get('n_drifted'))} of {_text(drift.get('n_tested'))} tested "
                f"columns drifted ({_share(drift.get('share_drifted'))}; dataset drift at "
                f"{_share(drift.get('drift_share'))})",
            )
        )
    else:
        rows.append(("Data drift", ("html", _badge(NOT_COMPUTED, "na")), ""))
    pred = _columns_of(doc.get("prediction_drift"))
    if pred is not None:
        drifted = [c.get("column") for c in pred if c.get("drifted")]
        detail = ", ".join(map(str, drifted)) + " drifted" if drifted else "no column drifted"
        rows.append(("Prediction drift", _verdict(bool(drifted), "drift", "no drift"), detail))
    else:
        rows.append(("Prediction drift", ("html", _badge(NOT_COMPUTED, "na")), ""))
    for name, key in (("Performance", "performance"), ("Volume", "volume")):
        section = doc.get(key)
        if isinstance(section, Mapping):
            rows.append((name, _check_badge(section), section.get("message") or ""))
        else:
            rows.append((name, ("html", _badge(NOT_COMPUTED, "na")), ""))
    return "<h2>Checks</h2>" + _table(["Check", "Verdict", "Detail"], rows)


def _check_badge(section: Mapping[str, Any]) -> tuple[str, str]:
    status = str(section.get("status") or "unknown")
    if section.get("flagged"):
        css = "fail"
    elif status == "ok":
        css = "pass"
    elif status in ("not_enough_labels", "not_enough_history"):
        css = "warn"
    else:
        css = "na"
    return ("html", _badge(status.replace("_", " "), css))


# --------------------------------------------------------------------------- drift


def _columns_of(section: Any) -> list[Mapping[str, Any]] | None:
    """Column results of a DriftResult or of a single ColumnDrift; None when absent."""
    if not isinstance(section, Mapping):
        return None
    if "columns" in section:
        return [c for c in _list(section.get("columns")) if isinstance(c, Mapping)]
    return [section] if "column" in section else []


def _order(columns: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Drifted first, then tested, then the columns that could not be tested (stable)."""

    def rank(c: Mapping[str, Any]) -> int:
        if c.get("drifted"):
            return 0
        return 1 if c.get("status", "tested") == "tested" else 2

    return sorted(columns, key=rank)


def _column_rows(columns: list[Mapping[str, Any]]) -> tuple[list[list[Any]], list[str]]:
    rows, classes = [], []
    for c in columns:
        status = c.get("status", "tested")
        if c.get("drifted"):
            verdict: Any = ("html", '<span class="bad">drifted</span>')
        elif status == "tested":
            verdict = "no"
        else:
            verdict = f"not tested: {str(status).replace('_', ' ')}"
            if c.get("detail"):
                verdict += f" ({c.get('detail')})"
        test = _text(c.get("test"))
        if c.get("approximate"):
            test += " ≈"
        if c.get("band"):
            test += f" ({c.get('band')})"
        new = _list(c.get("new_categories"))
        n_new = c.get("n_new_categories")
        n_new = int(n_new) if _is_num(n_new) else len(new)
        new_text = ""
        if n_new:
            new_text = ", ".join(map(str, new)) + (
                f" (+{n_new - len(new)} more)" if n_new > len(new) else ""
            )
        missing = f"{_share(c.get('cur_missing_share'))} (ref {_share(c.get('ref_missing_share'))})"
        rows.append(
            [
                c.get("column"),
                c.get("kind"),
                test,
                c.get("statistic"),
                _p_value(c),
                _rule(c),
                verdict,
                new_text,
                missing,
            ]
        )
        classes.append("drifted" if c.get("drifted") else "")
    return rows, classes


def _p_value(column: Mapping[str, Any]) -> Any:
    """The p-value of a hypothesis test; a distance has none, and the cell says so."""
    if column.get("test") in P_VALUE_TESTS or column.get("p_value") is not None:
        return column.get("p_value")
    return "—" if column.get("test") else NA


def _rule(column: Mapping[str, Any]) -> str:
    """When the column counts as drifted: 'p < 0.05' or '≥ 0.1' (a distance)."""
    threshold = column.get("threshold")
    if not _is_num(threshold):
        return NA
    test = column.get("test")
    if test in P_VALUE_TESTS:
        return f"p {'≤' if test == 'ks' else '<'} {threshold:g}"
    return f"≥ {threshold:g}" if test else _text(threshold)


_COLUMN_HEADER = [
    "Column",
    "Kind",
    "Test",
    "Statistic",
    "p-value",
    "Drift when",
    "Drifted",
    "New categories",
    "Missing (current, reference)",
]


def _drift_section(drift: Any) -> str:
    parts = ["<h2>Data drift</h2>"]
    if not isinstance(drift, Mapping):
        return parts[0] + _not_computed("Data drift")
    columns = _order(_columns_of(drift) or [])
    verdict = _verdict(drift.get("dataset_drift"), "dataset drift", "no dataset drift")[1]
    parts.append(
        f"<p>{verdict} {_e(_text(drift.get('n_drifted')))} of "
        f"{_e(_text(drift.get('n_tested')))} tested columns drifted "
        f"(<b>{_e(_share(drift.get('share_drifted')))}</b>); the dataset drifts at "
        f"{_e(_share(drift.get('drift_share')))} or more. "
        f"{_e(_text(drift.get('n_untested')))} not tested; "
        f"{_e(_text(drift.get('rows')))} current rows.</p>"
    )
    ignored = _list(drift.get("ignored_columns"))
    if ignored:
        parts.append(
            f'<p class="muted">Not in the reference profile, ignored: '
            f"{_e(', '.join(map(str, ignored)))}</p>"
        )
    if columns:
        rows, classes = _column_rows(columns)
        parts.append(_table(_COLUMN_HEADER, rows, classes))
        parts.append(
            '<p class="muted">p-value tests (ks, chisquare, z) drift below the threshold; '
            "distances (wasserstein, jensenshannon, psi, kl_div) at or above it, and have "
            "no p-value (—). "
            "≈: computed from the profile's quantile sketch.</p>"
        )
    parts.append(_distribution_plots(columns))
    return "".join(parts)


def _distribution_plots(columns: list[Mapping[str, Any]]) -> str:
    """Small multiples of reference vs current, drifted columns first, capped."""
    plotted = [c for c in columns if _map(c.get("histogram"))]
    if not plotted:
        return ""
    shown = plotted[:MAX_COLUMN_PLOTS]
    n_drifted = sum(1 for c in columns if c.get("drifted"))
    out = [
        "<h3>Reference vs current, per column</h3>",
        '<p class="muted">Shares of rows per bin (numeric) or category: reference in grey, '
        f"current in blue; drifted columns first ({n_drifted} drifted).</p>",
        _figures([(c, plots.histogram_svg(c)) for c in shown]),
    ]
    if len(plotted) > len(shown):
        more = len(plotted) - len(shown)
        late = sum(1 for c in plotted[len(shown) :] if c.get("drifted"))
        out.append(
            f'<p class="muted">{more} more column{"s" if more > 1 else ""} not plotted'
            + (f", {late} of them drifted" if late else "")
            + " (see the table).</p>"
        )
    return "".join(out)


def _prediction_section(section: Any) -> str:
    head = "<h2>Prediction drift</h2>"
    columns = _columns_of(section)
    if columns is None:
        return head + _not_computed("Prediction drift")
    if not columns:
        return head + '<p class="muted">No score or prediction column was tested.</p>'
    rows, classes = _column_rows(columns)
    parts = [head, _table(_COLUMN_HEADER, rows, classes)]
    with_data = [c for c in columns if _map(c.get("histogram"))]
    parts.append(_figures([(c, plots.histogram_svg(c, small=False)) for c in with_data]))
    return "".join(parts)


def _figures(items: Sequence[tuple[Mapping[str, Any], str | None]]) -> str:
    out = ['<div class="plots">']
    for column, markup in items:
        name = _text(column.get("column"))
        if markup is None:
            out.append(f'<p class="muted">No distribution to plot for {_e(name)}.</p>')
            continue
        caption = f"{name}: {_text(column.get('test'))} {_text(column.get('statistic'))}"
        if column.get("p_value") is not None:
            caption += f", p = {_text(column.get('p_value'))}"
        out.append(
            f'<figure data-column="{_e(name)}">{markup}<figcaption>{_e(caption)}</figcaption>'
            "</figure>"
        )
    out.append("</div>")
    return "".join(out)


# --------------------------------------------------------------------------- performance


def _performance_section(perf: Any) -> str:
    head = "<h2>Performance</h2>"
    if not isinstance(perf, Mapping):
        return head + _not_computed("Performance (ground truth)")
    parts = [head, f"<p>{_check_badge(perf)[1]} {_e(_text(perf.get('message') or ''))}</p>"]
    rows = [
        ("Predictions in the window", perf.get("n_predictions")),
        ("Labelled", perf.get("n_labelled")),
        ("Labelled share", _share(perf.get("labelled_share"))),
        ("Evaluated (label and prediction map to a class)", perf.get("n_evaluated")),
        ("Labels needed for a verdict", perf.get("min_labels")),
        ("Probabilities", perf.get("probabilities")),
    ]
    versions = _map(perf.get("model_versions"))
    if versions:
        rows.append(("Model versions", ", ".join(f"v{k}: {v}" for k, v in versions.items())))
    parts.append(_table(["Item", "Value"], rows, align_numbers=False))
    if perf.get("status") == "not_enough_labels":
        parts.append(
            '<p class="muted">Not enough labels yet: no verdict on performance. Ground truth '
            "arrives through POST /feedback; a later run over the same window sees it.</p>"
        )
    metrics = _map(perf.get("metrics"))
    if metrics:
        mrows, classes = [], []
        for name, m in metrics.items():
            m = _map(m)
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
        parts.append("<h3>Production vs training</h3>" + _table(header, mrows, classes))
    checks = [c for c in _list(perf.get("checks")) if isinstance(c, Mapping)]
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
        parts.append(_table(["Check", "Actual", "Op", "Required", "Result"], crows))
    for key, what in (("unmatched_labels", "labels"), ("unmatched_predictions", "predictions")):
        un = _map(perf.get(key))
        if un.get("count"):
            values = ", ".join(f"{k!r} ×{v}" for k, v in _map(un.get("values")).items())
            parts.append(
                f'<p class="muted">{_e(_text(un.get("count")))} {what} match no class of '
                f"the model: {_e(values)}</p>"
            )
    series = _map(perf.get("series"))
    points = [p for p in _list(series.get("points")) if isinstance(p, Mapping)]
    if points:
        bucket = series.get("bucket_seconds")
        per = "day" if bucket == plots.DAY else f"{_duration(bucket)} bucket"
        parts.append(f"<h3>Production performance per {_e(per)}</h3>")
        with_values = sum(1 for p in points if any(map(_is_num, _map(p.get("metrics")).values())))
        if with_values < 2:
            parts.append(
                f'<p class="muted">{with_values} {_e(per)}{"" if with_values == 1 else "s"} '
                f"with enough labels ({_e(_text(series.get('min_labels')))} or more) so far; "
                "the line grows as ground truth arrives.</p>"
            )
        markup = plots.series_svg(points, metrics, series.get("min_labels"), bucket)
        parts.append(f'<figure class="wide">{markup}</figure>')
    return "".join(parts)


# --------------------------------------------------------------------------- volume


def _volume_section(vol: Any) -> str:
    head = "<h2>Volume</h2>"
    if not isinstance(vol, Mapping):
        return head + _not_computed("Volume")
    recent, base = _map(vol.get("recent")), _map(vol.get("baseline"))
    limits = _map(vol.get("limits"))
    parts = [head, f"<p>{_check_badge(vol)[1]} {_e(_text(vol.get('message') or ''))}</p>"]
    rows = [
        ("Recent window", f"{_utc(recent.get('start_utc'))} → {_utc(recent.get('end_utc'))}"),
        (
            "Recent predictions",
            f"{_text(recent.get('total'))} ({_rate(recent.get('per_hour'))}; "
            f"{_text(recent.get('zero_hours'))} hours without any)",
        ),
        ("Baseline window", f"{_utc(base.get('start_utc'))} → {_utc(base.get('end_utc'))}"),
        (
            "Baseline rate",
            f"{_rate(base.get('per_hour'))} ({_text(base.get('statistic'))} of "
            f"{_text(base.get('hours_with_history'))} hours with history)",
        ),
        ("Ratio recent / baseline", _g(vol.get("ratio"))),
        (
            "Limits",
            f"drop above {_share(limits.get('max_drop_share'))}, spike above "
            f"{_g(limits.get('max_spike_factor'))}×, at least "
            f"{_text(limits.get('min_baseline_hours'))} baseline hours",
        ),
    ]
    parts.append(_table(["Item", "Value"], rows, align_numbers=False))
    hourly = [h for h in _list(vol.get("hourly")) if isinstance(h, Mapping)]
    hours = plots.known_hours(hourly)
    if hours:
        if len(hours) < len(hourly):
            parts.append(
                f'<p class="muted">No prediction was logged before {_e(_utc(hours[0][0]))}: '
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
    items = [a for a in _list(alerts) if isinstance(a, Mapping)]
    if not items:
        return "" if alerts is None else '<h2>Alerts</h2><p class="muted">No alert was sent.</p>'
    keys: list[str] = []
    for a in items:
        keys += [str(k) for k in a if str(k) not in keys]
    rows = [[a.get(k) for k in keys] for a in items]
    return "<h2>Alerts</h2>" + _table(keys, rows)


def _retrain_section(doc: Mapping[str, Any], retrain: Any) -> str:
    if retrain is None:
        return (
            '<h2>Retrain</h2><p class="muted">No retrain in this run.</p>'
            if "retrain" in doc
            else ""
        )
    if not isinstance(retrain, Mapping):
        return f"<h2>Retrain</h2><p>{_e(_text(retrain))}</p>"
    rows = [(k, v) for k, v in retrain.items()]
    return "<h2>Retrain</h2>" + _table(["Item", "Value"], rows, align_numbers=False)
