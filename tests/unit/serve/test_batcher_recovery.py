"""The micro-batcher never leaves a request waiting for nobody: a bug after scoring
reaches only the requests of that batch, and a request submitted while the batcher
stops (an old model being retired after a hot swap) is still answered; either used to
leave later requests of that model to time out (503 TIMEOUT). And a hot swap retires
the old version only once the batch it is scoring was answered (it used to be 503
OVERLOADED when that batch took longer than the 0.5 s grace)."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlctl.serve.batcher import MicroBatcher, Overloaded
from mlctl.serve.inputs import Columns

pytestmark = pytest.mark.unit


def rows(*values: float) -> Columns:
    return Columns(["x"], {"x": list(values)}, {"x"}, len(values))


def double(batch: Columns) -> list[float]:
    return [2 * v for v in batch.values["x"]]


def test_a_failure_after_scoring_fails_its_batch_and_the_loop_goes_on() -> None:
    broken = []

    def split(result: list[float], start: int, stop: int) -> list[float]:
        if broken:
            broken.pop()
            raise KeyError("a bug in splitting")
        return result[start:stop]

    async def main() -> None:
        b = MicroBatcher(double, split, executor=ThreadPoolExecutor(1))
        broken.append(1)
        with pytest.raises(KeyError):  # the app answers it 500, with its traceback logged
            await asyncio.wait_for(b.submit(rows(1)), 1)
        assert await asyncio.wait_for(b.submit(rows(2)), 1) == [4]
        await b.stop()

    asyncio.run(main())


@pytest.mark.parametrize("yields", [0, 1, 2])
def test_a_request_submitted_while_the_batcher_stops_is_answered(yields: int) -> None:
    async def main() -> None:
        b = MicroBatcher(double, lambda r, a, z: r[a:z], executor=ThreadPoolExecutor(1))
        assert await b.submit(rows(1)) == [2]  # the loop runs
        stopping = asyncio.ensure_future(b.stop())
        for _ in range(yields):
            await asyncio.sleep(0)
        late = asyncio.ensure_future(b.submit(rows(3)))
        await stopping
        # Refused at once is fine too (503 with Retry-After); waiting for nobody is not.
        with contextlib.suppress(Overloaded):
            assert await asyncio.wait_for(late, 1) == [6]
        assert await asyncio.wait_for(b.submit(rows(4)), 1) == [8]
        await b.stop()

    asyncio.run(main())


def test_a_retired_version_answers_the_batch_it_is_scoring(tmp_path, monkeypatch) -> None:
    """A hot swap retires the old version's batcher once it is idle: a batch still on
    the scoring thread (its queue already empty) is answered, not 503 OVERLOADED."""
    import time
    from types import SimpleNamespace

    from mlctl.predlog import PredictionLog
    from mlctl.recipe.schema import Serve
    from mlctl.serve import state as state_module
    from mlctl.serve.metrics import Metrics
    from mlctl.serve.state import ServeState

    monkeypatch.setattr(state_module, "RETIRE_GRACE", 0.05, raising=False)

    def slow(batch: Columns) -> list[float]:
        time.sleep(0.8)  # longer than the grace period (0.5 s before, when it was fixed)
        return double(batch)

    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    served = ServeState(Serve(), "churn", "champion", None, log, Metrics())
    served.slot = (
        lambda model: SimpleNamespace(  # type: ignore[method-assign]
            model=model, batcher=MicroBatcher(slow, lambda r, a, z: r[a:z])
        )
    )

    async def main() -> None:
        old = served.slot(SimpleNamespace(version=1))
        answer = asyncio.ensure_future(old.batcher.submit(rows(5)))
        await asyncio.sleep(0.05)  # taken from the queue, on the scoring thread
        assert old.batcher.queued_rows == 0
        await asyncio.wait_for(served._retire(old), 5)
        assert await answer == [10]

    asyncio.run(main())
