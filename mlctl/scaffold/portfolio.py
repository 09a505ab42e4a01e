"""The candidates ``mlctl init`` proposes: a portfolio per size tier, the search budget
and the ensemble, each with the reason for it (pure; :mod:`mlctl.scaffold.plan` uses it).

In the spirit of AutoGluon's and FLAML's zero-shot portfolios: a few strong, diverse
learners per tier, histogram boosting first (the likeliest winner, fast, early
stopping), a regularised linear model, bagged trees below 200,000 rows, LightGBM when
installed and trusted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Candidate:
    """A candidate model as the recipe writes it."""

    name: str
    estimator: str
    params: dict[str, Any]
    search: dict[str, Any]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tier_of(rows: int) -> str:
    if rows < 1_000:
        return "tiny"
    if rows < 2_000:
        return "small"
    if rows <= 20_000:
        return "medium"
    if rows <= 200_000:
        return "large"
    return "huge"


FOLDS = {"tiny": 5, "small": 5, "medium": 5, "large": 3, "huge": 3}
N_ITER = {"tiny": 4, "small": 6, "medium": 6, "large": 5, "huge": 4}
TREES = {"tiny": 100, "small": 150, "medium": 200, "large": 150}
#: tuning.time_budget init writes: seconds for the whole search, so that the run
#: (search, test evaluation, importance, logging) ends within 5 minutes on 2 cores.
TIME_BUDGET = {"tiny": 60, "small": 90, "medium": 150, "large": 150, "huge": 150}
#: Histogram boosting: early stopping on a 10 % validation share ends each fit when
#: 20 rounds bring nothing, so max_iter is a ceiling, not a cost.
HGB_FIXED = {
    "max_iter": 1000,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 20,
}
HGB_LEAVES = {
    "tiny": [4, 7, 15],
    "small": [4, 7, 15, 31],
    "medium": [4, 7, 15, 31],
    "large": [15, 31, 63, 127],
}
HGB_MIN_LEAF = {
    "tiny": [5, 10, 20],
    "small": [10, 20, 50],
    "medium": [20, 50, 100],
    "large": [20, 50, 100],
}
TIER_TEXT = {
    "tiny": "under 1,000 rows: 5 folds, 4 settings per candidate, small forests: a quick first run",
    "small": "1,000 to 2,000 rows: 5 folds, 6 settings per candidate, small forests",
    "medium": "2,000 to 20,000 rows: 5 folds, 6 settings per candidate",
    "large": "20,000 to 200,000 rows: 3 folds, 5 settings, subsampled forests",
    "huge": "over 200,000 rows: 3 folds, 4 settings, histogram boosting and a linear model only",
}
#: Optional boosting libraries init proposes when they are installed and trusted.
OPTIONAL_BOOSTERS = ("lightgbm",)


def candidates_for(task: str, rows: int, n_classes: int) -> list[Candidate]:
    """A portfolio sized to the rows: histogram boosting first (the likeliest winner on
    tabular data), a regularised linear model, bagged trees below 200,000 rows, and
    LightGBM when it is installed and trusted (``pip install mlctl[boost]``)."""
    tier = tier_of(rows)
    grid = tier if tier in HGB_LEAVES else "large"
    multiclass = task == "classification" and n_classes > 2
    hgb_search: dict[str, Any] = {
        "learning_rate": [0.03, 0.05, 0.1],
        "max_leaf_nodes": HGB_LEAVES[grid],
        "min_samples_leaf": HGB_MIN_LEAF[grid],
        "l2_regularization": [0.0, 1.0],
        "max_features": [0.5, 1.0],
    }
    out = [
        Candidate(
            "hgb",
            "hist_gradient_boosting",
            dict(HGB_FIXED),
            hgb_search,
            "histogram boosting: usually the most accurate on tabular data and fast; early "
            "stopping picks the number of trees" + (", one set per class" if multiclass else ""),
        )
    ]
    if task == "classification":
        out.append(
            Candidate(
                "logreg",
                "logistic_regression",
                {"max_iter": 2000},
                {"C": {"distribution": "loguniform", "low": 0.01, "high": 10.0}},
                "a regularised linear model: fast, a strong baseline on tabular data",
            )
        )
    else:
        out.append(
            Candidate(
                "ridge",
                "ridge",
                {},
                {"alpha": {"distribution": "loguniform", "low": 0.01, "high": 100.0}},
                "a regularised linear model: fast, a strong baseline on tabular data",
            )
        )
    if tier != "huge":
        params: dict[str, Any] = {"n_estimators": TREES[tier], "n_jobs": 1}
        if tier == "large":
            params["max_samples"] = 0.3
        leaf = [2, 5, 10] if tier in ("tiny", "small") else [5, 10, 20, 40]
        out.append(
            Candidate(
                "random_forest",
                "random_forest",
                params,
                {
                    "max_depth": [6, 10, 14, None],
                    "min_samples_leaf": leaf,
                    "max_features": ["sqrt", 0.3, 0.6],
                },
                "bagged trees: robust, little tuning, errs differently from boosting"
                + ("; each tree sees 30 % of the rows" if tier == "large" else ""),
            )
        )
    out += _optional_boosters(tier)
    return out


def _optional_boosters(tier: str) -> list[Candidate]:
    """LightGBM when installed and trusted (a logged model may only hold trusted types)."""
    import importlib.util

    from mlctl.trust import allowed_prefixes

    out: list[Candidate] = []
    for name in OPTIONAL_BOOSTERS:
        if importlib.util.find_spec(name) is None or f"{name}." not in allowed_prefixes():
            continue
        out.append(
            Candidate(
                name,
                name,
                {"n_estimators": 400, "n_jobs": 1, "verbose": -1, "subsample_freq": 1},
                {
                    "learning_rate": [0.03, 0.05, 0.1],
                    "num_leaves": HGB_LEAVES[tier if tier in HGB_LEAVES else "large"],
                    "min_child_samples": [10, 20, 50],
                    "subsample": [0.7, 0.9, 1.0],
                    "colsample_bytree": [0.5, 0.8, 1.0],
                },
                "LightGBM (installed and trusted): leaf-wise boosting, another strong learner",
            )
        )
    return out


def time_budget_for(rows: int) -> int:
    """Seconds of search init allows, so the whole run ends within 5 minutes on 2 cores."""
    return TIME_BUDGET[tier_of(rows)]


def ensemble_for(rows: int) -> dict[str, Any] | None:
    """Soft voting of the top 3 below 200,000 rows: one more cross-validation, ranked like
    any candidate (it wins only when it scores better)."""
    return None if tier_of(rows) == "huge" else {"method": "voting", "top": 3}
