"""The model report, as Markdown and as one self-contained HTML file.

Both renderers take a plain ``ctx`` dict (missing keys render as "n/a" or are left
out, so a partial context still renders):

- ``name`` (str): the recipe/model name; ``task``: "classification" or "regression";
  ``model_name`` (str): the winning candidate's estimator; ``run_id`` (str);
  ``created`` (ISO 8601 str).
- ``data`` (dict): ``source`` (str), ``rows``, ``train_rows``, ``test_rows`` (int),
  ``fingerprint`` (str).
- ``selection_metric`` (str): the metric the winner was chosen by.
- ``leaderboard`` (list of dict), in the order to show, each::

      {"candidate": str, "estimator": str, "cv_mean": float, "cv_std": float,
       "test": {metric: float}, "best_params": dict, "fit_seconds": float,
       "is_winner": bool, "is_baseline": bool}

- ``test_metrics`` (dict metric -> float): the winner on the test set.
- ``threshold`` (float or None): the binary decision threshold used.
- ``confusion`` (``{"labels": [...], "matrix": [[int]]}`` or None).
- ``importance`` (list of ``(feature, mean, std)``), sorted; the first 20 are shown.
- ``gate`` (dict): ``{"passed": bool, "checks": [{"name", "actual", "required", "op",
  "passed", "detail"}]}``.
- ``registered`` (``{"name", "version", "aliases": [...]}`` or None).

Plots are a dict name -> PNG path (see :func:`mlctl.evaluate.plots.make_plots`). The
Markdown links them by path relative to the report; the HTML embeds them as base64
``data:`` URIs and uses inline CSS only -- no script, no external asset, no link --
and HTML-escapes every piece of text. Numbers: NaN and None render as "n/a", floats
with 4 decimals (4 significant digits below 0.001).
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from mlctl.evaluate.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

TOP_IMPORTANCE = 20
NA = "n/a"

PLOT_TITLES = {
    "roc": "ROC curve",
    "pr": "Precision-recall curve",
    "calibration": "Calibration",
    "confusion_matrix": "Confusion matrix",
    "importance": "Permutation importance",
    "residuals": "Residuals",
    "predicted_vs_actual": "Predicted vs actual",
}

_OPS = {">=": "≥", "<=": "≤", "!=": "≠", "==": "=", ">": ">", "<": "<"}
_MD_SPECIAL = "\\|<>*`[]"


# --------------------------------------------------------------------------- formatting


def fmt(value: Any) -> str:
    """A value as report text: NaN/None -> "n/a", floats with 4 decimals."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return NA
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0 or abs(value) >= 1e-3:
            return f"{value:.4f}"
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def _title(name: str) -> str:
    return PLOT_TITLES.get(name, name.replace("_", " ").capitalize())


def _metric_info(ctx: Mapping[str, Any], metric: str):
    table = REGRESSION_METRICS if ctx.get("task") == "regression" else CLASSIFICATION_METRICS
    return table.get(metric)


def _direction(ctx: Mapping[str, Any], metric: str) -> str:
    info = _metric_info(ctx, metric)
    if info is None:
        return ""
    return "higher is better" if info.greater_is_better else "lower is better"


def _op(op: Any) -> str:
    return _OPS.get(str(op), fmt(op))


def _check_mark(passed: Any) -> str:
    return "✓" if passed else "✗"


def _test_columns(ctx: Mapping[str, Any]) -> list[str]:
    """Test metric names: the winner's order first, then any other seen."""
    columns: list[str] = list((ctx.get("test_metrics") or {}).keys())
    for row in ctx.get("leaderboard") or []:
        for metric in row.get("test") or {}:
            if metric not in columns:
                columns.append(metric)
    return columns


def _rows_text(data: Mapping[str, Any]) -> str:
    rows = fmt(data.get("rows"))
    if data.get("train_rows") is None and data.get("test_rows") is None:
        return rows
    return f"{rows} (train {fmt(data.get('train_rows'))} / test {fmt(data.get('test_rows'))})"


