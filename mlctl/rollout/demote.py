"""Auto-demotion (``deploy.rollout.auto_demote: true``): when the latest ``mlctl
monitor`` result shows the champion below the readiness bar on production labels, and
the previous champion scores better on the same window's labelled rows, move the
champion back (``Registry.rollback``) with the numbers as the reason.

The previous champion is scored offline: the logged inputs of the window's labelled
rows go through its pipeline (verified against its recorded SHA-256), and both
versions are measured with the recipe's selection metric. Each monitoring result is
judged once: the champion's ``mlctl.rollout.demotion_checked`` tag names the result
(its ``generated_at``) already judged, so cron calls in between cost one file read.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mlctl.errors import MlctlError

CHECKED_TAG = "mlctl.rollout.demotion_checked"


def check_demotion(
    loaded: Any, ws: Any, registry: Any, name: str, champion: int | None, url: str
) -> dict[str, Any] | None:
    """Demote the champion if the latest monitoring result calls for it (see the module
    docstring). None when there is nothing to judge; else a block with ``outcome``
    ``demoted`` or ``kept`` and the ``reason`` with the numbers."""
    from mlctl.paths import latest_path

    path = latest_path(ws.root, name)
    if champion is None or not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    perf = doc.get("performance") or {}
    window = doc.get("window") or {}
    if (
        (doc.get("model") or {}).get("version") != champion
        or not perf.get("thresholds_failed")
        or (doc.get("source") or {}).get("kind") != "log"
        or "start" not in window
    ):
        return None
    stamp = str(doc.get("generated_at"))
    if registry.version_tags(name, champion).get(CHECKED_TAG) == stamp:
        return None
    failed = [c for c in perf.get("checks", []) if not c.get("passed")]
    below = "; ".join(
        f"{c['name']} {_num(c.get('actual'))} {'<' if c['op'] == '>=' else '>'} "
        f"{_num(c.get('required'))}"
        for c in failed
    )
    block = _compare(loaded, registry, name, champion, url, window, stamp, below)
    registry.set_version_tags(name, champion, {CHECKED_TAG: stamp})
    if block["outcome"] == "demoted":
        registry.rollback(name, block["reason"])
    return block


def _compare(
    loaded: Any,
    registry: Any,
    name: str,
    champion: int,
    url: str,
    window: dict[str, Any],
    stamp: str,
    below: str,
) -> dict[str, Any]:
    r = loaded.recipe
    previous = _previous(registry, name, champion)
    metric = r.selection_metric
    block: dict[str, Any] = {
        "outcome": "kept",
        "champion": champion,
        "previous": previous,
        "metric": metric,
        "champion_score": None,
        "previous_score": None,
        "rows": 0,
        "min_labels": r.monitor.performance.min_labels,
        "monitoring": stamp,
        "below": below,
    }
    head = f"monitoring of {stamp} found v{champion} below the readiness bar ({below})"
    if previous is None:
        block["reason"] = f"{head}; no earlier champion to go back to"
        return block
    frame = _labelled(url, name, window)
    try:
        for side, version in (("champion", champion), ("previous", previous)):
            model = registry.load_reference(f"{name}/{version}")
            inputs = [c["name"] for c in model.input_schema]
            block[f"{side}_score"], block["rows"] = _metric_on(r, model.pipeline, frame, inputs)
    except MlctlError as exc:
        block["reason"] = f"{head}; cannot score the window's rows: {exc.message}"
        return block
    new, old = block["champion_score"], block["previous_score"]
    scored = f"{metric} {_num(old)} vs {_num(new)} on {block['rows']} labelled rows"
    if block["rows"] < block["min_labels"]:
        block["reason"] = (
            f"{head}; too few labels to compare ({block['rows']} of {block['min_labels']})"
        )
    elif _better(r, old, new):
        block["outcome"] = "demoted"
        block["reason"] = f"auto-demotion: {head}; v{previous} scores better: {scored}"
    else:
        block["reason"] = f"{head}; v{previous} does not score better: {scored}"
    return block


def _previous(registry: Any, name: str, champion: int) -> int | None:
    """The version ``Registry.rollback`` would go back to."""
    history = list(registry.champion_history(name))
    while history and history[-1] == champion:
        history.pop()
    existing = {v.version for v in registry.versions(name)}
    while history and history[-1] not in existing:
        history.pop()
    return history[-1] if history else None


def _labelled(url: str, name: str, window: dict[str, Any]) -> Any:
    """The window's labelled champion rows with every logged input."""
    from mlctl.monitor.log_source import LogSource
    from mlctl.monitor.retrain import labelled_log_rows
    from mlctl.monitor.window import Window

    span = Window(float(window["start"]), float(window["end"]))
    return labelled_log_rows(LogSource(url), span, name)


def _metric_on(r: Any, pipeline: Any, frame: Any, inputs: list[str]) -> tuple[float | None, int]:
    """The recipe's selection metric of ``pipeline`` on the labelled rows."""
    from mlctl.monitor.retrain import metric_on

    if frame is None or not len(frame):
        return None, 0
    return metric_on(r, pipeline, frame, r.selection_metric, inputs)


def _better(r: Any, old: float | None, new: float | None) -> bool:
    from mlctl.evaluate.metrics import metrics_for_task

    if old is None or new is None or not (math.isfinite(old) and math.isfinite(new)):
        return False
    greater = metrics_for_task(r.task)[r.selection_metric].greater_is_better
    return old > new if greater else old < new


def _num(value: Any) -> str:
    return (
        "n/a" if not isinstance(value, int | float) or not math.isfinite(value) else f"{value:.4f}"
    )
