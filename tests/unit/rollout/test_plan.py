"""The rollout's state machine: given the plan, the state, the numbers and the time,
what happens next (pure: no registry, no log)."""

from __future__ import annotations

import pytest

from mlctl.recipe.schema import Recipe
from mlctl.rollout.plan import (
    BREACH,
    NOT_CHECKED,
    OK,
    WATCH,
    Numbers,
    Plan,
    State,
    decide,
    judge,
    over_limit_p_value,
)

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0
PLAN = Plan(
    steps=(5.0, 25.0, 50.0, 100.0),
    min_requests=100,
    min_minutes=10.0,
    max_error_rate=0.01,
    p95_ms=100.0,
    ab_verdict=True,
    auto_rollback=True,
    approval="required",
)
GOOD = Numbers(answered=150, failed=0, slow=2, p95_ms=20.0)


def running(step: int = 0, started: float = T0) -> State:
    return State("running", step, PLAN.steps[step], started)


def test_a_new_rollout_starts_at_the_first_step() -> None:
    d = decide(PLAN, State(), Numbers(), T0)
    assert d.action == "start" and d.state == State("running", 0, 5.0, T0)


def test_a_step_holds_until_requests_and_minutes_are_both_there() -> None:
    few = decide(PLAN, running(), Numbers(answered=40, p95_ms=10.0), T0 + 3600)
    assert few.action == "hold" and "40 of 100 requests" in few.reason
    early = decide(PLAN, running(), GOOD, T0 + 300)
    assert early.action == "hold" and "5.0 of 10 minutes" in early.reason
    assert early.state is running() or early.state == running()


def test_a_step_that_held_goes_on_to_the_next() -> None:
    d = decide(PLAN, running(0), GOOD, T0 + 601)
    assert d.action == "advance" and d.state == State("running", 1, 25.0, T0 + 601)
    assert d.changed and all(g.outcome in (OK, NOT_CHECKED) for g in d.guards)


def test_the_step_to_100_waits_for_approval_then_promotes() -> None:
    d = decide(PLAN, running(2), GOOD, T0 + 601)
    assert d.action == "await_approval" and d.state.status == "awaiting_approval"
    assert d.state.percent == 50.0  # the challenger keeps its share while it waits
    again = decide(PLAN, d.state, GOOD, T0 + 900)
    assert again.action == "hold" and "--approve" in again.reason and not again.changed
    approved = decide(PLAN, d.state, GOOD, T0 + 901, approve=True)
    assert approved.action == "promote"
    assert approved.state == State("promoted", 3, 100.0, T0 + 901)


def test_approval_auto_promotes_without_asking() -> None:
    plan = Plan(**{**PLAN.__dict__, "approval": "auto"})
    d = decide(plan, running(2), GOOD, T0 + 601)
    assert d.action == "promote" and d.state.status == "promoted"


def test_a_promoted_version_is_watched_one_more_step_then_done() -> None:
    promoted = State("promoted", 3, 100.0, T0)
    assert decide(PLAN, promoted, GOOD, T0 + 60).action == "hold"
    d = decide(PLAN, promoted, GOOD, T0 + 601)
    assert d.action == "finish" and d.state.status == "done"
    assert decide(PLAN, d.state, GOOD, T0 + 9999).action == "none"


def test_errors_beyond_chance_roll_back_at_once() -> None:
    # Two errors in the first three requests: not the 1 % the plan allows.
    d = decide(PLAN, running(1), Numbers(answered=1, failed=2, p95_ms=5.0), T0 + 5)
    assert d.action == "rollback" and d.state.status == "rolled_back" and d.state.percent == 0
    assert "error rate 66.67 % (2 of 3 requests), limit 1 %" in d.reason
    assert d.reason.startswith("rolled back at 25 %")


def test_one_error_among_few_requests_holds_instead_of_rolling_back() -> None:
    # 1 of 50 (2 %) is over the 1 % limit but well within chance for a 1 % challenger.
    d = decide(PLAN, running(), Numbers(answered=49, failed=1, p95_ms=5.0), T0 + 5)
    assert d.action == "hold"
    assert [g.outcome for g in d.guards if g.name == "error_rate"] == [WATCH]


def test_a_slow_challenger_breaches_the_p95_guard() -> None:
    slow = Numbers(answered=12, failed=0, slow=11, p95_ms=412.0)
    d = decide(PLAN, running(), slow, T0 + 5)
    assert d.action == "rollback"
    assert "p95 412.0 ms, limit 100 ms (11 of 12 requests slower than 100 ms)" in d.reason


