"""docs/quickstart.md, run as written: its five commands take a CSV to a served model.

The first ```bash block of the page holds the five commands; they run in a fresh
folder, twice at the same time:

- on the Telco table at the path the page names (its first 500 rows, so that training
  is quick; the blank ``TotalCharges`` of row 489 is among them);
- on a regression table this test generates, with the file, ``--target`` and
  ``--name`` of the commands swapped for its own.

``mlctl serve`` starts on a free port on 127.0.0.1 (the page's ``localhost:8000`` is
swapped for it) and is stopped at the end; the ``curl`` line runs in bash as written.
The page's second ```bash block, a ``/predict`` call with a Telco record, runs against
the Telco server.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from serve_helpers import Server
from serve_helpers import fresh_mlctl as mlctl  # the README's commands as typed

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "quickstart.md"
TELCO = "data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv"


def bash_blocks(text: str) -> list[list[str]]:
    """The commands of each ```bash block: comments dropped, continuations joined."""
    blocks = []
    for body in re.findall(r"^```bash\n(.*?)^```$", text, re.S | re.M):
        joined = body.replace("\\\n", " ")
        blocks.append([c.strip() for c in joined.splitlines() if c.strip() and c[0] != "#"])
    return blocks


BLOCKS = bash_blocks(DOC.read_text())
FIVE = BLOCKS[0]


@dataclass
class Walk:
    """What each command of one walk through the quickstart gave."""

    root: Path
    recipe: Path
    steps: list[tuple[str, int, str]] = field(default_factory=list)  # command, code, output
    answers: dict[str, str] = field(default_factory=dict)  # curl command → its stdout


def swap(command: str, csv: str, target: str, name: str) -> str:
    """The page's command for another file, target and name (the path goes first: it
    holds the word telco too)."""
    command = command.replace(TELCO, csv).replace("--target Churn", f"--target {target}")
    return command.replace("--name telco", f"--name {name}").replace(
        "recipes/telco.yaml", f"recipes/{name}.yaml"
    )


def walk(root: Path, csv: str, target: str, name: str, extra: list[str]) -> Walk:
    """Run the five commands (and ``extra`` curl commands) in ``root``."""
    result = Walk(root, root / "recipes" / f"{name}.yaml")
    server = None
    try:
        for command in [swap(c, csv, target, name) for c in FIVE] + extra:
            words = shlex.split(command)
            if words[:2] == ["mlctl", "serve"]:
                server = Server(root, *words[2:])
                server.wait_ready()
                result.steps.append((command, 0, ""))
            elif words[0] == "mlctl":
                done = mlctl(root, *words[1:])
                result.steps.append((command, done.returncode, done.stdout + done.stderr))
                if done.returncode != 0:
                    break
            else:
                assert server is not None, f"'{command}' runs before mlctl serve"
                live = command.replace("localhost:8000", f"127.0.0.1:{server.port}")
                done = subprocess.run(
                    ["bash", "-c", live], cwd=root, capture_output=True, text=True, timeout=60
                )
                result.steps.append((command, done.returncode, done.stderr))
                result.answers[command] = done.stdout
    finally:
        if server is not None:
            server.stop()
    return result


def telco_slice(root: Path) -> None:
    (root / "data" / "telco").mkdir(parents=True)
    raw = pd.read_csv(REPO / TELCO, dtype=str, keep_default_na=False)
    raw.head(500).to_csv(root / TELCO, index=False)


def generated_table(root: Path) -> None:
    """Shop orders: an id, a date, numbers (one stored as text with blanks), categories,
    a constant column, and a revenue target driven by them."""
    rng = np.random.default_rng(11)
    n = 400
    seats = rng.integers(1, 50, n)
    plan = rng.choice(["basic", "pro", "team"], n)
    discount = rng.uniform(0, 0.3, n)
    revenue = seats * np.select([plan == "basic", plan == "pro"], [10, 25], 40) * (1 - discount)
    frame = pd.DataFrame(
        {
            "order_id": [f"o-{i:05d}" for i in range(n)],
            "ordered_on": pd.date_range("2025-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "seats": seats,
            "plan": plan,
            "discount": [" " if i % 25 == 0 else f"{d:.3f}" for i, d in enumerate(discount)],
            "channel": rng.choice(["web", "sales", "partner"], n),
            "currency": "EUR",
            "revenue": revenue + rng.normal(0, 5, n),
        }
    )
    (root / "data").mkdir()
    frame.to_csv(root / "data" / "orders.csv", index=False)


@pytest.fixture(scope="module")
def walks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Walk]:
    """Both walks, side by side (each one is mostly waiting on a subprocess)."""
    telco_root = tmp_path_factory.mktemp("telco")
    telco_slice(telco_root)
    own_root = tmp_path_factory.mktemp("own")
    generated_table(own_root)
    with ThreadPoolExecutor(2) as pool:
        telco = pool.submit(walk, telco_root, TELCO, "Churn", "telco", BLOCKS[1])
        own = pool.submit(walk, own_root, "data/orders.csv", "revenue", "orders", [])
        return {"telco": telco.result(), "own": own.result()}


def test_the_page_has_five_commands_from_init_to_a_prediction() -> None:
    assert len(FIVE) == 5
    assert [shlex.split(c)[:2] for c in FIVE[:4]] == [
        ["mlctl", "init"],
        ["mlctl", "validate"],
        ["mlctl", "run"],
        ["mlctl", "serve"],
    ]
    assert "curl" in FIVE[4] and "localhost:8000" in FIVE[4]


@pytest.mark.parametrize("which", ["telco", "own"])
def test_every_command_succeeds(walks: dict[str, Walk], which: str) -> None:
    steps = walks[which].steps
    for command, code, output in steps:
        assert code == 0, f"{command}\nexit {code}\n{output[-3000:]}"
    assert len(steps) == len(FIVE) + (len(BLOCKS[1]) if which == "telco" else 0)


def test_telco_walk_predicts_over_http(walks: dict[str, Walk]) -> None:
    w = walks["telco"]
    csv_answer = json.loads(w.answers[FIVE[4]])
    assert len(csv_answer["predictions"]) == 2
    assert set(csv_answer["predictions"]) <= {"Yes", "No"}
    answer = json.loads(w.answers[BLOCKS[1][0]])
    (row,) = answer["predictions"]
    assert answer["model"] == {"name": "telco", "version": 1, "variant": "champion"}
    assert set(row["probabilities"]) == {"No", "Yes"} and row["customerID"] == "x-1"
    recipe = yaml.safe_load(w.recipe.read_text())
    assert recipe["data"]["coerce"] == {"TotalCharges": "float"}
    assert recipe["data"]["source"] == "../" + TELCO


def test_generated_table_walk_predicts_revenue(walks: dict[str, Walk]) -> None:
    w = walks["own"]
    answer = json.loads(w.answers[swap(FIVE[4], "data/orders.csv", "revenue", "orders")])
    assert len(answer["predictions"]) == 2
    assert all(isinstance(p, float) for p in answer["predictions"])
    recipe = yaml.safe_load(w.recipe.read_text())
    assert recipe["task"] == "regression"
    assert recipe["data"]["coerce"] == {"discount": "float"}
    assert recipe["data"]["id_column"] == "order_id"
    assert sorted(recipe["features"]["categorical"]) == ["channel", "plan"]
    run_output = w.steps[2][2]
    assert "registered orders version 1 (champion)" in run_output


MONITOR = re.search(r"`(mlctl monitor [^`]+)`", DOC.read_text())[1]  # the page's "Next" step


@pytest.mark.parametrize("which", ["telco", "own"])
def test_next_step_monitor_right_after_a_few_predictions(walks: dict[str, Walk], which) -> None:
    """The page's monitor step, run right after its few predictions: never attention for
    too little data (issue 13), and the rows just logged are counted (issue 19)."""
    w = walks[which]
    command = MONITOR if which == "telco" else swap(MONITOR, "data/orders.csv", "revenue", "orders")
    words = shlex.split(command)
    done = mlctl(w.root, *words[1:], "--no-mlflow")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not enough data" in done.stdout and "attention" not in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    doc = json.loads(mlctl(w.root, *words[1:], "--no-mlflow", "--json").stdout)
    assert doc["status"] == "not_enough_data" and doc["drift"]["n_drifted"] == 0
    assert doc["volume"]["recent"]["total"] == doc["source"]["rows"] > 0
