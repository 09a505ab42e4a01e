"""How a decision reaches the registry: in which order, and what a refusal leaves."""

from __future__ import annotations

import pytest

from mlctl.errors import RegistryError
from mlctl.rollout.plan import Decision, State
from mlctl.rollout.run import _apply

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0


class FakeRegistry:
    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple] = []
        self.refuse = refuse

    def promote(self, name, version, reason):
        if self.refuse:
            raise RegistryError("version 2 of 'churn' failed its readiness gate")
        self.calls.append(("promote", version, reason))

    def rollback(self, name, reason):
        self.calls.append(("rollback", reason))
        return 2, 1

    def withdraw_challenger(self, name, version, reason):
        self.calls.append(("withdraw", version, reason))

    def set_version_tags(self, name, version, tags):
        self.calls.append(("tags", version, tags["mlctl.rollout.status"]))


def test_a_refused_promotion_leaves_the_rollout_where_it_was() -> None:
    registry = FakeRegistry(refuse=True)
    waiting = State("awaiting_approval", 2, 50.0, T0)
    decision = Decision("promote", State("promoted", 3, 100.0, T0 + 5), "promoted (approved)")
    with pytest.raises(RegistryError):
        _apply(registry, "churn", 2, waiting, decision, None)
    assert registry.calls == []  # no "promoted" tag without the promotion


def test_each_move_writes_the_registry_then_the_tags() -> None:
    registry = FakeRegistry()
    running = State("running", 0, 5.0, T0)
    gone = State("rolled_back", 0, 0.0, T0 + 5)
    _apply(registry, "churn", 2, running, Decision("rollback", gone, "rolled back at 5 %"), None)
    _apply(
        registry,
        "churn",
        2,
        State("promoted", 3, 100.0, T0),
        Decision("rollback", gone, "rolled back after the promotion"),
        None,
    )
    _apply(
        registry,
        "churn",
        2,
        State("awaiting_approval", 2, 50.0, T0),
        Decision("promote", State("promoted", 3, 100.0, T0), "promoted (approved)"),
        None,
    )
    assert registry.calls == [
        ("withdraw", 2, "rollout: rolled back at 5 %"),
        ("tags", 2, "rolled_back"),
        ("rollback", "rollout: rolled back after the promotion"),
        ("tags", 2, "rolled_back"),
        ("promote", 2, "rollout: promoted (approved)"),
        ("tags", 2, "promoted"),
    ]
