"""What production saw, accumulated over chunks into what the checks need.

Memory: only the model's input columns are kept, numbers as 8-byte values and
categories as per-chunk value counts (:class:`Counts`, turned into one Categorical, 1
byte a row, at the end); the monitored version's scores and predictions beside them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Current:
    frame: Any  # the input columns (pandas DataFrame)
    rows: int
    scores: Any  # the monitored version's scores (numpy) or None
    predictions: Any  # ... and predicted classes (pandas Series) or None
    version_rows: int
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    labelled: list[Any] | None = None
    ignored: list[str] | None = None  # a --current file's columns the profile lacks


class Accumulator:
    """Input columns of many chunks, kept compact: numbers as float64 arrays where they
    are numbers, categories as per-chunk value counts turned into one Categorical."""

    def __init__(self, profile: Any, version: int) -> None:
        from collections import Counter

        self.kinds = {name: p.kind for name, p in profile.columns.items()}
        self.version = version
        self.numeric: dict[str, list[Any]] = {
            n: [] for n, k in self.kinds.items() if k == "numeric"
        }
        self.categories = {n: Counts() for n, k in self.kinds.items() if k == "categorical"}
        self.scores: list[Any] = []
        self.preds = Counts()
        self.rows = 0
        self.version_rows = 0
        self.by_version: Counter[int] = Counter()
        self.undecodable = 0

    def add_inputs(self, chunk: Any) -> None:
        import numpy as np
        import pandas as pd

        for name, parts in self.numeric.items():
            if name not in chunk.columns:
                continue
            col = chunk[name]
            if pd.api.types.is_float_dtype(col.dtype):
                parts.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
            else:
                parts.append(col.reset_index(drop=True))
        for name, counts in self.categories.items():
            if name in chunk.columns:
                counts.add(chunk[name])
        self.rows += len(chunk)

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
            self.scores.append(chunk[meta.get("score", "score")].to_numpy(dtype=np.float64)[mine])
            self.preds.add(chunk[meta.get("prediction", "prediction")][mine])

    def add_unscored_chunk(self, X: Any) -> None:
        """Inputs of the monitored version that were not scored (no check needs it)."""
        self.add_inputs(X)
        self.by_version[self.version] += len(X)
        self.version_rows += len(X)

    def add_scored_chunk(self, X: Any, pred: Any, scores: Any) -> None:
        import numpy as np
        import pandas as pd

        from mlctl.text import class_text

        self.add_unscored_chunk(X)
        if scores is not None:
            self.scores.append(np.asarray(scores, dtype=np.float64))
        # A classifier's predictions hold a few classes of one dtype: convert each once.
        codes, classes = pd.factorize(np.asarray(pred))
        texts = np.array([class_text(c) for c in np.asarray(classes)], dtype=object)
        self.preds.add(pd.Series(texts[codes], dtype=object))

    def finish(self) -> Current:
        import numpy as np
        import pandas as pd

        columns: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            if kind == "numeric":
                parts = self.numeric[name]
                if not parts:
                    continue
                if all(isinstance(p, np.ndarray) for p in parts):
                    columns[name] = pd.Series(np.concatenate(parts))
                else:
                    columns[name] = pd.concat([pd.Series(p) for p in parts], ignore_index=True)
            elif self.categories[name].seen:
                columns[name] = self.categories[name].series()
        frame = pd.DataFrame(columns, index=pd.RangeIndex(self.rows))
        scores = np.concatenate(self.scores) if self.scores else None
        preds = self.preds.series() if self.preds.seen else None
        return Current(frame, self.rows, scores, preds, self.version_rows)


class Counts:
    """Value counts of a categorical column over chunks; missing values apart."""

    def __init__(self) -> None:
        self.counts: dict[Any, int] = {}
        self.missing = 0
        self.seen = False

    def add(self, series: Any) -> None:
        self.seen = True
        missing = series.isna()
        self.missing += int(missing.sum())
        for key, n in series[~missing].value_counts(sort=False).items():
            k = (type(key).__name__, key)  # keep 1, True and "1" apart, as the raw values are
            self.counts[k] = self.counts.get(k, 0) + int(n)

    def series(self) -> Any:
        """A Series of these values in a canonical order (counts are what tests see)."""
        import numpy as np
        import pandas as pd

        keys = sorted(self.counts, key=lambda k: (k[0], str(k[1])))
        values = [k[1] for k in keys]
        n = np.array([self.counts[k] for k in keys], dtype=np.int64)
        codes = np.repeat(np.arange(len(keys), dtype=np.int32), n)
        if self.missing:
            codes = np.concatenate([codes, np.full(self.missing, -1, dtype=np.int32)])
        try:
            cats = pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype=object))
            return pd.Series(cats)
        except (ValueError, TypeError):  # categories equal as values (1 and True): plain
            out = np.empty(len(codes), dtype=object)
            out[: int(n.sum())] = np.repeat(np.array(values, dtype=object), n)
            out[int(n.sum()) :] = None
            return pd.Series(out, dtype=object)


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
