"""What ``mlctl run`` returns: :class:`RunSummary`, whose ``to_dict`` is the ``--json``
document (docs/cli.md); the CLI renders the same object on a terminal."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlctl.readiness import gate
from mlctl.redact import redact_tree

JSON_SCHEMA_VERSION = 1


@dataclass
class RunSummary:
    """Everything a user or a CI pipeline needs to know about one run."""

    recipe: str
    recipe_hash: str
    run_id: str
    experiment_id: str
    tracking_uri: str
    model_name: str
    selection_metric: str
    winner: str
    data: dict[str, Any]
    leaderboard: list[dict[str, Any]]
    test_metrics: dict[str, float]
    cv: dict[str, float]
    verdict: gate.Verdict
    version: int | None = None
    aliases: list[str] = field(default_factory=list)
    model_uri: str | None = None
    report_html: str | None = None
    report_markdown: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: The binary decision threshold the registered model predicts with
    #: (:func:`threshold_decision`); None when it predicts without one.
    threshold: dict[str, Any] | None = None
    #: What the report recommends (:func:`mlctl.evaluate.recommend.recommendations`).
    recommendations: list[dict[str, str]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.verdict.passed

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (secrets masked, :mod:`mlctl.redact`)."""
        return redact_tree(self._document())

    def _document(self) -> dict[str, Any]:
        return {
            "schema_version": JSON_SCHEMA_VERSION,
            "status": "ready" if self.ready else "not_ready",
            "recipe": self.recipe,
            "recipe_hash": self.recipe_hash,
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "tracking_uri": self.tracking_uri,
            "model": {
                "name": self.model_name,
                "version": self.version,
                "aliases": self.aliases,
                "uri": self.model_uri,
            },
            "winner": self.winner,
            "selection_metric": self.selection_metric,
            "test_metrics": json_safe(self.test_metrics),
            "cv": json_safe(self.cv),
            "threshold": json_safe(self.threshold),
            "gate": json_safe(self.verdict.to_dict()),
            "leaderboard": json_safe(self.leaderboard),
            "data": self.data,
            "report": {"html": self.report_html, "markdown": self.report_markdown},
            "seconds": round(self.seconds, 2),
            "notes": self.notes,
            "recommendations": self.recommendations,
        }


def json_safe(value: Any) -> Any:
    """NaN/inf → None so the JSON document is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def threshold_decision(analysis: dict[str, Any] | None) -> dict[str, Any] | None:
    """The decision threshold of a binary classifier, from the threshold analysis of
    :func:`mlctl.train.finalize.finalize` (``Final.analysis``): ``value``, ``method``
    (``fixed`` by the recipe, or chosen by ``f1``, ``youden`` or ``cost``), ``costs``
    (``{"fp", "fn"}`` for ``cost``, else None) and ``chosen_on`` (the out-of-fold rows it
    was chosen on; None when fixed). None without an analysis: a regression, more than
    two classes, or a winner without probabilities (it predicts with its own rule)."""
    if not analysis:
        return None
    method = analysis["method"]
    return {
        "value": analysis["chosen"],
        "method": method,
        "costs": analysis.get("costs"),
        "chosen_on": None if method == "fixed" else analysis.get("source"),
    }
