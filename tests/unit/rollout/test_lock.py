"""Rollout evaluations of one model take turns: cron and a ``--watch`` (or two
overlapping cron runs) must not both read the same state and both move it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from predlog_traffic import RECIPE
from recipe_builders import write_recipe

from mlctl.errors import RegistryError, TrackingError
from mlctl.paths import rollout_lock_path
from mlctl.recipe.loader import load_recipe
from mlctl.rollout import run as rollout_run
from mlctl.tracking.workspace import file_lock, for_recipe, prepare

pytestmark = pytest.mark.unit


@pytest.fixture
def loaded(tmp_path: Path):
    loaded = load_recipe(write_recipe(tmp_path, RECIPE % (tmp_path / "log.db")))
    prepare(for_recipe(loaded, str(tmp_path / "ws")))
    return loaded


def test_an_evaluation_waits_for_the_one_running(loaded, tmp_path) -> None:
    options = rollout_run.RolloutOptions(workspace=str(tmp_path / "ws"))
    lock = rollout_lock_path(tmp_path / "ws", "demo")
    outcome: list = []

    def evaluate() -> None:
        try:
            outcome.append(rollout_run.rollout(loaded, options))
        except RegistryError as exc:  # the store has no model 'demo': it ran
            outcome.append(exc)

    with file_lock(lock, 5, "the rollout lock"):  # another evaluation is running
        waiting = threading.Thread(target=evaluate, daemon=True)
        waiting.start()
        time.sleep(0.8)
        assert waiting.is_alive() and not outcome  # it waits its turn
    waiting.join(60)
    assert len(outcome) == 1 and "no registered model named 'demo'" in str(outcome[0])


def test_a_lock_held_too_long_is_an_error_naming_it(loaded, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(rollout_run, "LOCK_SECONDS", 0.3)
    lock = rollout_lock_path(tmp_path / "ws", "demo")
    with file_lock(lock, 5, "the rollout lock"), pytest.raises(TrackingError) as raised:
        rollout_run.rollout(loaded, rollout_run.RolloutOptions(workspace=str(tmp_path / "ws")))
    assert "rollout lock" in str(raised.value) and str(lock) in str(raised.value)
    assert "0.3 s" in str(raised.value)
