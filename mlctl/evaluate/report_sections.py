"""The model report's sections, built from the report context, in reading order.

Summary and recommendations first, then the leaderboard, the winner's test metrics,
the decision threshold, calibration, lift and gain, segments, explanations,
the learning curve, the gate and the data. A section whose context key is missing is
left out; a None value reads "n/a". Numbers follow :mod:`mlctl.evaluate.report_format`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlctl.evaluate import report_format as nf
from mlctl.evaluate.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from mlctl.evaluate.report_blocks import Block, Cell, Columns, Paragraph, Plots, Section, Table

TOP_FEATURES = 20
CONFUSION_TABLE_MAX_CLASSES = 10  # more classes: the heat map only (a table too wide)

_OPS = {">=": "≥", "<=": "≤", "!=": "≠", "==": "=", ">": ">", "<": "<"}
_THRESHOLD_METRICS = ("precision", "recall", "f1", "specificity", "cost")


def direction(ctx: Mapping[str, Any], metric: Any) -> str:
    table = REGRESSION_METRICS if ctx.get("task") == "regression" else CLASSIFICATION_METRICS
    info = table.get(str(metric))
    if info is None:
        return ""
    return "higher is better" if info.greater_is_better else "lower is better"


def _with_direction(ctx: Mapping[str, Any], metric: Any) -> str:
    way = direction(ctx, metric)
    return f"{nf.fmt(metric)} ({way})" if way else nf.fmt(metric)


def _winner(ctx: Mapping[str, Any]) -> Mapping[str, Any]:
    return next((r for r in ctx.get("leaderboard") or [] if r.get("is_winner")), {})


def _gate_badge(gate: Mapping[str, Any] | None) -> tuple[str, str]:
    if not gate:
        return "not evaluated", "na"
    return ("PASSED ✓", "ok") if gate.get("passed") else ("FAILED ✗", "bad")


def _registered(registered: Mapping[str, Any] | None) -> str:
    if not registered:
        return "not registered"
    text = f"{nf.fmt(registered.get('name'))} version {nf.count(registered.get('version'))}"
    aliases = registered.get("aliases") or []
    return text + (f" (aliases: {', '.join(str(a) for a in aliases)})" if aliases else "")


def _threshold_text(ctx: Mapping[str, Any]) -> str | None:
    analysis = ctx.get("threshold_analysis")
    if analysis:
        return f"{nf.score(analysis.get('chosen'))} ({nf.fmt(analysis.get('method'))})"
    if ctx.get("task") == "regression" or ctx.get("threshold") is None:
        return None  # a regression, or a multiclass model: no threshold
    return nf.score(ctx.get("threshold"))


def summary(ctx: Mapping[str, Any]) -> Section:
    metric = ctx.get("selection_metric")
    win = _winner(ctx)
    scores = []
    if win:
        scores.append(f"CV {nf.mean_std(win.get('cv_mean'), win.get('cv_std'))}")
    if metric in (ctx.get("test_metrics") or {}):
        scores.append(f"test {nf.score(ctx['test_metrics'][metric])}")
    selection = _with_direction(ctx, metric) + (": " + ", ".join(scores) if scores else "")
    badge, mark = _gate_badge(ctx.get("gate"))
    rows: list[list[Any]] = [
        ["Model", nf.fmt(ctx.get("model_name"))],
        ["Task", nf.fmt(ctx.get("task"))],
        ["Selection metric", selection],
        ["Gate", Cell(badge, mark=mark)],
        ["Registered", _registered(ctx.get("registered"))],
    ]
    threshold = _threshold_text(ctx)
    if threshold is not None:
        rows.append(["Decision threshold", threshold])
    rows += [["Run id", nf.fmt(ctx.get("run_id"))], ["Created", nf.fmt(ctx.get("created"))]]
    return Section("summary", "Summary", [Table(["Item", "Value"], rows, css="facts")])


def recommendations(ctx: Mapping[str, Any]) -> Section | None:
    items = ctx.get("recommendations")
    if items is None:
        return None
    if not items:
        return Section("recommendations", "Recommendations", [Paragraph("Nothing to recommend.")])
    rows, marks = [], []
    for item in items:
        warn = item.get("severity") == "warn"
        rows.append(
            [
                Cell("⚠ warn" if warn else "ℹ info", mark="warn" if warn else "muted"),
                nf.fmt(item.get("topic")),
                nf.fmt(item.get("text")),
                nf.fmt(item.get("figure")),
            ]
        )
        marks.append("flagged" if warn else "")
    header = ["Severity", "Topic", "Recommendation", "Based on"]
    return Section("recommendations", "Recommendations", [Table(header, rows, marks)])


def _test_columns(ctx: Mapping[str, Any]) -> list[str]:
    """The selection metric first, then the winner's order, then any other seen."""
    columns: list[str] = list((ctx.get("test_metrics") or {}).keys())
    for row in ctx.get("leaderboard") or []:
        columns += [m for m in row.get("test") or {} if m not in columns]
    metric = ctx.get("selection_metric")
    if metric in columns:
        columns.remove(metric)
        columns.insert(0, metric)
    return columns


