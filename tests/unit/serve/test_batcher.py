"""The micro-batcher: shared batches, lingering only when busy, failures, shutdown."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlctl.serve.batcher import MicroBatcher, Overloaded
from mlctl.serve.inputs import Columns

pytestmark = pytest.mark.unit


def rows(*values: float) -> Columns:
    return Columns(["x"], {"x": list(values)}, {"x"}, len(values))


class Model:
    """Doubles x; records each batch; optionally slow or failing."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.batches: list[list[float]] = []
        self.fail = False

    def __call__(self, batch: Columns) -> list[float]:
        time.sleep(self.seconds)
        self.batches.append(list(batch.values["x"]))
        if self.fail:
            raise ValueError("broken model")
        return [2 * v for v in batch.values["x"]]


def split(result: list[float], start: int, stop: int) -> list[float]:
    return result[start:stop]


def batcher(model: Model, **kw) -> MicroBatcher:
    return MicroBatcher(model, split, executor=ThreadPoolExecutor(1), **kw)


def test_concurrent_requests_share_a_batch_and_get_their_own_rows() -> None:
    async def main() -> None:
        model = Model()
        b = batcher(model)
        got = await asyncio.gather(*(b.submit(rows(i, i + 0.5)) for i in range(10)))
        assert got == [[2 * i, 2 * i + 1] for i in range(10)]
        assert len(model.batches) <= 2 and b.rows == 20 and b.requests == 10
        await b.stop()

    asyncio.run(main())


def test_one_client_alone_is_scored_at_once_one_request_per_batch() -> None:
    async def main() -> None:
        model = Model(0.01)
        b = batcher(model, max_linger_ms=1000)
        for i in range(5):
            assert await b.submit(rows(i)) == [2 * i]
        assert model.batches == [[0], [1], [2], [3], [4]]
        await b.stop()

    asyncio.run(main())


def test_a_busy_batcher_lingers_for_requests_still_arriving() -> None:
    async def main() -> None:
        model = Model(0.04)  # 40 ms per batch: lingers up to 80 ms, gaps up to 10 ms
        b = batcher(model, max_linger_ms=1000)
        await asyncio.gather(b.submit(rows(0)), b.submit(rows(1)))  # a shared batch

        async def later(i: int) -> list[float]:
            await asyncio.sleep(0.001 * i)
            return await b.submit(rows(10 + i))

        await asyncio.gather(*(later(i) for i in range(4)))
        assert model.batches[0] == [0, 1]
        assert model.batches[1] == [10, 11, 12, 13]  # not [10], then the rest
        await b.stop()

    asyncio.run(main())


def test_max_rows_caps_a_batch() -> None:
    async def main() -> None:
        model = Model()
        b = batcher(model, max_rows=4)
        await asyncio.gather(*(b.submit(rows(i, i)) for i in range(6)))
        assert all(len(batch) <= 4 for batch in model.batches) and b.rows == 12
        await b.stop()

    asyncio.run(main())


def test_idle_wait_collects_company_when_asked() -> None:
    async def main() -> None:
        model = Model()
        b = batcher(model, max_wait_ms=200)

        async def later() -> list[float]:
            await asyncio.sleep(0.02)
            return await b.submit(rows(2))

        await asyncio.gather(b.submit(rows(1)), later())
        assert model.batches == [[1, 2]]
        await b.stop()

    asyncio.run(main())


def test_a_full_queue_refuses_and_an_error_reaches_every_request() -> None:
    async def main() -> None:
        model = Model(0.02)
        b = batcher(model, max_queued_rows=3)
        first = asyncio.ensure_future(b.submit(rows(1, 2, 3)))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await b.submit(rows(4))
        await first
        model.fail = True
        results = await asyncio.gather(b.submit(rows(5)), b.submit(rows(6)), return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)
        model.fail = False
        assert await b.submit(rows(7)) == [14]  # still working after a failure
        await b.stop()

    asyncio.run(main())


