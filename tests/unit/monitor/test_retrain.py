"""The retrain step of ``mlctl monitor`` gets its training run passed in: the monitor
never imports the runner (tests/unit/test_structure.py), ``mlctl.api.monitor`` passes
one that runs ``mlctl.runner.run`` unpromoted."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mlctl import api
from mlctl.errors import RegistryError, TrainingError, UsageError
from mlctl.monitor.retrain import retrain
from mlctl.monitor.run import MonitorOptions, monitor
from mlctl.recipe.loader import load_recipe

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def loaded():
    return load_recipe(REPO / "recipes" / "churn.yaml", ["models=fast"], training=False)


def test_a_retrain_without_a_trainer_is_refused_before_any_work(loaded, tmp_path) -> None:
    ws = tmp_path / "ws"
    with pytest.raises(UsageError, match="retraining needs a trainer"):
        monitor(loaded, MonitorOptions(workspace=str(ws), retrain=True))
    assert not ws.exists()


def test_the_api_passes_the_runner(loaded, tmp_path) -> None:
    # Past the trainer check: the next step finds no registered model in the workspace.
    with pytest.raises(RegistryError, match="no tracking database"):
        api.monitor(loaded, MonitorOptions(workspace=str(tmp_path / "ws"), retrain=True))
    with pytest.raises(TypeError, match="overrides go with a recipe file"):
        api.monitor(loaded, overrides=["monitor.window=2h"])


def _ctx(loaded, events: list) -> SimpleNamespace:
    return SimpleNamespace(
        r=loaded.recipe,
        loaded=loaded,
        options=SimpleNamespace(workspace="/some/ws"),
        emit=lambda kind, data: events.append((kind, data)),
    )


def test_the_trainer_gets_an_unpromoted_copy_and_the_trigger_tag(loaded) -> None:
    calls, events = [], []

    def train(copy, workspace, tags, on_event):
        calls.append((copy, workspace, tags))
        on_event("stage", {"message": "training"})
        raise TrainingError("every candidate failed")

    block = retrain(_ctx(loaded, events), "on_drift", train)
    assert block["outcome"] == "failed" and "every candidate failed" in block["reason"]
    ((copy, workspace, tags),) = calls
    assert workspace == "/some/ws" and tags == {"mlctl.trigger": "monitor on_drift"}
    assert copy.recipe.deploy.auto_promote is False and copy.recipe is not loaded.recipe
    assert ("stage", {"message": "retrain: training"}) in events


def test_a_retrained_model_that_fails_its_gate_is_not_registered(loaded) -> None:
    check = SimpleNamespace(name="min_roc_auc", passed=False)
    summary = SimpleNamespace(
        run_id="r1", ready=False, version=None, verdict=SimpleNamespace(checks=[check])
    )
    block = retrain(_ctx(loaded, []), "--retrain", lambda *args: summary)
    assert block["outcome"] == "not_registered" and block["gate"] == "failed"
    assert "min_roc_auc" in block["reason"] and block["run_id"] == "r1"
