"""Fold progress on a Dask session: ticks reach the callback, late ticks are dropped."""

from __future__ import annotations

import contextlib

import pytest

from mlctl.compute.session import EventChannel
from mlctl.train.search import ClusterFoldReporter, FoldReporter, ProgressScorer

pytestmark = pytest.mark.unit


class FakeSession:
    backend = "dask"

    def __init__(self) -> None:
        self.closed = False

    @contextlib.contextmanager
    def channel(self, handler):
        yield EventChannel("t", handler)
        self.closed = True


def test_ticks_reach_the_callback_until_the_candidate_is_finished() -> None:
    events = []
    session = FakeSession()
    with ClusterFoldReporter(session, lambda kind, data: events.append((kind, data))) as rep:
        scorer = ProgressScorer(lambda est, X, y: 0.5, rep.queue, "lr")
        assert scorer(None, None, None) == 0.5
        rep.queue.put("lr")
        rep.finish("lr")
        rep.queue.put("lr")  # a late event: the bar is already complete
        rep.queue.put("rf")
    assert events == [("fold_done", {"candidate": "lr"})] * 2 + [("fold_done", {"candidate": "rf"})]
    assert session.closed


def test_no_listener_no_channel() -> None:
    with ClusterFoldReporter(FakeSession(), None) as rep:
        assert rep.queue is None
    with FoldReporter(None) as local:
        assert local.queue is None
        local.finish("lr")  # the local reporter accepts it too
