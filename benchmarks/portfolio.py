"""``mlctl init`` + ``mlctl run`` as a newcomer runs them, against a reference per table.

For each table: ``mlctl init FILE --target T`` writes a recipe, ``mlctl run`` trains it
(both as subprocesses, timed together from launch to exit). Then, in this process, on
the run's own training split: the winner's configuration is cross-validated with 5
folds, and for Telco and housing the reference, a tuned HistGradientBoosting on the
same preprocessing (random search, 5 folds), is measured. Adult and bank-full are
compared with the AutoML benchmark's figures (ROC AUC).

    python benchmarks/portfolio.py            # all four tables
    python benchmarks/portfolio.py --quick    # one small table, a few seconds of search
    python benchmarks/portfolio.py --only telco,housing

Prints one row per table: test score (ROC AUC or R²), the winner's 5-fold CV, the
reference, the gap and the wall time, with the machine's load (``uptime``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path("/work/shared/datasets")
#: ROC AUC of the AutoML benchmark's best framework (AMLB, 1h budget).
AUTOML = {"adult": 0.9298, "bank": 0.9371}
#: The goal of issue 17: within this much of the reference.
TOLERANCE = {"classification": 0.002, "regression": 0.005}
GOAL_SECONDS = 300
#: --quick: a smoke run of the whole path, a second of search, no worker processes.
QUICK_OVERRIDES = [
    "tuning.time_budget=1",
    "tuning.n_iter=1",
    "tuning.n_jobs=1",
    "models.cv_folds=2",
    "evaluation.importance_repeats=0",
]


@dataclass(frozen=True)
class Table:
    name: str
    file: str  # under /work/shared/datasets, or data/ in the repo
    target: str
    task: str
    sep: str | None = None


TABLES = [
    Table("adult", "adult/adult.csv", "income", "classification"),
    Table("bank", "bank_marketing/bank-full.csv", "y", "classification", sep=";"),
    Table("telco", "telco/WA_Fn-UseC_-Telco-Customer-Churn.csv", "Churn", "classification"),
    Table("housing", "california_housing/housing.csv", "median_house_value", "regression"),
]


def source(table: Table) -> Path:
    """The shared copy, else the repo's data/ copy (same file name)."""
    shared = SHARED / table.file
    if shared.exists():
        return shared
    found = sorted(ROOT.glob(f"data/**/{Path(table.file).name}"))
    if not found:
        raise SystemExit(f"{table.file}: not in {SHARED} nor under {ROOT / 'data'}")
    return found[0]


def mlctl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mlctl", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children and theirs."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def newcomer(table: Table, folder: Path, quick: bool) -> tuple[dict[str, Any], Path, float, float]:
    """init + run; returns the run's JSON summary, the recipe, the wall seconds and the
    CPU seconds of both processes and their workers."""
    data = source(table)
    if quick:  # the first rows only, and a few seconds of search
        lines = data.read_text().splitlines()[:401]
        data = folder / data.name
        data.write_text("\n".join(lines) + "\n")
    started, cpu = time.perf_counter(), children_cpu()
    args = ["init", str(data), "--target", table.target, "--name", table.name, "-q"]
    done = mlctl(*args, *(["--sep", table.sep] if table.sep else []), cwd=folder)
    if done.returncode:
        raise SystemExit(f"{table.name}: mlctl init failed:\n{done.stderr}")
    recipe = folder / "recipes" / f"{table.name}.yaml"
    overrides = QUICK_OVERRIDES if quick else []
    done = mlctl("run", str(recipe), *overrides, "--json", cwd=folder)
    seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode not in (0, 3):
        raise SystemExit(f"{table.name}: mlctl run failed:\n{done.stderr}")
    return json.loads(done.stdout), recipe, seconds, cpu


def winner_pipeline(loaded: Any, summary: dict[str, Any]) -> Any:
    """The winner's configuration (tuned settings), unfitted, rebuilt from the recipe."""
    from mlctl.data.prepare import pipeline_types
    from mlctl.features.build import build_pipeline
    from mlctl.recipe.schema.training import ENSEMBLE
    from mlctl.train.search import SearchResult
    from mlctl.train.trainer import candidates, ensemble_estimator, make_estimator

    r = loaded.recipe
    types = pipeline_types(r)
    rows = {row["candidate"]: row for row in summary["leaderboard"]}

    def tuned(name: str, params: dict[str, Any]) -> Any:
        estimator, _ = make_estimator(r, candidates(r)[name])
        return build_pipeline(r.features, types, estimator.set_params(**params))

    if summary["winner"] != ENSEMBLE:
        return tuned(summary["winner"], rows[summary["winner"]]["best_params"])
    members: dict[str, dict[str, Any]] = {}
    for key, value in rows[ENSEMBLE]["best_params"].items():
        member, _, param = key.partition(".")
        members.setdefault(member, {})[param] = value
    fake = [
        SearchResult(m, "", 0.0, 0.0, p, tuned(m, p), 1, 0.0) for m, p in members.items()
    ]  # ensemble_estimator reads each member's name and tuned model step
    estimator, _ = ensemble_estimator(r, fake)
    return build_pipeline(r.features, types, estimator)


def scorer_of(task: str) -> str:
    return "roc_auc" if task == "classification" else "r2"


