"""Two ways ``mlctl serve`` answered 500 without a line in its log (the "silent 500s"
seen in the first seconds of load runs): a client that closed its connection before
its body was read (Litestar raises its own 500 ``InternalServerException`` there),
and any other 5xx ``HTTPException`` of Litestar's, which the HTTP-error handler
answered without logging it."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.unit

BODY = b'{"records": [{"tenure": 1}]}'


def request_with(messages: list[dict]):
    """A JsonRequest whose server hands it ``messages``, then says the client is gone."""
    from mlctl.serve.requests import JsonRequest

    queue = list(messages)

    async def receive() -> dict:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
        "state": {},
        "route_handler": SimpleNamespace(resolve_request_max_body_size=lambda: None),
    }
    return JsonRequest(scope, receive)  # type: ignore[arg-type]


def test_a_body_the_client_abandoned_is_a_499_not_a_server_error() -> None:
    from mlctl.serve.responses import ApiError

    half = {"type": "http.request", "body": BODY[:10], "more_body": True}
    request = request_with([half])  # then the client closes its connection
    with pytest.raises(ApiError) as caught:
        asyncio.run(request.body())
    assert caught.value.status == 499 and caught.value.code == "CLIENT_CLOSED_REQUEST"


def test_a_whole_body_is_read_as_before() -> None:
    request = request_with([{"type": "http.request", "body": BODY, "more_body": False}])
    assert asyncio.run(request.json()) == {"records": [{"tenure": 1}]}
    assert asyncio.run(request.body()) == BODY  # cached: the stream is not read twice


def test_litestar_500s_other_than_a_gone_client_stay_server_errors() -> None:
    """A consumed stream is a server bug, not the client's doing: still a 5xx."""
    from litestar.exceptions import InternalServerException

    request = request_with([{"type": "http.request", "body": BODY, "more_body": False}])
    request.is_connected = False  # Litestar's "stream consumed"
    with pytest.raises(InternalServerException):
        asyncio.run(request.body())


def test_litestar_5xx_http_exceptions_are_logged_with_their_traceback(caplog) -> None:
    from litestar import Litestar, get
    from litestar.exceptions import HTTPException, InternalServerException
    from litestar.testing import TestClient

    from mlctl.serve.responses import ApiError, api_error, http_error, internal_error

    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise InternalServerException("a dependency failed")

    app = Litestar(
        route_handlers=[boom],
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
        logging_config=None,
    )
    with caplog.at_level(logging.ERROR, logger="mlctl.serve"), TestClient(app) as client:
        res = client.get("/boom")
    assert res.status_code == 500
    assert res.json() == {
        "error": "internal error: InternalServerException",
        "error_code": "INTERNAL",
        "message": "internal error: InternalServerException",
        "details": [],
    }
    assert "Traceback" not in res.text
    logged = [r for r in caplog.records if r.name == "mlctl.serve"]
    assert len(logged) == 1 and "GET /boom" in logged[0].getMessage()
    assert logged[0].exc_info is not None and "a dependency failed" in caplog.text
