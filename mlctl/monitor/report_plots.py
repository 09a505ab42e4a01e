"""The plots of the monitoring report, as inline SVG markup (see :mod:`mlctl.monitor.report`).

Each function takes plain data from the result document and returns an ``<svg>``
element to paste into the page, or None when there is nothing to draw. matplotlib
renders with its SVG backend: text stays text (``svg.fonttype: none``, so it is small,
selectable and never a web font), the XML prolog, namespaces and metadata are
dropped (the page holds no URL at all), and element ids get a prefix taken from the
figure's own bytes, so several figures in one page never share an id and the same
data always gives the same markup.

Callers wrap the calls in ``matplotlib.rc_context(RC)``.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mlctl.monitor.report_html import as_list, as_map, is_num  # noqa: E402

REF_COLOR, CUR_COLOR, LINE = "#8c959f", "#0969da", "#cf222e"
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "svg.hashsalt": "0",
    "svg.fonttype": "none",
}
_META = {"Date": None, "Creator": None, "Format": None, "Type": None}
_ID = re.compile(r'\bid="([^"]+)"')
HOUR, DAY = 3600, 86400


# --------------------------------------------------------------------------- helpers


def _numbers(values: Any) -> np.ndarray:
    return np.array([v if is_num(v) else 0.0 for v in as_list(values)], dtype=float)


def label(text: Any, limit: int = 24) -> str:
    """Text safe for matplotlib (no math markup) and short enough for a tick."""
    out = str(text).replace("\n", " ")
    out = out if len(out) <= limit else out[: limit - 1] + "…"
    return out.replace("$", r"\$")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasSVG(fig)
    return fig


def svg(fig: Figure, title: str, **margins: float) -> str:
    """The figure as an inline ``<svg>`` element (fixed margins: tight_layout is slow)."""
    fig.subplots_adjust(**{"left": 0.12, "right": 0.97, "top": 0.88, "bottom": 0.14, **margins})
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=_META)
    fig.clear()
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text, count=2)
    prefix = "s" + hashlib.sha1(text.encode()).hexdigest()[:8] + "-"
    ids = set(_ID.findall(text))
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(
        r"(href=\"#|url\(#)([^\")]+)",
        lambda m: m.group(1) + (prefix + m.group(2) if m.group(2) in ids else m.group(2)),
        text,
    )
    safe = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    head, rest = text.split(">", 1)
    return f'{head} role="img"><title>{safe}</title>{rest.strip()}'


# --------------------------------------------------------------------------- distributions


def histogram_svg(column: Mapping[str, Any], small: bool = True) -> str | None:
    """Reference vs current shares of one column: side-by-side bars for categories,
    the reference filled and the current as a line for numeric bins."""
    hist = as_map(column.get("histogram"))
    ref, cur = _numbers(hist.get("reference")), _numbers(hist.get("current"))
    edges, labels = as_list(hist.get("edges")), as_list(hist.get("labels"))
    name = str(column.get("column"))
    fig = _figure(3.9, 2.5) if small else _figure(5.0, 2.5)
    ax = fig.add_subplot()
    title = label(name, 40)
    if column.get("drifted"):
        title += " (drifted)"
    ax.set_title(title, color=LINE if column.get("drifted") else "#1f2328")
    bottom = 0.14
    if labels and len(labels) == len(ref) == len(cur):
        x = np.arange(len(labels))
        ax.bar(x - 0.2, ref, 0.4, color=REF_COLOR, label="reference")
        ax.bar(x + 0.2, cur, 0.4, color=CUR_COLOR, label="current")
        ticks = [label(s, 16) for s in labels]
        widest = max(len(t) for t in ticks)
        rotated = len(labels) > 4 or widest > 7
        ax.set_xticks(
            x,
            ticks,
            rotation=35 if rotated else 0,
            ha="right" if rotated else "center",
            fontsize=7,
        )
        bottom = min(0.45, 0.12 + 0.022 * widest) if rotated else 0.14
    elif edges and len(edges) == len(ref) + 1 == len(cur) + 1 and all(map(is_num, edges)):
        e = np.asarray(edges, dtype=float)
        ax.stairs(ref, e, fill=True, color=REF_COLOR, alpha=0.55, label="reference")
        ax.stairs(cur, e, color=CUR_COLOR, lw=1.8, label="current")
        ax.tick_params(axis="x", labelsize=7)
    else:
        fig.clear()
        return None
    ax.set_ylabel("share", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    if not small:  # small multiples share the legend written above them
        ax.legend(fontsize=7, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return svg(fig, f"{name}: reference vs current", left=0.16, bottom=bottom)


# --------------------------------------------------------------------------- performance


def series_svg(
    points: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
    min_labels: Any,
    bucket_seconds: Any,
) -> str:
    """Production metrics per bucket (lines, dashed at training), labelled rows as bars."""
    fig = _figure(8.0, 3.0)
    ax = fig.add_subplot()
    x = np.arange(len(points))
    counts = _numbers([p.get("n_evaluated") for p in points])
    bars = ax.twinx()
    bars.bar(x, counts, 0.6, color=REF_COLOR, alpha=0.35)
    bars.set_ylabel("labelled rows", color="#57606a")
    ax.set_zorder(bars.get_zorder() + 1)
    ax.patch.set_visible(False)
    names = list(metrics) or sorted({k for p in points for k in as_map(p.get("metrics"))})
    colors = matplotlib.colormaps["tab10"].colors
    for i, name in enumerate(names[:8]):
        color = colors[i % len(colors)]
        y = [as_map(p.get("metrics")).get(name) for p in points]
        values = np.array([v if is_num(v) else np.nan for v in y], dtype=float)
        ax.plot(x, values, marker="o", ms=6 if len(points) == 1 else 4, color=color,
                label=label(name))  # fmt: skip
        trained = as_map(metrics.get(name)).get("trained")
        if is_num(trained):
            ax.axhline(trained, color=color, ls="--", lw=1, alpha=0.7)
    daily = is_num(bucket_seconds) and bucket_seconds % DAY == 0
    ticks = [_tick(p, daily) for p in points]
    step = max(1, len(points) // 10)
    ax.set_xticks(x[::step], [label(t) for t in ticks[::step]], fontsize=7)
    ax.set_xlim(-0.6, len(points) - 0.4)
    ax.set_ylabel("metric (dashed: at training)")
    per = "day" if bucket_seconds == DAY else "bucket"
    title = f"Production metrics per {per}"
    if is_num(min_labels):
        title += f" (none below {int(min_labels)} labels)"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if names:
        ax.legend(fontsize=7, frameon=False, loc="lower left", ncol=min(4, len(names)))
    return svg(fig, title, left=0.08, right=0.91, bottom=0.12)


def _tick(point: Mapping[str, Any], daily: bool) -> str:
    start = point.get("start")
    if is_num(start):
        return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d" if daily else "%m-%d %H:%M")
    return str(point.get("start_utc") or "")[: 10 if daily else 16]


# --------------------------------------------------------------------------- volume


def known_hours(hourly: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(hour, count) from the first hour with a history on ("no history" hours dropped)."""
    pairs = [(float(h["hour"]), h.get("count")) for h in hourly if is_num(h.get("hour"))]
    first = next((i for i, (_, c) in enumerate(pairs) if is_num(c)), len(pairs))
    return [(h, float(c) if is_num(c) else 0.0) for h, c in pairs[first:]]


