"""The HTML and text pieces every section of the monitoring report is made of
(:mod:`mlctl.monitor.report`): the page's CSS, escaped text, values as report text
("n/a" for a missing one), tables, badges and lists."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

NA = "n/a"
NOT_COMPUTED = "not computed"

CSS = """
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


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def fmt(value: Any) -> str:
    """A number as monitoring-report text: 4 decimals, but 4 significant digits for a
    non-zero value below 0.001, so that a p-value of 5.8e-54 is not shown as 0."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4g}"
    return str(value)


def value_text(value: Any) -> str:
    """A value as report text ("n/a" for None and NaN)."""
    if isinstance(value, Mapping | list) and value and not isinstance(value, str):
        return json.dumps(value, sort_keys=True, default=str)
    return fmt(value)


def short(value: Any) -> str:
    """A rate or factor, short: 38.08, 118, 3."""
    return f"{value:.4g}" if is_num(value) else NA


def rate(value: Any) -> str:
    return f"{value:.4g}/h" if is_num(value) else NA


def share(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return NA
    return f"{100 * value:.1f} %"


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds <= 0:
        return NA
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g} s"


def utc(value: Any) -> str:
    """An epoch or ISO time as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, str) and value:
        return value.replace("T", " ").replace("Z", " UTC").replace("+00:00", " UTC")
    return NA


def is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    classes: Sequence[str] = (),
    align_numbers: bool = True,
) -> str:
    """A table of escaped text; a cell given as ``("html", markup)`` is inserted as is."""
    out = ['<div class="scroll"><table><thead><tr>']
    out += [f"<th>{esc(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        css = classes[i] if i < len(classes) and classes[i] else ""
        out.append(f'<tr class="{esc(css)}">' if css else "<tr>")
        for cell in row:
            if isinstance(cell, tuple) and len(cell) == 2 and cell[0] == "html":
                out.append(f"<td>{cell[1]}</td>")
            else:
                num = ' class="num"' if align_numbers and is_num(cell) else ""
                out.append(f"<td{num}>{esc(value_text(cell))}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def badge(text: str, css: str) -> str:
    return f'<span class="badge {css}">{esc(text)}</span>'


def status_badge(status: Any) -> str:
    css = {"healthy": "pass", "attention": "fail", "not_enough_data": "na"}.get(str(status), "na")
    return badge(str(status) if status else "unknown", css)


def verdict_cell(flag: bool | None, yes: str, no: str) -> tuple[str, str]:
    return ("html", badge(yes, "fail")) if flag else ("html", badge(no, "pass"))


def not_computed(what: str) -> str:
    return f'<p class="muted">{esc(what)}: {NOT_COMPUTED}.</p>'


def bullets(lines: Any, css: str = "reasons") -> str:
    """The document's reasons or notes as a list ('' when there are none)."""
    items = [line for line in as_list(lines) if line not in (None, "")]
    if not items:
        return ""
    lis = "".join(f"<li>{esc(line)}</li>" for line in items)
    return f'<ul class="{css}">{lis}</ul>'


def check_badge(section: Mapping[str, Any]) -> tuple[str, str]:
    status = str(section.get("status") or "unknown")
    if section.get("flagged"):
        css = "fail"
    elif status == "ok":
        css = "pass"
    elif status in ("not_enough_labels", "not_enough_history"):
        css = "warn"
    else:
        css = "na"
    return ("html", badge(status.replace("_", " "), css))
