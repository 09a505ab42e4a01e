"""Adaptive micro-batching: concurrent requests share one pass through the pipeline.

A pipeline call costs ~10 ms whether it scores 1 row or 100 (the per-call overhead of
the transformers dominates), so the server scores whatever has queued up as one
batch. While a batch is being scored, new requests queue; the next batch takes them
all (up to ``max_rows``). When the server is idle a request is scored at once unless
``max_wait_ms`` asks to wait a little for company. Scoring runs on one thread, so the
event loop keeps accepting requests and the math libraries are never oversubscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mlctl.serve.inputs import Columns


@dataclass
class _Item:
    batch: Columns
    future: asyncio.Future


class Overloaded(Exception):
    """More rows are waiting than the queue allows (HTTP 503)."""


class MicroBatcher:
    """Queue of checked rows in front of a scoring function."""

    def __init__(
        self,
        score: Callable[[Columns], Any],
        split: Callable[[Any, int, int], Any],
        max_rows: int = 256,
        max_wait_ms: float = 0.0,
        max_queued_rows: int = 20_000,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.score = score
        self.split = split  # (result, start, stop) → the part of the result for those rows
        self.max_rows = max_rows
        self.max_wait = max_wait_ms / 1000.0
        self.max_queued_rows = max_queued_rows
        self.executor = executor or ThreadPoolExecutor(1, thread_name_prefix="mlctl-score")
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._queued_rows = 0
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    async def submit(self, batch: Columns) -> Any:
        """Score rows with whatever else is queued; returns their part of the result.

        Raises:
            Overloaded: the queue is full.
        """
        if self._queued_rows + batch.rows > self.max_queued_rows:
            raise Overloaded(f"{self._queued_rows} rows are waiting to be scored")
        self.start()
        future = asyncio.get_running_loop().create_future()
        self._queued_rows += batch.rows
        await self._queue.put(_Item(batch, future))
        return await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            items = [first]
            rows = first.batch.rows
            while rows < self.max_rows and not self._queue.empty():
                item = self._queue.get_nowait()
                items.append(item)
                rows += item.batch.rows
            if self.max_wait and rows < self.max_rows:
                deadline = loop.time() + self.max_wait
                while rows < self.max_rows:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), left)
                    except TimeoutError:
                        break
                    items.append(item)
                    rows += item.batch.rows
            self._queued_rows -= rows
            live = [i for i in items if not i.future.done()]  # skip cancelled requests
            if not live:
                continue
            merged = Columns.concat([i.batch for i in live])
            try:
                result = await loop.run_in_executor(self.executor, self.score, merged)
            except Exception as exc:
                for i in live:
                    if not i.future.done():
                        i.future.set_exception(exc)
                continue
            self.batches += 1
            self.rows += merged.rows
            start = 0
            for i in live:
                stop = start + i.batch.rows
                if not i.future.done():
                    i.future.set_result(self.split(result, start, stop))
                start = stop
