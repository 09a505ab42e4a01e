"""The self-contained HTML report of ``mlctl compare``: the verdict, one row per metric
with both versions' intervals and the difference's, and a small inline SVG of the
difference intervals. No script, no external file (it opens offline); the pieces
(CSS, escaping, tables, badges) are the monitoring report's
(:mod:`mlctl.monitor.report_html`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlctl.errors import UsageError
from mlctl.monitor.report_html import CSS, NA, badge, bullets, esc, is_num, table, utc

_VERDICT_CSS = {"better": "pass", "worse": "fail", "unknown": "na"}


def _interval(e: Mapping[str, Any], signed: bool = False) -> str:
    v, lo, hi = e.get("value"), e.get("low"), e.get("high")
    if not is_num(v):
        return NA
    f = "{:+.3f}" if signed else "{:.3f}"
    text = f.format(v)
    if is_num(lo) and is_num(hi):
        text += f" [{f.format(lo)}, {f.format(hi)}]"
    return text


def _threshold(th: Mapping[str, Any] | None) -> str:
    """``>= 0.8 (✓ / ✗)``: whether the champion's and the challenger's values meet it."""
    if not th:
        return ""
    mark = {True: "✓", False: "✗", None: "?"}
    return f"{th['op']} {th['value']} ({mark[th['champion']]} / {mark[th['challenger']]})"


def _plot(metrics: list[Mapping[str, Any]]) -> str:
    """The difference intervals on a shared axis centred on zero (better to the right)."""
    rows = []
    for m in metrics:
        d = m["difference"]
        if not (is_num(d.get("low")) and is_num(d.get("high"))):
            continue
        flip = 1 if m["greater_is_better"] else -1  # drawn as "gain"
        lo, hi = sorted((flip * d["low"], flip * d["high"]))
        rows.append((m["name"], lo, flip * d["value"], hi, m["verdict"]))
    if not rows:
        return ""
    span = max(max(abs(r[1]), abs(r[3])) for r in rows) or 1.0
    width, left, row_h = 560, 140, 26
    scale = (width - left - 20) / (2 * span)
    zero = left + (width - left - 20) / 2
    height = row_h * len(rows) + 30
    colour = {"better": "#1a7f37", "worse": "#cf222e"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="difference intervals">',
        f'<line x1="{zero:.1f}" y1="4" x2="{zero:.1f}" y2="{height - 20}" stroke="#6e7781" '
        'stroke-dasharray="3,3"/>',
        f'<text x="{zero:.1f}" y="{height - 6}" font-size="11" text-anchor="middle">0</text>',
        f'<text x="{width - 20}" y="{height - 6}" font-size="11" text-anchor="end">'
        "challenger better →</text>",
    ]
    for i, (name, lo, mid, hi, verdict) in enumerate(rows):
        y = 16 + i * row_h
        c = colour.get(verdict, "#57606a")
        parts.append(f'<text x="4" y="{y + 4}" font-size="12">{esc(name)}</text>')
        parts.append(
            f'<line x1="{zero + lo * scale:.1f}" y1="{y}" x2="{zero + hi * scale:.1f}" '
            f'y2="{y}" stroke="{c}" stroke-width="3"/>'
        )
        parts.append(f'<circle cx="{zero + mid * scale:.1f}" cy="{y}" r="4" fill="{c}"/>')
    parts.append("</svg>")
    caption = (
        "Difference (challenger − champion), oriented so that right is better, with its "
        "confidence interval."
    )
    return f"<figure>{''.join(parts)}<figcaption>{caption}</figcaption></figure>"


def render_report(doc: Mapping[str, Any]) -> str:
    """The report of one comparison document (:meth:`Comparison.to_dict`)."""
    a, b = doc["champion"], doc["challenger"]
    pct = round(100 * (1 - float(doc.get("alpha") or 0.05)))
    verdict = doc.get("verdict", "unknown")
    head = badge(verdict if doc.get("status") == "compared" else doc.get("status", ""), "na")
    if doc.get("status") == "compared":
        text = "not yet known" if verdict == "unknown" else f"challenger {verdict}"
        head = badge(text, _VERDICT_CSS.get(verdict, "na"))
    w = doc.get("window") or {}
    summary = table(
        ["", "champion", "challenger"],
        [
            ["version", a.get("version") or NA, b.get("version") or NA],
            ["rows in the window", a.get("rows", 0), b.get("rows", 0)],
            ["labelled rows", a.get("labelled", 0), b.get("labelled", 0)],
            ["rows compared", a.get("evaluated", 0), b.get("evaluated", 0)],
        ],
    )
    rows = []
    for m in doc.get("metrics", []):
        need = m.get("needed_per_version")
        th = m.get("threshold")
        rows.append(
            [
                m["name"] + (" (selection)" if m["name"] == doc.get("selection_metric") else ""),
                _interval(m["champion"]),
                _interval(m["challenger"]),
                _interval(m["difference"], signed=True),
                f"{m['p_value']:.3g}" if is_num(m.get("p_value")) else NA,
                ("html", badge(m["verdict"], _VERDICT_CSS.get(m["verdict"], "na"))),
                f"{need['champion']:,} / {need['challenger']:,}" if need else NA,
                _threshold(th),
                m["method"].replace("_", " "),
            ]
        )
    metrics = (
        table(
            [
                "metric",
                f"champion [{pct} % CI]",
                f"challenger [{pct} % CI]",
                "difference",
                "p-value",
                "verdict",
                "rows needed (power 0.8)",
                "threshold (champion / challenger)",
                "method",
            ],
            rows,
        )
        if rows
        else '<p class="muted">No metric compared.</p>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>mlctl compare: {esc(doc.get('model', ''))}</title>"
        f"<style>{CSS}td{{white-space:nowrap}}</style></head><body>"
        f"<h1>{esc(doc.get('model', ''))}: champion against challenger {head}</h1>"
        f"<p>{esc(doc.get('message', ''))}</p>"
        f'<p class="muted">Traffic: {esc(doc.get("mode") or "none")} · window '
        f"{esc(utc(w.get('start_utc')))} .. {esc(utc(w.get('end_utc')))} · log "
        f"{esc(doc.get('log', ''))} · generated {esc(utc(doc.get('generated_at')))}</p>"
        + summary
        + "<h2>Metrics</h2>"
        + metrics
        + _plot(doc.get("metrics", []))
        + ("<h2>Notes</h2>" + bullets(doc.get("notes")) if doc.get("notes") else "")
        + "</body></html>\n"
    )


def write_report(doc: Mapping[str, Any], path: Path) -> Path:
    """Write the report atomically (a temporary file and a rename).

    Raises:
        UsageError: the folder cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".compare-", suffix=".html", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render_report(doc))
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"--report: cannot write {path}: {exc.strerror or exc}") from None
    return path.resolve()
