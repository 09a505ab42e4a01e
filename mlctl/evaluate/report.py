"""The model report, as Markdown and as one self-contained HTML file.

Both renderers take a plain ``ctx`` dict (missing keys render as "n/a" or leave their
section out, so a partial context still renders):

- ``name`` (str): the recipe/model name; ``task``: "classification" or "regression";
  ``model_name`` (str): the winning candidate's estimator; ``run_id`` (str);
  ``created`` (ISO 8601 str); ``mlctl_version`` (str).
- ``data`` (dict): ``source`` (str), ``files``, ``rows``, ``train_rows``, ``test_rows``
  (int), ``fingerprint`` (str).
- ``selection_metric`` (str): the metric the winner was chosen by.
- ``leaderboard`` (list of dict), in the order to show, each::

      {"candidate": str, "estimator": str, "cv_mean": float, "cv_std": float,
       "test": {metric: float}, "best_params": dict, "fit_seconds": float,
       "is_winner": bool, "is_baseline": bool, "error": str | None}

- ``test_metrics`` (dict metric -> float): the winner on the test set.
- ``threshold`` (float or None): the binary decision threshold used.
- ``confusion`` (``{"labels": [...], "matrix": [[int]]}`` or None).
- ``importance`` (list of ``(feature, mean, std)``), sorted; the first 20 are shown.
- ``gate`` (dict): ``{"passed": bool, "checks": [{"name", "actual", "required", "op",
  "passed", "detail"}]}``.
- ``registered`` (``{"name", "version", "aliases": [...]}`` or None).
- ``threshold_analysis``, ``calibration_step``, ``calibration``, ``lift``,
  ``segments``, ``learning_curve``, ``explanations``, ``recommendations``: optional,
  as described in docs/evaluation.md (issue 17's report contract). ``explanations``
  may also hold ``output`` (the unit of the SHAP values) and, per feature, ``inputs``
  (the raw columns it is computed from; listed when there are several).

Plots are a dict name -> PNG path (see :func:`mlctl.evaluate.plots.make_plots`), each
shown in its section (``roc``, ``pr``, ``residuals``, ``predicted_vs_actual`` with the
test metrics, ``threshold``, ``calibration``, ``gain`` and ``lift``, ``importance`` and
``shap``, ``learning_curve``); any other name under "Other plots". The confusion matrix
is shown once: as a table up to 10 classes, as its heat map beyond. The Markdown links
plots by path relative to the report; the HTML embeds them as base64 ``data:`` URIs and
uses inline CSS only -- no script, no external asset, no link -- HTML-escapes every
piece of text, and fits a 1,280 px wide window (long cells wrap; only a table with very
many columns scrolls, inside its own box). Numbers follow
:mod:`mlctl.evaluate.report_format`.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlctl.evaluate import report_sections
from mlctl.evaluate.report_blocks import (
    Block,
    Cell,
    Columns,
    Paragraph,
    Plots,
    Section,
    Table,
    cell,
)
from mlctl.evaluate.report_format import NA, fmt

__all__ = ["NA", "PLOT_TITLES", "fmt", "render_html", "render_markdown", "write_reports"]

PLOT_TITLES = {
    "roc": "ROC curve",
    "pr": "Precision-recall curve",
    "calibration": "Calibration",
    "confusion_matrix": "Confusion matrix",
    "importance": "Permutation importance",
    "shap": "SHAP: mean |SHAP| per input column",
    "residuals": "Residuals",
    "predicted_vs_actual": "Predicted vs actual",
    "threshold": "Metrics by decision threshold",
    "gain": "Cumulative gain",
    "lift": "Lift by decile",
    "learning_curve": "Learning curve",
}

_MD_SPECIAL = "\\|<>*`[]_"


def _title(name: str) -> str:
    return PLOT_TITLES.get(name, name.replace("_", " ").capitalize())


def _report_title(ctx: Mapping[str, Any]) -> str:
    return f"Model report: {fmt(ctx.get('name'))}"


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
    """Text safe inside a Markdown table cell or paragraph (underscores kept inside
    words, where no renderer reads them as emphasis)."""
    out = str(text).replace("\r", " ").replace("\n", " ")
    escaped = []
    for i, ch in enumerate(out):
        inner = 0 < i < len(out) - 1 and out[i - 1].isalnum() and out[i + 1].isalnum()
        if ch in _MD_SPECIAL and not (ch == "_" and inner):
            escaped.append("\\" + ch)
        else:
            escaped.append(ch)
    return "".join(escaped)


def _md_cell(value: Any) -> str:
    c = cell(value)
    if c.lines:
        text = "; ".join(c.lines)
    else:
        extra = [c.note] if c.note else []
        extra += list(c.tags)
        text = c.text + (f" ({'; '.join(extra)})" if extra else "")
    return _md(text)


def _md_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in table.header) + " |"]
    lines.append("|" + "|".join("---" for _ in table.header) + "|")
    for i, row in enumerate(table.rows):
        cells = [_md_cell(c) for c in row]
        if i < len(table.row_marks) and table.row_marks[i] == "winner" and cells:
            cells[1 if len(cells) > 1 else 0] = f"**{cells[1 if len(cells) > 1 else 0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md_blocks(
    blocks: Sequence[Block], plots: Mapping[str, Any], base_dir: Path | str | None
) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            prefix = "**Warning:** " if block.style == "warn" else ""
            lines += [prefix + _md(block.text), ""]
        elif isinstance(block, Table):
            lines += [*_md_table(block), ""]
        elif isinstance(block, Plots):
            for name in block.names:
                if name in plots:
                    target = quote(_relative(Path(plots[name]), base_dir))
                    lines += [f"![{_md(_title(name))}]({target})", ""]
        elif isinstance(block, Columns):
            for title, inner in block.columns:
                if title:
                    lines += [f"### {_md(title)}", ""]
                lines += _md_blocks(inner, plots, base_dir)
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
    lines: list[str] = [f"# {_md(_report_title(ctx))}", ""]
    for section in report_sections.build(ctx, plots):
        title = section.title + (f": {section.badge[0]}" if section.badge else "")
        lines += [f"## {_md(title)}", ""]
        lines += _md_blocks(section.blocks, plots, base_dir)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- html

_CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;
 margin:0;padding:20px 24px;color:#1f2328;background:#fff;line-height:1.45;font-size:15px}
main{max-width:1200px;margin:0 auto}
h1{font-size:1.6em;margin:0 0 12px}
h2{font-size:1.25em;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
h3{font-size:1.05em;margin:4px 0 8px}
p{margin:6px 0 10px;max-width:72em}
.tbl{overflow-x:auto;max-width:100%;margin:4px 0 12px}
table{border-collapse:collapse;font-size:0.9em}
table.board{font-size:0.84em}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top;
 overflow-wrap:break-word}
th{background:#f6f8fa;overflow-wrap:normal}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;
 overflow-wrap:normal}
table.facts td:first-child{white-space:nowrap;overflow-wrap:normal;font-weight:600}
tr.winner td{background:#eef7ee}
tr.winner td:nth-child(2) .main{font-weight:600}
tr.flagged td{background:#fff5e6}
.sub{color:#57606a;font-size:0.92em}
.tag{display:inline-block;margin-left:6px;padding:0 6px;border-radius:8px;font-size:0.85em;
 background:#ddf4ff;color:#0969da}
.lines{min-width:12em;max-width:24em}
.lines span{display:inline-block;margin-right:0.9em}
.badge{display:inline-block;padding:1px 10px;border-radius:12px;color:#fff;font-size:0.85em;
 vertical-align:middle}
.badge.ok{background:#1a7f37;color:#fff}.badge.bad{background:#cf222e;color:#fff}
.badge.na{background:#6e7781;color:#fff}
span.ok{color:#1a7f37;font-weight:600}span.bad{color:#cf222e;font-weight:600}
span.warn{color:#9a6700;font-weight:600}span.muted{color:#57606a}
p.muted{color:#57606a}p.warn{color:#9a6700;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:16px;margin:6px 0 12px}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:24px;
 align-items:start}
.cols>div{min-width:0}
figure{margin:0;border:1px solid #d0d7de;padding:8px;border-radius:6px;max-width:100%}
figure img{max-width:560px;width:100%;height:auto;display:block}
.cols figure img{max-width:100%}
figcaption{font-size:0.85em;color:#57606a;margin-top:4px}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _wbr(text: Any) -> str:
    """Escaped text that may break after an underscore or a dot (long names)."""
    out = _e(text)
    for ch in ("_", "."):
        out = out.replace(ch, ch + "<wbr>")
    return out


def _cell_html(value: Any) -> tuple[str, str]:
    """(the td's class attribute, its inner HTML)."""
    c: Cell = cell(value)
    if c.lines:
        return ' class="lines"', "".join(f"<span>{_wbr(line)}</span> " for line in c.lines)
    if c.numeric:
        return ' class="num"', _e(c.text)
    inner = f'<span class="{_e(c.mark or "main")}">{_wbr(c.text)}</span>'
    inner += "".join(f'<span class="tag">{_e(t)}</span>' for t in c.tags)
    if c.note:
        inner += f'<div class="sub">{_wbr(c.note)}</div>'
    return "", inner


def _html_table(table: Table) -> str:
    css = f' class="{_e(table.css)}"' if table.css else ""
    out = [f'<div class="tbl"><table{css}>', "<thead><tr>"]
    out += [f"<th>{_wbr(h)}</th>" for h in table.header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(table.rows):
        mark = table.row_marks[i] if i < len(table.row_marks) else ""
        out.append(f'<tr class="{_e(mark)}">' if mark else "<tr>")
        for value in row:
            attr, inner = _cell_html(value)
            out.append(f"<td{attr}>{inner}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _data_uri(path: Path) -> str | None:
    try:
        payload = Path(path).read_bytes()
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(payload).decode("ascii")


def _html_plots(names: Sequence[str], plots: Mapping[str, Any]) -> str:
    figures = []
    for name in names:
        if name not in plots:
            continue
        caption = _e(_title(name))
        uri = _data_uri(Path(plots[name]))
        if uri is None:
            figures.append(f'<p class="muted">Plot not found: {caption}</p>')
            continue
        figures.append(
            f'<figure id="plot-{_e(name)}"><img alt="{caption}" src="{uri}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return f'<div class="plots">{"".join(figures)}</div>' if figures else ""


def _html_blocks(blocks: Sequence[Block], plots: Mapping[str, Any]) -> list[str]:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            css = f' class="{_e(block.style)}"' if block.style else ""
            parts.append(f"<p{css}>{_e(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(_html_table(block))
        elif isinstance(block, Plots):
            parts.append(_html_plots(block.names, plots))
        elif isinstance(block, Columns):
            parts.append('<div class="cols">')
            for title, inner in block.columns:
                heading = f"<h3>{_e(title)}</h3>" if title else ""
                parts.append(f"<div>{heading}{''.join(_html_blocks(inner, plots))}</div>")
            parts.append("</div>")
    return parts


def _html_section(section: Section, plots: Mapping[str, Any]) -> str:
    badge = ""
    if section.badge:
        text, mark = section.badge
        badge = f' <span class="badge {_e(mark)}">{_e(text)}</span>'
    body = "".join(_html_blocks(section.blocks, plots))
    return f'<section id="{_e(section.key)}"><h2>{_e(section.title)}{badge}</h2>{body}</section>'


def render_html(ctx: Mapping[str, Any], plots: Mapping[str, Path | str] | None = None) -> str:
    """The report as one self-contained HTML page (inline CSS, embedded PNGs)."""
    plots = plots if plots is not None else ctx.get("plots") or {}
    title = _report_title(ctx)
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
    ]
    parts += [_html_section(s, plots) for s in report_sections.build(ctx, plots)]
    parts.append("</main></body></html>")
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