def leaderboard(ctx: Mapping[str, Any]) -> Section:
    board = list(ctx.get("leaderboard") or [])
    if not board:
        return Section("leaderboard", "Leaderboard", [Paragraph("No candidates.", "muted")])
    columns = _test_columns(ctx)
    metric = ctx.get("selection_metric") or "score"
    header = ["#", "Candidate", f"CV {metric}"] + [f"Test {m}" for m in columns]
    header += ["Fit (s)", "Best params"]
    rows, marks = [], []
    for rank, row in enumerate(board, start=1):
        tags = tuple(
            t for t, key in (("winner", "is_winner"), ("baseline", "is_baseline")) if row.get(key)
        )
        if row.get("error"):
            tags += ("failed",)
        test = row.get("test") or {}
        best = row.get("best_params") or {}
        rows.append(
            [
                nf.count(rank),
                Cell(nf.fmt(row.get("candidate")), note=nf.fmt(row.get("estimator")), tags=tags),
                nf.mean_std(row.get("cv_mean"), row.get("cv_std")),
                *[nf.score(test.get(m)) for m in columns],
                nf.seconds(row.get("fit_seconds")),
                Cell(lines=tuple(nf.params(best))) if best else "—",
            ]
        )
        marks.append("winner" if row.get("is_winner") else "")
    blocks: list[Block] = [
        Paragraph(
            f"CV {metric}: mean ± std over the cross-validation folds of the training split; "
            "Test: the held-out test split.",
            "muted",
        ),
        Table(header, rows, marks, css="board"),
    ]
    errors = [r for r in board if r.get("error")]
    for row in errors:
        blocks.append(
            Paragraph(f"{nf.fmt(row.get('candidate'))} failed: {nf.fmt(row['error'])}", "warn")
        )
    return Section("leaderboard", "Leaderboard", blocks)


def _confusion_table(cm: Mapping[str, Any]) -> Table:
    labels = [str(label) for label in cm.get("labels") or []]
    rows = []
    for label, counts in zip(labels, cm.get("matrix") or [], strict=False):
        rows.append([label, *[nf.count(v) for v in counts], nf.count(sum(counts))])
    return Table(["actual \\ predicted", *labels, "total"], rows)


def test_metrics(ctx: Mapping[str, Any]) -> Section:
    metrics = ctx.get("test_metrics") or {}
    blocks: list[Block] = []
    if metrics:
        rows = [[m, nf.score(v), direction(ctx, m)] for m, v in metrics.items()]
        blocks.append(Table(["Metric", "Value", "Direction"], rows))
    else:
        blocks.append(Paragraph("No test metrics.", "muted"))
    threshold = _threshold_text(ctx)
    if threshold is not None and ctx.get("confusion"):
        blocks.append(Paragraph(f"Predicted labels use the decision threshold {threshold}."))
    cm = ctx.get("confusion")
    names = ["roc", "pr", "residuals", "predicted_vs_actual"]
    if cm and len(cm.get("labels") or []) <= CONFUSION_TABLE_MAX_CLASSES:
        blocks.append(
            Paragraph("Confusion matrix (rows: actual class, columns: predicted).", "muted")
        )
        blocks.append(_confusion_table(cm))
    else:
        names.insert(0, "confusion_matrix")
    blocks.append(Plots(names))
    return Section("test-metrics", "Test metrics (winner)", blocks)


