"""The drift sections of the monitoring report (:mod:`mlctl.monitor.report`): data
drift and prediction drift, a table row per column and the reference vs current plots.

Reference vs current distributions are drawn for up to :data:`MAX_COLUMN_PLOTS`
columns, drifted ones first; the table lists every column (drifted first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlctl.monitor import report_plots as plots
from mlctl.monitor.report_html import (
    NA,
    as_list,
    as_map,
    esc,
    is_num,
    not_computed,
    share,
    table,
    value_text,
    verdict_cell,
)
from mlctl.recipe.schema import P_VALUE_TESTS

MAX_COLUMN_PLOTS = 24  # about 1.5 s of plotting on 2 cores; the table lists the rest


def columns_of(section: Any) -> list[Mapping[str, Any]] | None:
    """Column results of a DriftResult or of a single ColumnDrift; None when absent."""
    if not isinstance(section, Mapping):
        return None
    if "columns" in section:
        return [c for c in as_list(section.get("columns")) if isinstance(c, Mapping)]
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
        test = value_text(c.get("test"))
        if c.get("approximate"):
            test += " ≈"
        if c.get("band"):
            test += f" ({c.get('band')})"
        new = as_list(c.get("new_categories"))
        n_new = c.get("n_new_categories")
        n_new = int(n_new) if is_num(n_new) else len(new)
        new_text = ""
        if n_new:
            new_text = ", ".join(map(str, new)) + (
                f" (+{n_new - len(new)} more)" if n_new > len(new) else ""
            )
        missing = f"{share(c.get('cur_missing_share'))} (ref {share(c.get('ref_missing_share'))})"
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
    if not is_num(threshold):
        return NA
    test = column.get("test")
    if test in P_VALUE_TESTS:
        return f"p {'≤' if test == 'ks' else '<'} {threshold:g}"
    return f"≥ {threshold:g}" if test else value_text(threshold)


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


def drift_section(drift: Any) -> str:
    parts = ["<h2>Data drift</h2>"]
    if not isinstance(drift, Mapping):
        return parts[0] + not_computed("Data drift")
    columns = _order(columns_of(drift) or [])
    verdict = verdict_cell(drift.get("dataset_drift"), "dataset drift", "no dataset drift")[1]
    parts.append(
        f"<p>{verdict} {esc(value_text(drift.get('n_drifted')))} of "
        f"{esc(value_text(drift.get('n_tested')))} tested columns drifted "
        f"(<b>{esc(share(drift.get('share_drifted')))}</b>); the dataset drifts at "
        f"{esc(share(drift.get('drift_share')))} or more. "
        f"{esc(value_text(drift.get('n_untested')))} not tested; "
        f"{esc(value_text(drift.get('rows')))} current rows.</p>"
    )
    ignored = as_list(drift.get("ignored_columns"))
    if ignored:
        parts.append(
            f'<p class="muted">Not in the reference profile, ignored: '
            f"{esc(', '.join(map(str, ignored)))}</p>"
        )
    if columns:
        rows, classes = _column_rows(columns)
        parts.append(table(_COLUMN_HEADER, rows, classes))
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
    plotted = [c for c in columns if as_map(c.get("histogram"))]
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


def prediction_section(section: Any) -> str:
    head = "<h2>Prediction drift</h2>"
    columns = columns_of(section)
    if columns is None:
        return head + not_computed("Prediction drift")
    if not columns:
        return head + '<p class="muted">No score or prediction column was tested.</p>'
    rows, classes = _column_rows(columns)
    parts = [head, table(_COLUMN_HEADER, rows, classes)]
    with_data = [c for c in columns if as_map(c.get("histogram"))]
    parts.append(_figures([(c, plots.histogram_svg(c, small=False)) for c in with_data]))
    return "".join(parts)


def _figures(items: Sequence[tuple[Mapping[str, Any], str | None]]) -> str:
    out = ['<div class="plots">']
    for column, markup in items:
        name = value_text(column.get("column"))
        if markup is None:
            out.append(f'<p class="muted">No distribution to plot for {esc(name)}.</p>')
            continue
        caption = f"{name}: {value_text(column.get('test'))} {value_text(column.get('statistic'))}"
        if column.get("p_value") is not None:
            caption += f", p = {value_text(column.get('p_value'))}"
        out.append(
            f'<figure data-column="{esc(name)}">{markup}<figcaption>{esc(caption)}</figcaption>'
            "</figure>"
        )
    out.append("</div>")
    return "".join(out)
