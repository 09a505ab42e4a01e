"""A registered model version as the server holds it: verified, loaded, smoke-tested.

Loading downloads the version's files, checks their SHA-256 against the digest
recorded at registration *before* deserializing (:meth:`Registry.load_reference`),
then scores the model's own input example: a version that fails any of this is
never served.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from mlctl.predict.score import Scorer, label
from mlctl.predict.validate import InputColumn, input_columns
from mlctl.serve.inputs import Columns


@dataclass
class Scored:
    """Model output for a batch of rows, in row order."""

    predictions: list[Any]
    probabilities: list[dict[str, float]] | None  # class label → probability
    scores: list[float | None]  # the positive class's probability, or the regression value


@dataclass
class ServedModel:
    """One loaded, verified version."""

    name: str
    version: int
    aliases: list[str]
    columns: list[InputColumn]
    scorer: Scorer
    digest: str
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)
    positive: Any = None  # the positive class of a binary classifier, if known
    example: dict[str, Any] | None = None  # a row of the logged input example

    @property
    def classes(self) -> list[Any]:
        return self.scorer.classes

    @property
    def task(self) -> str:
        return "classification" if self.classes else "regression"

    def score(self, batch: Columns) -> Scored:
        """Score checked rows (one pass through the pipeline's transformers)."""
        pred, proba = self.scorer.columns(batch.names, batch.values, batch.numeric)
        values = pred.tolist()  # plain Python values, except in an object array
        predictions = [_plain(v) for v in values] if pred.dtype == object else values
        if proba is None:
            if self.task == "regression":
                return Scored(predictions, None, [float(v) for v in values])
            return Scored(predictions, None, [None] * len(values))
        names = self._labels
        rows = proba.tolist()
        probabilities = [dict(zip(names, r, strict=True)) for r in rows]
        pos = self._positive_index()
        scores = [r[pos] for r in rows] if pos is not None else [max(r) for r in rows]
        return Scored(predictions, probabilities, scores)

    @cached_property
    def _labels(self) -> list[str]:
        return [label(c) for c in self.classes]

    def _positive_index(self) -> int | None:
        if len(self.classes) != 2:
            return None
        if self.positive is not None and self.positive in self.classes:
            return self.classes.index(self.positive)
        return 1  # sklearn's convention: the second class is the positive one

    def describe(self) -> dict[str, Any]:
        """What ``GET /model`` shows."""
        return {
            "name": self.name,
            "version": self.version,
            "aliases": self.aliases,
            "task": self.task,
            "classes": [_plain(c) for c in self.classes] or None,
            "features": [
                {"name": c.name, "type": c.type, "required": c.required} for c in self.columns
            ],
            "metrics": {k: v for k, v in self.metrics.items() if math.isfinite(v)},
            "gate": self.tags.get("mlctl.gate"),
            "selection_metric": self.tags.get("mlctl.selection_metric"),
            "sha256": self.digest,
            "loaded_at": self.loaded_at,
        }


def load_model(registry: Any, reference: str, positive: Any = None) -> ServedModel:
    """Load, verify and smoke-test a registered version.

    Raises:
        RegistryError: unknown reference, or files that fail the SHA-256 check.
        ModelLoadError: the model cannot score its own input example.
    """
    loaded = registry.load_reference(reference, verify=True)
    columns = input_columns(loaded.input_schema, getattr(loaded.pipeline, "feature_names_in_", ()))
    model = ServedModel(
        name=loaded.name,
        version=loaded.version,
        aliases=list(loaded.aliases),
        columns=columns,
        scorer=Scorer(loaded.pipeline),
        digest=loaded.digest or "",
        tags=dict(loaded.tags),
        metrics=dict(loaded.metrics),
        positive=positive,
    )
    smoke_test(model, loaded.example)
    model.example = _first_row(loaded.example)
    return model


class ModelLoadError(Exception):
    """A version loaded but cannot be served (e.g. it fails its smoke prediction)."""


def smoke_test(model: ServedModel, example: Any = None) -> None:
    """Score the model's logged input example (else a row of missing values, which
    the pipeline imputes): every output must be there and finite."""
    from mlctl.serve.inputs import check_records

    rows = [_example_row(model.columns)]
    if example is not None and hasattr(example, "to_dict"):
        rows = json.loads(example.to_json(orient="records"))  # plain JSON types, like a request
    try:
        scored = model.score(check_records(rows, model.columns))
    except Exception as exc:
        raise ModelLoadError(
            f"{model.name} version {model.version} fails a smoke prediction: "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    bad = [s for s in scored.scores if s is not None and not math.isfinite(s)]
    if bad or len(scored.predictions) != len(rows):
        raise ModelLoadError(
            f"{model.name} version {model.version} gives no finite answer on a smoke row"
        )


def _first_row(example: Any) -> dict[str, Any] | None:
    """The input example's first row as plain JSON values (for the OpenAPI schema)."""
    if example is None or not hasattr(example, "to_json") or not len(example):
        return None
    return json.loads(example.head(1).to_json(orient="records"))[0]


def _example_row(columns: list[InputColumn]) -> dict[str, Any]:
    """A row of missing values: the pipeline imputes every column it reads."""
    return {c.name: None for c in columns}


def _plain(value: Any) -> Any:
    """numpy scalars → JSON-able Python values."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_plain)