def threshold(ctx: Mapping[str, Any]) -> Section | None:
    t = ctx.get("threshold_analysis")
    if t is None:
        return None
    fixed = t.get("method") == "fixed"
    if fixed:
        text = (
            f"Threshold {nf.score(t.get('chosen'))}, fixed by the recipe; the curve shows the "
            f"metrics at every threshold on {nf.fmt(t.get('source'))}, for choosing one with "
            "evaluation.threshold: {optimize: f1 | youden | cost}."
        )
    else:
        text = (
            f"Threshold {nf.score(t.get('chosen'))}, method {nf.fmt(t.get('method'))}, "
            f"chosen on {nf.fmt(t.get('source'))}."
        )
    costs = t.get("costs")
    if costs:
        text += (
            f" Costs: a false positive {nf.param(costs.get('fp'))}, "
            f"a false negative {nf.param(costs.get('fn'))}."
        )
    chosen, default = t.get("at_chosen") or {}, t.get("at_default") or {}
    rows = []
    for m in _THRESHOLD_METRICS:
        if m == "cost" and chosen.get(m) is None and default.get(m) is None:
            continue
        a, b = chosen.get(m), default.get(m)
        change = (
            nf.score(a - b) if isinstance(a, int | float) and isinstance(b, int | float) else nf.NA
        )
        if change not in (nf.NA, "0.0000") and not change.startswith("-"):
            change = "+" + change
        rows.append([m, nf.score(a), nf.score(b), change])
    header = ["Test metric", f"At {nf.score(t.get('chosen'))}", "At 0.5000", "Change"]
    if fixed and t.get("chosen") == 0.5:  # one threshold: no comparison to show
        rows, header = [r[:2] for r in rows], header[:2]
    table = Table(header, rows)
    blocks: list[Block] = [Paragraph(text), Columns([("", [table]), ("", [Plots(["threshold"])])])]
    return Section("threshold", "Decision threshold", blocks)


def calibration(ctx: Mapping[str, Any], plots: Mapping[str, Any]) -> Section | None:
    step, cal = ctx.get("calibration_step"), ctx.get("calibration")
    if step is None and cal is None and "calibration" not in plots:
        return None
    blocks: list[Block] = []
    if step is not None:
        rows = [
            ["Requested", nf.fmt(step.get("requested"))],
            ["Applied", nf.fmt(step.get("applied")) if step.get("applied") else "none"],
            ["Reason", nf.fmt(step.get("reason"))],
            ["Brier (out-of-fold) before", nf.score(step.get("brier_oof_before"))],
            ["Brier (out-of-fold) after", nf.score(step.get("brier_oof_after"))],
        ]
        blocks.append(Table(["Calibration step", "Value"], rows, css="facts"))
    if cal is not None:
        blocks.append(
            Paragraph(
                f"Test set: Brier score {nf.score(cal.get('brier'))} (always predicting the "
                f"base rate: {nf.score(cal.get('brier_reference'))}; lower is better), "
                f"expected calibration error {nf.score(cal.get('ece'))} (10 equal-count bins)."
            )
        )
        rows = [
            [
                nf.count(i),
                nf.score(b.get("mean_predicted")),
                nf.score(b.get("fraction_positive")),
                nf.count(b.get("rows")),
            ]
            for i, b in enumerate(cal.get("bins") or [], start=1)
        ]
        table = Table(["Bin", "Mean predicted", "Observed positive rate", "Rows"], rows)
        blocks.append(Columns([("", [table]), ("", [Plots(["calibration"])])]))
    else:
        blocks.append(Plots(["calibration"]))
    return Section("calibration", "Calibration", blocks)


