"""Simulated production traffic in a real SQLite prediction log, written by the
server's own writer: scored rows of a known effect and their labels (the compare and
rollout tests judge versions on it without a model or MLflow)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mlctl.predlog import PredictionLog, rows_for, shadow_id

RECIPE = """\
name: demo
data:
  source: data.csv
  target: y
features:
  numeric: [a]
models:
  candidates:
    lr: {estimator: logistic_regression}
  selection_metric: roc_auc
monitor:
  performance: {min_labels: 50}
deploy:
  model_name: demo
  serve:
    log: {url: "sqlite:///%s"}
"""


class Traffic:
    """Writes scored rows and labels as mlctl serve would."""

    def __init__(self, path: Path) -> None:
        self.log = PredictionLog(f"sqlite:///{path}")
        self.log.open()
        self.rng = np.random.default_rng(0)

    def requests(self, n: int, version: int, variant: str, mu: float, ids=None, y=None):
        """``n`` one-row requests; positives score N(mu, 1), negatives N(0, 1)."""
        y = (self.rng.random(n) < 0.4).astype(int) if y is None else y
        score = 1 / (1 + np.exp(-(self.rng.normal(size=n) + mu * y - mu / 2)))
        ids = ids or [f"r{version}{variant[0]}-{i}-{self.rng.integers(1e9)}" for i in range(n)]
        now = time.time()
        for i in range(n):
            rid = shadow_id(ids[i]) if variant == "shadow" else ids[i]
            p = float(score[i])
            rows = rows_for(
                [rid], rid, now, "demo", version, variant, [{"a": 1}],
                ["Yes" if p >= 0.5 else "No"], [p], [{"No": 1 - p, "Yes": p}], 1.0,
            )  # fmt: skip
            self.log.write(rows).result(10)
        return ids, y

    def label(self, ids, y) -> None:
        self.log.feedback([(r, "Yes" if v else "No") for r, v in zip(ids, y, strict=True)])

    def close(self) -> None:
        self.log.close()