def test_a_breach_after_promotion_rolls_back_too() -> None:
    d = decide(PLAN, State("promoted", 3, 100.0, T0), Numbers(10, 0, 10, 300.0), T0 + 5)
    assert d.action == "rollback" and d.reason.startswith("rolled back after the promotion")


def test_without_auto_rollback_a_breach_is_reported_and_held() -> None:
    plan = Plan(**{**PLAN.__dict__, "auto_rollback": False})
    d = decide(plan, running(), Numbers(answered=10, failed=5), T0 + 5)
    assert d.action == "hold" and "auto_rollback off" in d.reason and not d.changed
    assert any(g.outcome == BREACH for g in d.guards)


def test_a_breach_while_waiting_for_approval_rolls_back() -> None:
    waiting = State("awaiting_approval", 2, 50.0, T0)
    d = decide(PLAN, waiting, Numbers(answered=10, failed=10), T0 + 5, approve=True)
    assert d.action == "rollback"


def test_an_ab_verdict_of_worse_rolls_back_and_no_verdict_never_blocks() -> None:
    assert decide(PLAN, running(), GOOD, T0 + 601, verdict="worse").action == "rollback"
    guards = {g.name: g for g in judge(PLAN, GOOD, None)}
    assert guards["ab_verdict"].outcome == NOT_CHECKED
    assert {g.name: g for g in judge(PLAN, GOOD, "unknown")}["ab_verdict"].outcome == NOT_CHECKED
    assert {g.name: g for g in judge(PLAN, GOOD, "better")}["ab_verdict"].outcome == OK
    assert decide(PLAN, running(), GOOD, T0 + 601, verdict=None).action == "advance"


def test_a_log_without_failures_table_does_not_block() -> None:
    old = Numbers(answered=150, failed=0, slow=0, p95_ms=3.0, failures_recorded=False)
    guards = {g.name: g for g in judge(PLAN, old)}
    assert guards["error_rate"].outcome == NOT_CHECKED
    assert decide(PLAN, running(), old, T0 + 601).action == "advance"


def test_done_and_rolled_back_are_final() -> None:
    for status in ("done", "rolled_back"):
        d = decide(PLAN, State(status, 1, 0.0, T0), Numbers(10, 10), T0 + 5, approve=True)
        assert d.action == "none" and not d.changed


def test_a_single_step_of_100_is_a_promotion_waiting_for_approval() -> None:
    plan = Plan(**{**PLAN.__dict__, "steps": (100.0,)})
    assert decide(plan, State(), Numbers(), T0).action == "await_approval"
    assert decide(plan, State(), Numbers(), T0, approve=True).action == "promote"


def test_the_binomial_tail_is_exact() -> None:
    assert over_limit_p_value(0, 10, 0.05) == 1.0
    assert over_limit_p_value(1, 1, 0.05) == pytest.approx(0.05)
    assert over_limit_p_value(2, 2, 0.05) == pytest.approx(0.0025)
    # P(X >= 1 | n=10, p=0.01) = 1 - 0.99 ** 10
    assert over_limit_p_value(1, 10, 0.01) == pytest.approx(1 - 0.99**10)


def test_state_round_trips_through_its_tags() -> None:
    state = State("running", 2, 50.0, T0)
    tags = state.tags()
    assert tags["mlctl.rollout.step_started"].endswith("Z")
    assert State.of(tags) == state
    assert State.of({}) == State()
    damaged = State.of({"mlctl.rollout.status": "running", "mlctl.rollout.percent": "x"})
    assert damaged.percent == 0.0 and damaged.step_started is None


def test_the_guards_default_to_the_slo() -> None:
    recipe = Recipe.model_validate(
        {
            "name": "m",
            "data": {"source": "d.csv", "target": "y"},
            "features": {"numeric": ["a"]},
            "models": {"candidates": {"lr": {"estimator": "logistic_regression"}}},
            "deploy": {
                "serve": {"slo": {"p95_ms": 80, "max_error_rate": 0.02}},
                "rollout": {"guards": {"p95_ms": 50}},
            },
        }
    )
    plan = Plan.of(recipe)
    assert plan.p95_ms == 50 and plan.max_error_rate == 0.02
    assert plan.steps == (5.0, 25.0, 50.0, 100.0) and plan.approval == "required"
