"""The rollout's ``ab_verdict`` guard reads ``mlctl compare``'s verdict on the labelled
traffic logged since the step began (a real SQLite log written by the server's writer,
with simulated answers of a known effect)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from predlog_traffic import RECIPE, Traffic
from recipe_builders import write_recipe

from mlctl.recipe.loader import load_recipe
from mlctl.rollout.plan import BREACH, NOT_CHECKED, OK, Plan, ab_verdict_guard
from mlctl.rollout.run import ab_verdict

pytestmark = pytest.mark.unit


@pytest.fixture
def loaded_and_traffic(tmp_path: Path):
    db = tmp_path / "log.db"
    loaded = load_recipe(write_recipe(tmp_path, RECIPE % db))
    traffic = Traffic(db)
    yield loaded, traffic
    traffic.close()


def test_a_worse_challenger_breaks_the_guard_and_a_better_one_keeps_it(loaded_and_traffic):
    loaded, traffic = loaded_and_traffic
    since = time.time() - 1
    traffic.label(*traffic.requests(400, 1, "champion", mu=2.5))  # AUC ~0.96
    traffic.label(*traffic.requests(400, 2, "challenger", mu=0.3))  # AUC ~0.58
    traffic.label(*traffic.requests(400, 3, "challenger", mu=2.5))
    traffic.label(*traffic.requests(400, 5, "champion", mu=0.3))  # a weak champion
    plan = Plan.of(loaded.recipe)
    now = time.time()
    worse = ab_verdict(loaded, None, 1, 2, since, now)
    assert worse == "worse"
    assert ab_verdict_guard(plan, None, worse).outcome == BREACH
    # Version 3 is as good as the champion: no significant difference, not checked.
    same = ab_verdict(loaded, None, 1, 3, since, now)
    assert same != "worse"
    assert ab_verdict_guard(plan, None, same).outcome in (OK, NOT_CHECKED)
    # Against the weak champion (version 5), version 3 is better.
    assert ab_verdict(loaded, None, 5, 3, since, now) == "better"


def test_no_labels_no_champion_or_the_champion_itself_give_no_verdict(loaded_and_traffic):
    loaded, traffic = loaded_and_traffic
    since = time.time() - 1
    traffic.requests(100, 1, "champion", mu=2.0)
    traffic.requests(100, 2, "challenger", mu=0.1)
    now = time.time()
    unlabelled = ab_verdict(loaded, None, 1, 2, since, now)
    assert unlabelled not in ("worse", "better")
    assert ab_verdict_guard(Plan.of(loaded.recipe), None, unlabelled).outcome == NOT_CHECKED
    assert ab_verdict(loaded, None, None, 2, since, now) is None
    assert ab_verdict(loaded, None, 2, 2, since, now) is None
