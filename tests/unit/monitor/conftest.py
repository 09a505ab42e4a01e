"""Result documents built by the real monitoring building blocks, as `mlctl monitor` does.

The reference is a Telco training split profiled by ``build_profile``; the current data is
the rest of the table, shifted (higher charges, shorter tenure, more month-to-month
contracts, a new payment method whose name is markup); scores come from a fixed formula.
Performance and volume run on small synthetic inputs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlctl.monitor.drift import DriftOptions, dataset_drift, prediction_drift
from mlctl.monitor.performance import performance
from mlctl.monitor.profile import build_profile
from mlctl.monitor.volume import volume_check
from mlctl.monitor.window import Window

REPO = Path(__file__).resolve().parents[3]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
# The churn recipe's input columns (the recipe is where they are written down).
_FEATURES = yaml.safe_load((REPO / "recipes" / "churn.yaml").read_text())["features"]
NUMERIC, CATEGORICAL = _FEATURES["numeric"], _FEATURES["categorical"]
H, DAY = 3600, 86400
END = 1_714_521_600 + 8 * DAY  # 2024-05-09T00:00:00Z
EVIL = "<script>alert(1)</script>"


def _scores(frame: pd.DataFrame) -> np.ndarray:
    """A stand-in churn model: short tenure, high charges, monthly contracts churn."""
    tenure = pd.to_numeric(frame["tenure"], errors="coerce").fillna(0).to_numpy()
    charges = pd.to_numeric(frame["MonthlyCharges"], errors="coerce").fillna(0).to_numpy()
    monthly = (frame["Contract"] == "Month-to-month").to_numpy()
    z = -1.2 - 0.04 * tenure + 0.02 * (charges - 60) + 1.3 * monthly
    return 1 / (1 + np.exp(-z))


def _current(telco: pd.DataFrame) -> pd.DataFrame:
    cur = telco.iloc[5000:].copy().reset_index(drop=True)
    rng = np.random.default_rng(7)
    cur["MonthlyCharges"] = cur["MonthlyCharges"] * 1.25 + 5
    cur["tenure"] = (cur["tenure"] * 0.6).round().astype(int)
    flip = rng.random(len(cur)) < 0.35
    cur.loc[flip, "Contract"] = "Month-to-month"
    cur.loc[rng.random(len(cur)) < 0.15, "PaymentMethod"] = f"Crypto {EVIL}"
    cur.loc[rng.random(len(cur)) < 0.2, "TotalCharges"] = " "
    cur.loc[rng.random(len(cur)) < 0.5, "InternetService"] = "Fiber optic"
    return cur


def _labelled(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Logged predictions with ground truth over 4 days; the model gets worse each day."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    day = np.arange(n) * 4 // n
    noise = 0.3 + 0.12 * day
    p1 = np.clip(0.2 + 0.6 * truth + rng.normal(0, noise, n), 0.01, 0.99)
    text = ["No", "Yes"]
    return pd.DataFrame(
        {
            "ts": END - 4 * DAY + np.arange(n) * (4 * DAY / n),
            "model_version": 3,
            "prediction": [text[int(p >= 0.5)] for p in p1],
            "score": p1,
            "probabilities": [json.dumps({"No": 1 - p, "Yes": p}) for p in p1],
            "label": [text[t] for t in truth],
        }
    )


def _hourly() -> dict[int, int]:
    """Seven steady days, then a last day at a third of the traffic."""
    start = END - 8 * DAY
    rng = np.random.default_rng(3)
    out = {}
    for i in range(8 * 24):
        base = 120 + 60 * np.sin(2 * np.pi * (i % 24) / 24)
        out[start + i * H] = int(rng.poisson(base / (3 if i >= 7 * 24 else 1)))
    return out


def build_result(telco: pd.DataFrame) -> dict:
    """A full result document, every section computed."""
    train, test = telco.iloc[:4000], telco.iloc[4000:5000]
    test_scores = _scores(test)
    profile = build_profile(
        train,
        NUMERIC,
        CATEGORICAL,
        scores=test_scores,
        predictions=np.where(test_scores >= 0.5, "Yes", "No"),
        metrics={"roc_auc": 0.84, "accuracy": 0.8, "log_loss": 0.42},
        score_meaning="probability of class 'Yes'",
    )
    cur = _current(telco)
    drift = dataset_drift(profile, cur, DriftOptions())
    cur_scores = _scores(cur)
    pred = prediction_drift(profile, cur_scores, np.where(cur_scores >= 0.5, "Yes", "No"))
    perf = performance(
        _labelled(),
        task="classification",
        classes=["No", "Yes"],
        positive_class="Yes",
        metrics=["roc_auc", "accuracy", "log_loss"],
        trained={"roc_auc": 0.84, "accuracy": 0.8, "log_loss": 0.42},
        max_drop=0.05,
        min_labels=200,
        thresholds={"min_roc_auc": 0.8},
        n_predictions=2043,
        series_min_labels=30,
    )
    vol = volume_check(_hourly(), 24, 168, 0.5, 3.0, 72, end=END)
    window = Window(END - DAY, END)
    reasons = []  # as mlctl monitor words them
    if drift.dataset_drift:
        reasons.append(f"data drift: {len(drift.drifted)} of {len(drift.tested)} columns drifted")
    if pred.drifted:
        shown = ", ".join(f"{c.column} ({c.test} {c.score:.3g})" for c in pred.drifted)
        reasons.append(f"prediction drift: {shown}")
    reasons += [f"performance {perf.message}"] if perf.flagged else []
    reasons += [vol.message] if vol.flagged else []
    return {
        "schema_version": 1,
        "status": "attention",
        "reasons": reasons,
        "recipe": "recipes/churn.yaml",
        "model": {"name": "churn", "version": "3", "run_id": "a1b2c3d4e5f6", "alias": "champion"},
        "window": window.to_dict(),
        "source": {"kind": "log", "location": "sqlite:///.mlctl/predictions.db", "rows": len(cur)},
        "drift": drift.to_dict(),
        "prediction_drift": pred.to_dict(),
        "performance": perf.to_dict(),
        "volume": vol.to_dict(),
        "alerts": [
            {
                "kind": "webhook",
                "target": "https://hooks.example.com/T000",
                "ok": True,
                "status": 200,
            }
        ],
        "retrain": None,
        "generated_at": "2024-05-09T00:05:12Z",
        "mlctl_version": "0.1.0",
    }


@pytest.fixture(scope="session")
def telco() -> pd.DataFrame:
    return pd.read_csv(TELCO)


@pytest.fixture(scope="session")
def _result(telco: pd.DataFrame) -> dict:
    return build_result(telco)


@pytest.fixture
def result(_result: dict) -> dict:
    """A fresh copy of the full result document (tests may change it)."""
    return copy.deepcopy(_result)


@pytest.fixture(scope="session")
def html_text(_result: dict) -> str:
    """The report of the full result document, rendered once."""
    from mlctl.monitor.report import render_report

    return render_report(_result)
