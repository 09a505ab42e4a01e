"""The micro-batcher never leaves a request waiting for nobody: a bug after scoring
reaches only the requests of that batch, and a request submitted while the batcher
stops (an old model being retired after a hot swap) is still answered. Either used to
leave every later request of that model to time out (503 TIMEOUT) for good."""

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