def _registered_text(registered: Mapping[str, Any] | None) -> str:
    if not registered:
        return "not registered"
    text = f"{fmt(registered.get('name'))} version {fmt(registered.get('version'))}"
    aliases = registered.get("aliases") or []
    if aliases:
        text += f" (aliases: {', '.join(str(a) for a in aliases)})"
    return text


def _summary(ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    data = ctx.get("data") or {}
    metric = ctx.get("selection_metric")
    selection = fmt(metric)
    if metric and _direction(ctx, metric):
        selection += f" ({_direction(ctx, metric)})"
    rows = [
        ("Task", fmt(ctx.get("task"))),
        ("Model", fmt(ctx.get("model_name"))),
        ("Run id", fmt(ctx.get("run_id"))),
        ("Created", fmt(ctx.get("created"))),
        ("Data source", fmt(data.get("source"))),
        ("Rows", _rows_text(data)),
        ("Data fingerprint", fmt(data.get("fingerprint"))),
        ("Selection metric", selection),
    ]
    if ctx.get("task") != "regression":
        rows.append(("Decision threshold", fmt(ctx.get("threshold"))))
    rows.append(("Registered", _registered_text(ctx.get("registered"))))
    return rows


def _leaderboard_table(ctx: Mapping[str, Any]) -> tuple[list[str], list[list[str]], list[Any]]:
    """Header, rows of text and the source rows of the leaderboard."""
    columns = _test_columns(ctx)
    metric = ctx.get("selection_metric") or "score"
    header = ["#", "Candidate", "Estimator", f"CV {metric} (mean ± std)"]
    header += [f"Test {m}" for m in columns]
    header += ["Fit (s)", "Best params", "Notes"]
    rows: list[list[str]] = []
    source = list(ctx.get("leaderboard") or [])
    for rank, row in enumerate(source, start=1):
        test = row.get("test") or {}
        notes = [
            n for n, flag in (("winner", "is_winner"), ("baseline", "is_baseline")) if row.get(flag)
        ]
        rows.append(
            [
                str(rank),
                fmt(row.get("candidate")),
                fmt(row.get("estimator")),
                f"{fmt(row.get('cv_mean'))} ± {fmt(row.get('cv_std'))}",
                *[fmt(test.get(m)) for m in columns],
                fmt(row.get("fit_seconds")),
                fmt(row.get("best_params")) if row.get("best_params") else "—",
                ", ".join(notes),
            ]
        )
    return header, rows, source


def _gate_table(gate: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["Check", "Actual", "Op", "Required", "Result", "Detail"]
    rows = [
        [
            fmt(c.get("name")),
            fmt(c.get("actual")),
            _op(c.get("op")),
            fmt(c.get("required")),
            f"{_check_mark(c.get('passed'))} {'pass' if c.get('passed') else 'fail'}",
            fmt(c.get("detail")) if c.get("detail") not in (None, "") else "",
        ]
        for c in gate.get("checks") or []
    ]
    return header, rows


def _gate_verdict(gate: Mapping[str, Any] | None) -> str:
    if not gate:
        return "not evaluated"
    return "PASSED ✓" if gate.get("passed") else "FAILED ✗"


def _importance_rows(ctx: Mapping[str, Any]) -> list[list[str]]:
    rows = list(ctx.get("importance") or [])[:TOP_IMPORTANCE]
    return [[str(i), str(f), fmt(m), fmt(s)] for i, (f, m, s) in enumerate(rows, start=1)]


def _relative(path: Path, base_dir: Path | str | None) -> str:
    if base_dir is None:
        return path.name
    try:
        rel = os.path.relpath(Path(path).resolve(), Path(base_dir).resolve())
    except ValueError:  # another drive on Windows
        return path.name
    return Path(rel).as_posix()


# --------------------------------------------------------------------------- markdown


def _md(text: Any) -> str:
    """Text safe inside a Markdown table cell or heading."""
    out = str(text).replace("\r", " ").replace("\n", " ")
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in out)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(
    ctx: Mapping[str, Any],
    plots: Mapping[str, Path | str] | None = None,
    base_dir: Path | str | None = None,
) -> str:
    """The report as Markdown.

    ``plots`` (default ``ctx.get("plots")``) are linked by their path relative to
    ``base_dir`` (the report's folder), or by bare file name when it is None.
    """
    plots = plots if plots is not None else ctx.get("plots") or {}
    lines: list[str] = [f"# Model report: {_md(fmt(ctx.get('name')))}", ""]
    lines += _md_table(["Item", "Value"], _summary(ctx))

    gate = ctx.get("gate")
    lines += ["", f"## Gate verdict: {_gate_verdict(gate)}", ""]
    if gate and gate.get("checks"):
        lines += _md_table(*_gate_table(gate))
    elif gate:
        lines.append("No gate checks were configured.")
    else:
        lines.append("The promotion gate was not evaluated.")

    lines += ["", "## Leaderboard", ""]
    header, rows, _ = _leaderboard_table(ctx)
    lines += _md_table(header, rows) if rows else ["No candidates."]

    lines += ["", "## Test metrics (winner)", ""]
    test_metrics = ctx.get("test_metrics") or {}
    if test_metrics:
        lines += _md_table(
            ["Metric", "Value", "Direction"],
            [[m, fmt(v), _direction(ctx, m)] for m, v in test_metrics.items()],
        )
    else:
        lines.append("No test metrics.")
    if ctx.get("threshold") is not None:
        lines += ["", f"Decision threshold: {fmt(ctx.get('threshold'))}"]

    cm = ctx.get("confusion")
    if cm:
        labels = [str(label) for label in cm.get("labels") or []]
        lines += [
            "",
            "## Confusion matrix",
            "",
            "Rows: actual class; columns: predicted class.",
            "",
        ]
        lines += _md_table(
            ["actual \\ predicted", *labels],
            [
                [label, *[str(v) for v in row]]
                for label, row in zip(labels, cm.get("matrix") or [], strict=False)
            ],
        )

    importance = _importance_rows(ctx)
    if importance:
        lines += ["", f"## Feature importance (top {len(importance)})", ""]
        lines.append("Mean drop in the score when the column is shuffled (permutation importance).")
        lines.append("")
        lines += _md_table(["#", "Feature", "Mean", "Std"], importance)

    if plots:
        lines += ["", "## Plots", ""]
        for name, path in plots.items():
            target = quote(_relative(Path(path), base_dir))
            lines += [f"![{_md(_title(name))}]({target})", ""]
        lines.pop()
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- html

_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;
 margin:0;padding:24px 32px;color:#1f2328;background:#fff;line-height:1.45}
h1{font-size:1.6em;margin:0 0 16px}
h2{font-size:1.25em;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;font-size:0.9em;margin:4px 0}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.winner td{background:#eef7ee;font-weight:600}
.scroll{overflow-x:auto}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-size:0.85em}
.pass{background:#1a7f37}.fail{background:#cf222e}.na{background:#6e7781}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;border:1px solid #d0d7de;padding:8px;border-radius:6px}
figure img{max-width:560px;width:100%;height:auto;display:block}
figcaption{font-size:0.85em;color:#57606a;margin-top:4px}
.muted{color:#57606a}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _is_number_text(text: str) -> bool:
    try:
        float(text.replace("±", "").split()[0])
    except (ValueError, IndexError):
        return False
    return True


def _html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    row_classes: Sequence[str] | None = None,
    cell_html: bool = False,
) -> str:
    out = ['<div class="scroll"><table>', "<thead><tr>"]
    out += [f"<th>{_e(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        css = row_classes[i] if row_classes else ""
        out.append(f'<tr class="{_e(css)}">' if css else "<tr>")
        for cell in row:
            num = ' class="num"' if _is_number_text(cell) else ""
            out.append(f"<td{num}>{cell if cell_html else _e(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _data_uri(path: Path) -> str | None:
    try:
        payload = Path(path).read_bytes()
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(payload).decode("ascii")


def render_html(ctx: Mapping[str, Any], plots: Mapping[str, Path | str] | None = None) -> str:
    """The report as one self-contained HTML page (inline CSS, embedded PNGs)."""
    plots = plots if plots is not None else ctx.get("plots") or {}
    title = f"Model report: {fmt(ctx.get('name'))}"
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _html_table(["Item", "Value"], _summary(ctx)),
    ]

    gate = ctx.get("gate")
    if not gate:
        badge = '<span class="badge na">not evaluated</span>'
    elif gate.get("passed"):
        badge = '<span class="badge pass">PASSED ✓</span>'
    else:
        badge = '<span class="badge fail">FAILED ✗</span>'
    parts.append(f"<h2>Gate verdict {badge}</h2>")
    if gate and gate.get("checks"):
        header, rows = _gate_table(gate)
        cells = []
        for check, row in zip(gate.get("checks") or [], rows, strict=True):
            escaped = [_e(c) for c in row]
            css = "ok" if check.get("passed") else "bad"
            escaped[4] = f'<span class="{css}">{escaped[4]}</span>'
            cells.append(escaped)
        parts.append(_html_table(header, cells, cell_html=True))
    elif gate:
        parts.append('<p class="muted">No gate checks were configured.</p>')
    else:
        parts.append('<p class="muted">The promotion gate was not evaluated.</p>')

    parts.append("<h2>Leaderboard</h2>")
    header, rows, source = _leaderboard_table(ctx)
    if rows:
        classes = ["winner" if r.get("is_winner") else "" for r in source]
        parts.append(_html_table(header, rows, classes))
    else:
        parts.append('<p class="muted">No candidates.</p>')

    parts.append("<h2>Test metrics (winner)</h2>")
    test_metrics = ctx.get("test_metrics") or {}
    if test_metrics:
        parts.append(
            _html_table(
                ["Metric", "Value", "Direction"],
                [[m, fmt(v), _direction(ctx, m)] for m, v in test_metrics.items()],
            )
        )
    else:
        parts.append('<p class="muted">No test metrics.</p>')
    if ctx.get("threshold") is not None:
        parts.append(f"<p>Decision threshold: {_e(fmt(ctx.get('threshold')))}</p>")

    cm = ctx.get("confusion")
    if cm:
        labels = [str(label) for label in cm.get("labels") or []]
        parts.append("<h2>Confusion matrix</h2>")
        parts.append('<p class="muted">Rows: actual class; columns: predicted class.</p>')
        parts.append(
            _html_table(
                ["actual \\ predicted", *labels],
                [
                    [label, *[str(v) for v in row]]
                    for label, row in zip(labels, cm.get("matrix") or [], strict=False)
                ],
            )
        )

    importance = _importance_rows(ctx)
    if importance:
        parts.append(f"<h2>Feature importance (top {len(importance)})</h2>")
        parts.append(
            '<p class="muted">Mean drop in the score when the column is shuffled '
            "(permutation importance).</p>"
        )
        parts.append(_html_table(["#", "Feature", "Mean", "Std"], importance))

    if plots:
        parts.append('<h2>Plots</h2><div class="plots">')
        for name, path in plots.items():
            caption = _e(_title(name))
            uri = _data_uri(Path(path))
            if uri is None:
                parts.append(f'<p class="muted">Plot not found: {caption}</p>')
                continue
            parts.append(
                f'<figure><img alt="{caption}" src="{uri}"><figcaption>{caption}</figcaption></figure>'
            )
        parts.append("</div>")

    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_reports(
    ctx: Mapping[str, Any], plots: Mapping[str, Path | str] | None, out_dir: Path | str
) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` (secrets masked,
    :mod:`mlctl.redact`); return their paths."""
    from mlctl.redact import redact_tree

    ctx = redact_tree(dict(ctx))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = plots or {}
    md_path = out / "report.md"
    html_path = out / "report.html"
    md_path.write_text(render_markdown(ctx, plots, base_dir=out), encoding="utf-8")
    html_path.write_text(render_html(ctx, plots), encoding="utf-8")
    return md_path, html_path