def lift(ctx: Mapping[str, Any]) -> Section | None:
    data = ctx.get("lift")
    if data is None:
        return None
    rows = [
        [
            nf.count(b.get("decile")),
            nf.count(b.get("rows")),
            nf.count(b.get("positives")),
            nf.score(b.get("rate")),
            nf.ratio(b.get("lift")),
            nf.ratio(b.get("cumulative_lift")),
            nf.score(b.get("gain")),
        ]
        for b in data.get("bins") or []
    ]
    header = ["Decile", "Rows", "Positives", "Rate", "Lift", "Cumulative lift", "Gain"]
    blocks: list[Block] = [
        Paragraph(
            f"Test rows sorted by predicted probability, highest first, in ten equal parts. "
            f"Base rate {nf.score(data.get('base_rate'))}; lift = the decile's rate / base "
            "rate; gain = share of all positives found up to that decile."
        ),
        Table(header, rows),
        Plots(["gain", "lift"]),
    ]
    return Section("lift", "Lift and gain", blocks)


def segments(ctx: Mapping[str, Any]) -> Section | None:
    seg = ctx.get("segments")
    if seg is None:
        return None
    metric = seg.get("metric")
    flagged = sum(1 for r in seg.get("rows") or [] if r.get("flagged"))
    text = (
        f"Test {_with_direction(ctx, metric)} of each segment against the whole test set "
        f"({nf.score(seg.get('whole'))}); a segment worse by more than "
        f"{nf.score(seg.get('max_gap'))} is flagged. Flagged: {nf.count(flagged)}."
    )
    rows, marks = [], []
    for r in seg.get("rows") or []:
        rows.append(
            [
                nf.fmt(r.get("column")),
                nf.fmt(r.get("value")),
                nf.count(r.get("rows")),
                nf.score(r.get("positive_rate")),
                nf.score(r.get("score")),
                nf.score(r.get("gap")),
                Cell("⚠ flagged", mark="bad") if r.get("flagged") else "",
                nf.fmt(r.get("note")) if r.get("note") else "",
            ]
        )
        marks.append("flagged" if r.get("flagged") else "")
    header = ["Column", "Value", "Rows", "Positive rate", str(metric), "Gap", "Flag", "Note"]
    return Section("segments", "Segments", [Paragraph(text), Table(header, rows, marks)])


def _importance_column(ctx: Mapping[str, Any]) -> tuple[str, list[Block]] | None:
    rows = list(ctx.get("importance") or [])[:TOP_FEATURES]
    if not rows:
        return None
    table = Table(
        ["#", "Input column", "Mean", "Std"],
        [[nf.count(i), str(f), nf.score(m), nf.score(s)] for i, (f, m, s) in enumerate(rows, 1)],
    )
    text = "Mean drop in the test score when the column is shuffled (every model kind)."
    return f"Permutation importance (top {len(rows)})", [
        Paragraph(text, "muted"),
        table,
        Plots(["importance"]),
    ]


def _shap_column(exp: Mapping[str, Any]) -> tuple[str, list[Block]]:
    if exp.get("unavailable"):
        return "SHAP", [Paragraph(f"Not computed: {nf.fmt(exp['unavailable'])}", "muted")]
    feats = list(exp.get("features") or [])[:TOP_FEATURES]
    derived = any(len(f.get("inputs") or []) > 1 for f in feats)
    header = ["#", "Input column", "Mean |SHAP|"] + (["Computed from"] if derived else [])
    rows = []
    for i, f in enumerate(feats, start=1):
        row = [nf.count(i), nf.fmt(f.get("feature")), nf.score(f.get("mean_abs_shap"))]
        if derived:
            inputs = f.get("inputs") or []
            row.append(", ".join(map(str, inputs)) if len(inputs) > 1 else "")
        rows.append(row)
    output = f" ({exp['output']})" if exp.get("output") else ""
    text = (
        f"Mean absolute SHAP value{output} over {nf.count(exp.get('rows'))} test rows, by "
        f"{nf.fmt(exp.get('explainer'))}; each column's one-hot and derived model inputs "
        "summed per row."
    )
    return f"SHAP (top {len(rows)})", [
        Paragraph(text, "muted"),
        Table(header, rows),
        Plots(["shap"]),
    ]


def explanations(ctx: Mapping[str, Any]) -> Section | None:
    columns = []
    importance = _importance_column(ctx)
    if importance:
        columns.append(importance)
    if ctx.get("explanations") is not None:
        columns.append(_shap_column(ctx["explanations"]))
    if not columns:
        return None
    return Section("explanations", "Explanations", [Columns(columns)])