def volume_svg(
    hours: Sequence[tuple[float, float]],
    vol: Mapping[str, Any],
    recent: Mapping[str, Any],
    base: Mapping[str, Any],
    limits: Mapping[str, Any],
) -> str:
    """Predictions per hour since the history starts, recent window and limits marked."""
    fig = _figure(8.0, 2.9)
    ax = fig.add_subplot()
    start = hours[0][0]
    x = np.array([(h - start) / HOUR for h, _ in hours])
    counts = np.array([c for _, c in hours])
    end = x[-1] + 1
    if len(hours) <= 72:
        ax.bar(x + 0.5, counts, 0.85, color=REF_COLOR, lw=0, label="predictions")
    else:  # one artist, not a bar per hour: 10x faster
        ax.stairs(counts, np.append(x, end), fill=True, color=REF_COLOR, lw=0)
    split = recent.get("start")
    if is_num(split):
        s = max(0.0, (split - start) / HOUR)
        ax.axvspan(s, end, color=CUR_COLOR, alpha=0.08, lw=0, label="recent window")
        rate = recent.get("per_hour")
        if is_num(rate):
            ax.hlines(rate, s, end, color=CUR_COLOR, lw=2, label=f"recent {rate:.1f}/h")
    rate = base.get("per_hour")
    top = float(counts.max()) if len(counts) else 0.0
    if is_num(rate):
        ax.axhline(rate, color="#1f2328", ls="--", lw=1, label=f"baseline {rate:.1f}/h")
        drop = limits.get("max_drop_share")
        if is_num(drop):
            ax.axhline(rate * (1 - drop), color=LINE, ls=":", lw=1.2, label="drop limit")
        spike = limits.get("max_spike_factor")
        if is_num(spike) and (rate * spike <= top * 1.3 or vol.get("status") == "spike"):
            ax.axhline(rate * spike, color=LINE, ls="-.", lw=1.2, label="spike limit")
    n = len(hours)
    step = 1 if n <= 12 else int(math.ceil(n / 8 / 6)) * 6
    ticks = list(range(0, n, step))
    ax.set_xticks(
        [x[i] for i in ticks],
        [datetime.fromtimestamp(hours[i][0], UTC).strftime("%m-%d %H:%M") for i in ticks],
        fontsize=7,
    )
    ax.set_xlim(0, end)
    ax.set_ylim(0, max(ax.get_ylim()[1], 1.0) * 1.25)  # room for the legend
    ax.set_ylabel("predictions per hour")
    title = "Predictions per hour (UTC)"
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, frameon=False, loc="upper left", ncol=6)
    ax.grid(axis="y", alpha=0.3)
    return svg(fig, title, left=0.08, right=0.98, bottom=0.12)


def daily_volume_svg(hours: Sequence[tuple[float, float]]) -> str | None:
    """Predictions per UTC day (None when the history is within one day)."""
    days: dict[int, float] = {}
    for h, c in hours:
        day = int(h // DAY * DAY)
        days[day] = days.get(day, 0.0) + c
    if len(days) < 2:
        return None
    keys = sorted(days)
    fig = _figure(8.0, 2.2)
    ax = fig.add_subplot()
    x = np.arange(len(keys))
    ax.bar(x, [days[k] for k in keys], 0.7, color=REF_COLOR)
    partial = [i for i, k in enumerate(keys) if sum(1 for h, _ in hours if k <= h < k + DAY) < 24]
    for i in partial:
        ax.bar(i, days[keys[i]], 0.7, color="none", edgecolor=CUR_COLOR, hatch="//", lw=0.8)
    step = max(1, len(keys) // 12)
    ax.set_xticks(
        x[::step],
        [datetime.fromtimestamp(k, UTC).strftime("%m-%d") for k in keys[::step]],
        fontsize=7,
    )
    ax.set_ylabel("predictions per day", fontsize=8)
    title = (
        "Predictions per day (UTC; hatched: part of a day)"
        if partial
        else "Predictions per day (UTC)"
    )
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return svg(fig, title, left=0.08, right=0.98, bottom=0.14)
