"""Render a :class:`~mlctl.scaffold.plan.Plan` as a commented, self-contained recipe.

The recipe pulls nothing from ``conf/`` (a user's project has none): candidates,
tuning and the gate are written inline. Comments say why each value was chosen.
Scalars are written by PyYAML, so text such as ``Yes`` or ``1.10`` is quoted and
reads back as the same string.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import yaml

from mlctl.data.load import SUFFIXES
from mlctl.scaffold.plan import Plan

COMMENT_COLUMN = 34


class _OneLineDumper(yaml.SafeDumper):
    """Writes text with line breaks or control characters double-quoted, with escapes
    (``"a\\nb"``), so every value stays on its line of the recipe."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = None if data.isprintable() else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_OneLineDumper.add_representer(str, _represent_str)


def _escape_interpolation(value: Any) -> Any:
    """OmegaConf would read ${...} in a column name as an interpolation: write \\${."""
    if isinstance(value, str):
        return value.replace("${", "\\${")
    if isinstance(value, dict):
        return {_escape_interpolation(k): _escape_interpolation(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_interpolation(v) for v in value]
    return value


def one_line(text: str) -> str:
    """Text for a comment: line breaks and control characters written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def scalar(value: Any) -> str:
    """One YAML value in flow style, on one line (quoted when plain text would change
    meaning, double-quoted with escapes when it holds line breaks)."""
    text = yaml.dump(
        _escape_interpolation(value),
        Dumper=_OneLineDumper,
        default_flow_style=True,
        width=1_000_000,
        allow_unicode=True,
        sort_keys=False,
    )
    text = text.strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    if text.endswith("..."):
        text = text[: -len("...")].rstrip()
    return text


def _line(indent: int, body: str, comment: str = "") -> str:
    text = " " * indent + body
    if comment:
        pad = max(COMMENT_COLUMN - len(text), 2)
        text += " " * pad + "# " + one_line(comment)
    return text


def render(plan: Plan, when: str = "", path: str = "<this file>") -> str:
    """The recipe text; ``path`` is how the header's commands name the recipe."""
    t = plan.target
    out: list[str] = []
    add = out.append
    rows = (
        f"{plan.rows_total:,} rows" if not plan.sampled else f"a sample of {plan.rows_read:,} rows"
    )
    add(f"# Written by `mlctl init`{' on ' + when if when else ''} from {one_line(plan.source)}")
    add(f"# ({rows}, {len(plan.columns) + 1} columns). A starting point: read the comments, then")
    add(f"#   mlctl validate {one_line(path)}   and   mlctl run {one_line(path)}")
    add("# Every key is described in docs/recipes.md.")
    add("")
    add(_line(0, f"name: {scalar(plan.name)}"))
    add(_line(0, f"task: {t.task}", t.reason))
    add("seed: 42")
    add("")
    add("data:")
    add(_line(2, f"source: {scalar(plan.source)}", "relative to this file's folder"))
    suffix = PurePosixPath(plan.source).suffix.lower()
    if SUFFIXES.get(suffix) != plan.format:
        add(
            _line(
                2,
                f"format: {plan.format}",
                f"{suffix or 'no extension'}: not read as {plan.format} by default",
            )
        )
    if plan.format == "csv" and plan.separator != ",":
        add(_line(2, f"csv_separator: {scalar(plan.separator)}"))
    add(_line(2, f"target: {scalar(t.name)}"))
    if t.positive_class is not None:
        add(_line(2, f"positive_class: {scalar(t.positive_class)}", t.positive_reason))
    if plan.id_column:
        add(_line(2, f"id_column: {scalar(plan.id_column)}", "unique per row: not a feature"))
    if plan.coerce:
        add("  coerce:")
        by_name = {c.name: c for c in plan.columns}
        for col, kind in plan.coerce.items():
            add(_line(4, f"{scalar(col)}: {kind}", by_name[col].coerce_reason))
    add("  expectations:")
    why_rows = (
        "half the rows init saw: catches a truncated extract"
        if not plan.sampled
        else "init read a sample only: raise this to what you expect"
    )
    add(_line(4, f"min_rows: {plan.min_rows}", why_rows))
    expect = _expectations(plan)
    if expect:
        add("    columns:")
        for col, (spec, why) in expect.items():
            add(_line(6, f"{scalar(col)}: {scalar(spec)}", why))
    add("")
    add("split:")
    for key, value in plan.split.items():
        comment = plan.split_reason if key == "strategy" else ""
        add(_line(2, f"{key}: {scalar(value)}", comment))
    add("  seed: ${seed}")
    add("")
    add("features:")
    _columns(add, plan, "numeric")
    _columns(add, plan, "categorical")
    dropped = plan.dropped
    if dropped:
        add("  # Left out of the model:")
        for c in dropped:
            add(f"  #   {one_line(c.name)}: {c.kind.replace('_', '-')}, {one_line(c.reason)}")
    add("  numeric_transform:")
    add(_line(4, "impute: median", "missing numbers get the training median"))
    add("    scale: standard")
    add("  categorical_transform:")
    add(_line(4, "impute: constant", "missing categories become their own value"))
    add(_line(4, "encode: onehot", "categories unseen in training are ignored at predict time"))
    if plan.min_frequency:
        add(
            _line(
                4,
                f"min_frequency: {plan.min_frequency}",
                "some columns have many values: rare ones are grouped",
            )
        )
    add("")
    add("models:")
    metric_why = (
        "ranks candidates by how well they order rows, at any threshold"
        if t.task == "classification"
        else "ranks candidates by their error, in target units"
    )
    add(_line(2, f"selection_metric: {plan.selection_metric}", metric_why))
    add(_line(2, f"cv_folds: {plan.cv_folds}", plan.sizing_reason))
    add("  candidates:")
    for cand in plan.candidates:
        add(_line(4, f"{cand.name}:", cand.why))
        add(f"      estimator: {cand.estimator}")
        if cand.params:
            add(f"      params: {scalar(cand.params)}")
        add("      search:")
        for key, space in cand.search.items():
            add(f"        {key}: {scalar(space)}")
    if plan.ensemble:
        add(
            _line(
                2,
                f"ensemble: {scalar(plan.ensemble)}",
                "soft vote of the best candidates; wins only if its CV is better",
            )
        )
    add("")
    add("tuning:")
    add(_line(2, "strategy: random", "n_iter settings sampled per candidate"))
    add(f"  n_iter: {plan.n_iter}")
    add(
        _line(
            2,
            f"time_budget: {plan.time_budget}",
            "seconds for the whole search: no setting starts after it",
        )
    )
    add(_line(2, "n_jobs: -1", "every core"))
    add("")
    add("readiness:")
    g = plan.readiness
    add(_line(2, f"beat_baseline_by: {scalar(g['beat_baseline_by'])}", plan.readiness_reason))
    add(_line(2, "compare_champion: true", "a new model must not be worse than the champion"))
    add(_line(2, f"champion_tolerance: {scalar(g['champion_tolerance'])}"))
    example = "min_roc_auc: 0.8" if t.task == "classification" else "min_r2: 0.7"
    add(_line(2, "thresholds: {}", f"add absolute bars you need, e.g. {example}"))
    add("")
    add("evaluation:")
    add(_line(2, f"importance_repeats: {plan.importance_repeats}", "permutation importance"))
    add("")
    add("deploy:")
    add(_line(2, f"model_name: {scalar(plan.name)}", "registered model; mlctl serve serves it"))
    add("")
    add(_line(0, "monitor:", f"mlctl monitor {path} (docs/monitoring.md)"))
    add(_line(2, "window: 24h", "how far back each monitoring run looks"))
    add(_line(2, "retrain: never", "or on_drift / on_performance_drop"))
    return "\n".join(out) + "\n"


def _columns(add, plan: Plan, kind: str) -> None:
    names = getattr(plan, kind)
    if not names:
        return
    by_name = {c.name: c for c in plan.columns}
    add(f"  {kind}:")
    for name in names:
        c = by_name[name]
        comment = c.reason
        if c.missing:
            comment += f"; {c.missing / plan.rows_read:.1%} missing"
        add(_line(4, f"- {scalar(name)}", comment))


def _expectations(plan: Plan) -> dict[str, tuple[dict[str, Any], str]]:
    """Checks that hold on the data init read and guard the next extract."""
    t = plan.target
    out: dict[str, tuple[dict[str, Any], str]] = {}
    if plan.id_column:
        out[plan.id_column] = ({"unique": True, "max_missing": 0.0}, "")
    if t.task == "classification" and not plan.sampled:
        # The check compares labels as text, and a float column reads 1 as "1.0".
        labels = [float(c) for c in t.classes] if t.float_labels else list(t.classes)
        out[t.name] = ({"allowed": labels}, "a new label fails the check")
    return out