def test_a_cancelled_request_is_skipped_and_stop_releases_waiters() -> None:
    async def main() -> None:
        model = Model(0.05)
        b = batcher(model)
        busy = asyncio.ensure_future(b.submit(rows(1)))
        await asyncio.sleep(0.01)  # the first batch is being scored
        cancelled = asyncio.ensure_future(b.submit(rows(2)))
        waiting = asyncio.ensure_future(b.submit(rows(3)))
        await asyncio.sleep(0)
        cancelled.cancel()
        assert await busy == [2] and await waiting == [6]
        assert [2] not in model.batches  # nobody waited for it: not scored
        slow = asyncio.ensure_future(b.submit(rows(4)))
        await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(b.submit(rows(5)))
        await asyncio.sleep(0)
        await b.stop()
        for fut in (slow, queued):
            with pytest.raises(Overloaded):
                await asyncio.wait_for(fut, 1)
        assert b.queued_rows == 0

    asyncio.run(main())


def test_on_batch_reports_rows_requests_and_seconds() -> None:
    async def main() -> None:
        seen = []
        b = batcher(Model(0.01), on_batch=lambda *a: seen.append(a))
        await asyncio.gather(b.submit(rows(1, 2)), b.submit(rows(3)))
        assert sum(r for r, _, _ in seen) == 3 and sum(q for _, q, _ in seen) == 2
        assert all(s >= 0.01 for _, _, s in seen) and b.batch_seconds >= 0.01
        await b.stop()

    asyncio.run(main())


class RowModel(Model):
    """Costs a fixed part plus a part per row, like a pipeline call."""

    def __init__(self, fixed: float, per_row: float) -> None:
        super().__init__()
        self.fixed, self.per_row = fixed, per_row

    def __call__(self, batch: Columns) -> list[float]:
        time.sleep(self.fixed + self.per_row * batch.rows)
        return [2 * v for v in batch.values["x"]]


def test_the_cost_model_tells_the_fixed_part_from_the_part_per_row() -> None:
    from mlctl.serve.batcher import CostModel

    costs = CostModel()
    assert not costs.known
    for n in [1, 100, 10, 256, 50] * 4:
        costs.observe(n, 0.005 + 0.0001 * n)
    assert costs.fixed == pytest.approx(0.005, rel=1e-6)
    assert costs.per_row == pytest.approx(0.0001, rel=1e-6)
    assert costs.seconds(1000, 256) == pytest.approx(4 * 0.005 + 0.1, rel=1e-6)
    same = CostModel()  # one size only: everything is charged to rows
    for _ in range(5):
        same.observe(100, 0.02)
    assert same.fixed == 0 and same.per_row == pytest.approx(0.0002)


def test_admission_counts_rows_against_the_latency_budget() -> None:
    async def main() -> None:
        # 2 ms + 0.2 ms per row: 64 requests of 100 rows are ~1.3 s of work
        model = RowModel(0.002, 0.0002)
        big = batcher(model, max_rows=256, latency_budget=5.0)
        await big.submit(rows(*range(100)))  # learns the cost
        await big.submit(rows(*range(3)))
        got = await asyncio.gather(*(big.submit(rows(*range(100))) for _ in range(64)))
        assert len(got) == 64  # the whole backlog fits the budget: nobody is refused
        await big.stop()

        tight = batcher(model, max_rows=256, latency_budget=0.2)
        await tight.submit(rows(*range(100)))
        await tight.submit(rows(*range(3)))
        results = await asyncio.gather(
            *(tight.submit(rows(*range(100))) for _ in range(64)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, Overloaded)]
        assert refused and "over the 0.2 s a request may wait" in str(refused[0])
        assert 0 < len(results) - len(refused) < 64  # the first ones were admitted
        await tight.stop()

    asyncio.run(main())


def test_an_empty_queue_admits_a_request_whatever_its_estimate() -> None:
    async def main() -> None:
        model = RowModel(0.0, 0.001)
        b = batcher(model, latency_budget=0.01)
        await b.submit(rows(*range(20)))  # 20 ms: over the budget, alone
        assert await b.submit(rows(*range(30))) == [2 * v for v in range(30)]
        await b.stop()

    asyncio.run(main())