def cv5(pipeline: Any, data: Any, task: str, folds: int, seed: int, n_jobs: int) -> float:
    from sklearn.model_selection import cross_val_score

    from mlctl.train.search import cv_splitter

    cv = cv_splitter(task, "random", folds, seed)
    y = data.y_train
    if task == "classification":
        y = (y == data.positive_class).astype(int)
    scores = cross_val_score(
        pipeline, data.X_train, y, scoring=scorer_of(task), cv=cv, n_jobs=n_jobs
    )
    return float(scores.mean())


def tuned_hgb(loaded: Any, data: Any, task: str, folds: int, n_iter: int, n_jobs: int) -> float:
    """Reference: HistGradientBoosting on the recipe's preprocessing, random search."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import RandomizedSearchCV

    from mlctl.data.prepare import pipeline_types
    from mlctl.features.build import build_pipeline
    from mlctl.train.search import cv_splitter

    r = loaded.recipe
    cls = (
        HistGradientBoostingClassifier
        if task == "classification"
        else HistGradientBoostingRegressor
    )
    model = cls(max_iter=1000, early_stopping=True, n_iter_no_change=20, random_state=r.seed)
    space = {
        "model__learning_rate": [0.02, 0.03, 0.05, 0.1],
        "model__max_leaf_nodes": [7, 15, 31, 63],
        "model__min_samples_leaf": [10, 20, 50, 100],
        "model__l2_regularization": [0.0, 0.1, 1.0],
        "model__max_features": [0.5, 0.8, 1.0],
    }
    y = data.y_train
    if task == "classification":
        y = (y == data.positive_class).astype(int)
    search = RandomizedSearchCV(
        build_pipeline(r.features, pipeline_types(r), model),
        space,
        n_iter=n_iter,
        scoring=scorer_of(task),
        cv=cv_splitter(task, "random", folds, r.seed),
        n_jobs=n_jobs,
        random_state=r.seed,
        refit=False,
    )
    search.fit(data.X_train, y)
    return float(search.best_score_)


def measure(table: Table, quick: bool, ref_iter: int) -> dict[str, Any]:
    from mlctl.api import load
    from mlctl.data.prepare import load_dataset

    with tempfile.TemporaryDirectory(prefix=f"portfolio-{table.name}-") as tmp:
        summary, recipe, seconds, cpu = newcomer(table, Path(tmp), quick)
        loaded = load(recipe, [])
        data = load_dataset(loaded)
        folds, n_jobs = (2, 1) if quick else (5, -1)
        metric = "roc_auc" if table.task == "classification" else "r2"
        row = {
            "table": table.name,
            "rows": data.rows,
            "winner": summary["winner"],
            "test": summary["test_metrics"][metric],
            "cv": cv5(
                winner_pipeline(loaded, summary),
                data,
                table.task,
                folds,
                loaded.recipe.seed,
                n_jobs,
            ),
            "seconds": seconds,
            "cpu_seconds": cpu,
            "leaderboard": [
                {k: row[k] for k in ("candidate", "cv_mean", "settings_tried", "settings_skipped")}
                for row in summary["leaderboard"]
            ],
            "metric": metric,
            "task": table.task,
        }
        if table.name in AUTOML and not quick:
            row["reference"], row["ref_kind"] = AUTOML[table.name], "AutoML (AMLB)"
            row["gap"] = row["test"] - row["reference"]
        else:
            ref = tuned_hgb(loaded, data, table.task, folds, 2 if quick else ref_iter, n_jobs)
            row["reference"], row["ref_kind"] = ref, f"tuned HGB, {folds}-fold CV"
            row["gap"] = row["cv"] - row["reference"]
        row["score_met"] = row["gap"] >= -TOLERANCE[table.task]
        row["time_met"] = row["seconds"] <= GOAL_SECONDS
        return row


def render(rows: list[dict[str, Any]], load_before: str, load_after: str) -> str:
    head = (
        "| table | rows | winner | test | 5-fold CV | reference | gap | wall s | CPU s | score met | ≤ 5 min |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['table']} | {r['rows']:,} | {r['winner']} | {r['metric']} {r['test']:.4f} "
            f"| {r['cv']:.4f} | {r['reference']:.4f} ({r['ref_kind']}) | {r['gap']:+.4f} "
            f"| {r['seconds']:.0f} | {r['cpu_seconds']:.0f} | {_yes(r['score_met'])} "
            f"| {_yes(r['time_met'])} |"
        )
    lines.append(f"\nload before: {load_before}\nload after:  {load_after}")
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small table, smoke run")
    parser.add_argument("--only", help="comma-separated tables: adult,bank,telco,housing")
    parser.add_argument("--ref-iter", type=int, default=12, help="reference HGB settings")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    tables = TABLES
    if args.quick:
        tables = [t for t in TABLES if t.name == "telco"]
    if args.only:
        wanted = set(args.only.split(","))
        tables = [t for t in TABLES if t.name in wanted]
    before = uptime()
    rows = []
    for table in tables:
        rows.append(measure(table, args.quick, args.ref_iter))
        print(f"{table.name}: done ({uptime()})", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"rows": rows, "load_before": before, "load_after": uptime()}))
    else:
        print(render(rows, before, uptime()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