def learning_curve(ctx: Mapping[str, Any]) -> Section | None:
    lc = ctx.get("learning_curve")
    if lc is None:
        return None
    metric = lc.get("metric")
    text = f"{nf.fmt(lc.get('verdict'))} (slope {nf.score(lc.get('slope'))} per doubling of rows)."
    rows = [
        [nf.count(p.get("train_rows")), nf.score(p.get("score"))] for p in lc.get("points") or []
    ]
    table = Table(["Training rows", f"CV {_with_direction(ctx, metric)}"], rows)
    blocks: list[Block] = [
        Paragraph(text),
        Columns([("", [table]), ("", [Plots(["learning_curve"])])]),
    ]
    return Section("learning-curve", "Learning curve", blocks)


def gate(ctx: Mapping[str, Any]) -> Section:
    g = ctx.get("gate")
    badge = _gate_badge(g)
    if not g:
        return Section(
            "gate", "Gate", [Paragraph("The promotion gate was not evaluated.", "muted")], badge
        )
    if not g.get("checks"):
        return Section(
            "gate", "Gate", [Paragraph("No gate checks were configured.", "muted")], badge
        )
    rows = []
    for c in g.get("checks") or []:
        mark = "ok" if c.get("passed") else "bad"
        rows.append(
            [
                nf.fmt(c.get("name")),
                nf.score(c.get("actual")),
                _OPS.get(str(c.get("op")), nf.fmt(c.get("op"))),
                nf.score(c.get("required")),
                Cell("✓ pass" if c.get("passed") else "✗ fail", mark=mark),
                nf.fmt(c.get("detail")) if c.get("detail") not in (None, "") else "",
            ]
        )
    header = ["Check", "Actual", "Op", "Required", "Result", "Detail"]
    return Section("gate", "Gate", [Table(header, rows)], badge)


def data(ctx: Mapping[str, Any]) -> Section:
    d = ctx.get("data") or {}
    rows_text = nf.count(d.get("rows"))
    if d.get("train_rows") is not None or d.get("test_rows") is not None:
        rows_text += (
            f" (train {nf.count(d.get('train_rows'))} / test {nf.count(d.get('test_rows'))})"
        )
    rows = [["Source", nf.fmt(d.get("source"))]]
    if d.get("files") is not None:
        rows.append(["Files", nf.count(d.get("files"))])
    rows += [["Rows", rows_text], ["Fingerprint (SHA-256)", nf.fmt(d.get("fingerprint"))]]
    if ctx.get("mlctl_version"):
        rows.append(["mlctl version", nf.fmt(ctx["mlctl_version"])])
    return Section("data", "Data", [Table(["Item", "Value"], rows, css="facts")])


def placed_plots(sections: list[Section]) -> set[str]:
    """Plot names some section shows."""
    names: set[str] = set()

    def walk(blocks: list[Block]) -> None:
        for b in blocks:
            if isinstance(b, Plots):
                names.update(b.names)
            elif isinstance(b, Columns):
                for _, inner in b.columns:
                    walk(inner)

    for s in sections:
        walk(s.blocks)
    return names


def build(ctx: Mapping[str, Any], plots: Mapping[str, Any]) -> list[Section]:
    """Every section of the report, in reading order; plots no section shows (or
    whose section is left out) at the end, under "Other plots"."""
    sections = [
        summary(ctx),
        recommendations(ctx),
        leaderboard(ctx),
        test_metrics(ctx),
        threshold(ctx),
        calibration(ctx, plots),
        lift(ctx),
        segments(ctx),
        explanations(ctx),
        learning_curve(ctx),
        gate(ctx),
        data(ctx),
    ]
    present = [s for s in sections if s is not None]
    placed = placed_plots(present)
    # the confusion-matrix heat map is not repeated next to its table
    skip = placed | ({"confusion_matrix"} if ctx.get("confusion") else set())
    other = [name for name in plots if name not in skip]
    if other:
        present.insert(len(present) - 2, Section("other-plots", "Other plots", [Plots(other)]))
    return present
