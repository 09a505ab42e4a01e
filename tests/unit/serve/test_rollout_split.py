"""The server follows a rollout: the challenger's share comes from its registry tags
at each poll, it is loaded while a rollout gives it a share and dropped when the
rollout ends, and the console says each change (no model files: the loader is a stub)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from mlctl.predlog import PredictionLog
from mlctl.recipe.schema import Serve
from mlctl.serve import state as state_module
from mlctl.serve.metrics import Metrics
from mlctl.serve.state import ServeState
from mlctl.tracking.registry import RolloutShare

pytestmark = pytest.mark.unit


class FakeRegistry:
    def __init__(self) -> None:
        self.champion = 1
        self.share = RolloutShare(None, None, None)

    def alias_version(self, name: str, alias: str) -> int | None:
        return self.champion if alias == "champion" else self.share.version

    def rollout_share(self, name: str) -> RolloutShare:
        return self.share


def stub_model(registry, reference: str, positive) -> SimpleNamespace:
    return SimpleNamespace(version=int(reference.split("/")[1]), aliases=[], score=None)


@pytest.fixture
def served(tmp_path, monkeypatch) -> ServeState:
    monkeypatch.setattr(state_module, "load_model", stub_model)
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    return ServeState(Serve(), "churn", "champion", FakeRegistry(), log, Metrics())


def share_of(served: ServeState, draws: int = 2000) -> float:
    hits = sum(served.choose(None, [])[1] == "challenger" for _ in range(draws))
    return hits / draws


def test_the_challenger_follows_the_rollout_share(served, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="mlctl.serve")
    registry = served.registry

    async def walk() -> list[tuple]:
        seen = []
        await served.reload()
        seen.append((served.challenger, served.rollout_percent, share_of(served)))
        registry.share = RolloutShare(2, "running", 25.0)
        await served.reload()
        seen.append((served.challenger.model.version, served.rollout_percent, share_of(served)))
        registry.share = RolloutShare(None, None, None)  # rolled back: alias removed
        await served.reload()
        seen.append((served.challenger, served.rollout_percent, share_of(served)))
        await asyncio.sleep(0)
        return seen

    seen = asyncio.run(walk())
    assert seen[0] == (None, None, 0.0)  # no rollout, challenger_percent 0: not loaded
    assert seen[1][:2] == (2, 25.0) and 0.2 < seen[1][2] < 0.3
    assert seen[2] == (None, None, 0.0)
    text = caplog.text
    assert "rollout of churn version 2 (running): the challenger gets 25 % of the traffic" in text
    assert "challenger churn: version none -> 2" in text
    assert "challenger churn: version 2 -> none (the challenger alias was removed" in text
    assert "the rollout of churn ended (challenger alias removed)" in text


def test_a_rolled_back_version_gets_nothing_even_with_a_configured_split(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(state_module, "load_model", stub_model)
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    settings = Serve.model_validate({"traffic": {"challenger_percent": 30}})
    served = ServeState(settings, "churn", "champion", FakeRegistry(), log, Metrics())
    served.registry.share = RolloutShare(2, None, None)

    async def run() -> tuple:
        await served.reload()
        configured = (served.challenger.model.version, share_of(served))
        served.registry.share = RolloutShare(2, "rolled_back", 0.0)
        await served.reload()
        return configured, (served.challenger, share_of(served))

    configured, after = asyncio.run(run())
    assert configured[0] == 2 and 0.25 < configured[1] < 0.35  # no rollout: the recipe's
    assert after == (None, 0.0)
