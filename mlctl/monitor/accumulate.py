"""What production saw, accumulated over chunks into what the checks need.

Memory: each chunk is folded into per-column summaries (:mod:`mlctl.monitor.summary`):
distinct values with counts for numbers (rounded past a cap), counts per category; the
monitored version's scores and predicted classes the same way. Nothing grows with the
rows of the window except labelled rows kept for performance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlctl.monitor.summary import MAX_DISTINCT, CategorySummary, FrameSummary, NumericSummary


@dataclass
class Current:
    summary: FrameSummary  # the input columns, summed up
    rows: int
    scores: NumericSummary | None  # the monitored version's scores
    predictions: CategorySummary | None  # ... and predicted classes (text)
    version_rows: int
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    labelled: list[Any] | None = None
    ignored: list[str] | None = None  # a --current file's columns the profile lacks


class Accumulator:
    """Input columns, scores and predictions of many chunks, summed up as they come."""

    def __init__(self, profile: Any, version: int, max_distinct: int = MAX_DISTINCT) -> None:
        from collections import Counter

        self.kinds = {name: p.kind for name, p in profile.columns.items()}
        self.numeric = [n for n, k in self.kinds.items() if k == "numeric"]
        self.version = version
        self.summary = FrameSummary.for_profile(profile, max_distinct)
        self.scores = NumericSummary("float", max_distinct)
        pred = profile.predictions
        self.preds = CategorySummary(pred.coerce if pred is not None else "category")
        self.scored = self.predicted = False
        self.rows = 0
        self.version_rows = 0
        self.by_version: Counter[int] = Counter()
        self.undecodable = 0

    def add_inputs(self, chunk: Any) -> None:
        """Fold in a pandas frame or an Arrow record batch (its profiled columns)."""
        self.summary.add(chunk)
        self.rows += chunk.num_rows if hasattr(chunk, "num_rows") else len(chunk)

    def add_log_chunk(self, chunk: Any) -> None:
        import numpy as np

        meta = chunk.attrs.get("meta", {})
        self.undecodable += int(chunk.attrs.get("undecodable_inputs", 0))
        versions = chunk[meta.get("model_version", "model_version")].to_numpy()
        uniq, counts = np.unique(versions, return_counts=True)
        for v, n in zip(uniq.tolist(), counts.tolist(), strict=True):
            self.by_version[int(v)] += int(n)
        self.add_inputs(chunk[[c for c in self.kinds if c in chunk.columns]])
        mine = versions == self.version
        n = int(mine.sum())
        if n:
            self.version_rows += n
            score = chunk[meta.get("score", "score")].to_numpy(dtype=np.float64)[mine]
            self.scores.add(score)
            self.scored = True
            self.preds.add(chunk[meta.get("prediction", "prediction")][mine])
            self.predicted = True

    def add_unscored_chunk(self, X: Any) -> None:
        """Inputs of the monitored version that were not scored (no check needs it)."""
        n = X.num_rows if hasattr(X, "num_rows") else len(X)
        self.add_inputs(X)
        self.by_version[self.version] += n
        self.version_rows += n

    def add_scored_chunk(self, X: Any, pred: Any, scores: Any) -> None:
        import numpy as np
        import pandas as pd

        from mlctl.text import class_text

        self.add_unscored_chunk(X)
        if scores is not None:
            self.scores.add(pd.Series(np.asarray(scores, dtype=np.float64)))
            self.scored = True
        # A classifier's predictions hold a few classes of one dtype: convert each once.
        codes, classes = pd.factorize(np.asarray(pred))
        texts = np.array([class_text(c) for c in np.asarray(classes)], dtype=object)
        self.preds.add(pd.Series(texts[codes], dtype=object))
        self.predicted = True

    def merge(self, other: Accumulator) -> None:
        """Fold in the accumulator of other rows (a Dask partition's)."""
        self.summary.merge(other.summary)
        self.scores.merge(other.scores)
        self.preds.merge(other.preds)
        self.scored |= other.scored
        self.predicted |= other.predicted
        self.rows += other.rows
        self.version_rows += other.version_rows
        self.by_version.update(other.by_version)
        self.undecodable += other.undecodable

    def finish(self) -> Current:
        return Current(
            self.summary,
            self.rows,
            self.scores if self.scored else None,
            self.preds if self.predicted else None,
            self.version_rows,
        )


def scores_of(task: str, pred: Any, proba: Any, classes: list[Any], positive: Any) -> Any:
    """What the profile calls a score (see mlctl.runner._reference_profile)."""
    import numpy as np

    if task == "regression":
        return np.asarray(pred, dtype=np.float64)
    if proba is None:
        return None
    if len(classes) == 2:
        return proba[:, classes.index(positive)]
    return np.max(proba, axis=1)


def labelled_frame(
    chunk: Any, o: Any, pred: Any, proba: Any, classes: list[Any], version: int
) -> Any:
    """A --current file's labelled rows in the log's shape (for performance)."""
    import numpy as np
    import pandas as pd

    from mlctl.text import class_text

    labels = chunk[o.label_column]
    keep = labels.notna().to_numpy()
    out = pd.DataFrame(
        {
            "label": [class_text(v) for v in labels[keep]],
            "prediction": [class_text(p) for p in np.asarray(pred, dtype=object)[keep]],
            "model_version": np.full(int(keep.sum()), version, dtype=np.int64),
        }
    )
    if proba is not None:
        names = [class_text(c) for c in classes]
        out["probabilities"] = [
            json.dumps(dict(zip(names, map(float, row), strict=True))) for row in proba[keep]
        ]
    if o.timestamp_column:
        out["ts"] = chunk[o.timestamp_column].to_numpy(dtype=float)[keep]
    return out
