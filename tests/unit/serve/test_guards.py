"""The API-key guard on the real route table: every guard is a coroutine (Litestar runs
a plain function guard on a worker thread, a hop for every request), no route has one
when no key is set, and with a key the marked routes answer 401 without it."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

from mlctl.serve.requests import API_KEY, api_key_guards

pytestmark = pytest.mark.unit

KEY = "unit-guard-key"


def _app(key: str | None, state=None):
    from litestar import Litestar
    from litestar.datastructures import State
    from litestar.di import Provide

    from mlctl.serve.controllers import CONTROLLERS
    from mlctl.serve.responses import ApiError, api_error

    return Litestar(
        route_handlers=CONTROLLERS,
        dependencies={"serve": Provide(lambda: state, sync_to_thread=False)},
        exception_handlers={ApiError: api_error},
        guards=api_key_guards(key),
        state=State({"serve": state}),
        openapi_config=None,
    )


def _handlers(app):
    for route in app.routes:
        yield from getattr(route, "route_handlers", [])


@pytest.mark.parametrize("key", [None, KEY])
def test_every_guard_is_a_coroutine(key) -> None:
    handlers = list(_handlers(_app(key)))
    marked = [h for h in handlers if h.opt.get("api_key")]
    assert {p for h in marked for p in h.paths} >= {"/predict", "/invocations", "/feedback"}
    for handler in handlers:
        for guard in handler.resolve_guards():
            assert inspect.iscoroutinefunction(guard), (handler.paths, guard)
    if key is None:  # nothing to check: the scoring routes run no guard at all
        assert all(not h.resolve_guards() for h in marked)
    else:
        assert all(h.resolve_guards() for h in marked)


def test_with_a_key_the_marked_routes_need_it() -> None:
    from litestar.testing import TestClient

    state = SimpleNamespace(api_key=KEY)
    with TestClient(_app(KEY, state)) as client:
        res = client.post("/invocations", json={"dataframe_records": [{}]})
        assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/predict", json={"records": [{}]}, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        assert client.get("/health").status_code != 401
    assert API_KEY == {"api_key": True}
