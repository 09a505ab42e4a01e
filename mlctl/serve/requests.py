"""Reading a request in ``mlctl serve``: the served state (a Litestar dependency), the
API-key guard, the ``Idempotency-Key`` header, row limits and JSON bodies.

A client that closes its connection before its body was read (its own timeout gave
up, a load tool stopped) is answered ``499`` (nginx's "client closed request"),
which nobody receives: Litestar raises its 500 ``InternalServerException`` there,
which counted every abandoned request as a server error in ``mlctl_requests_total``
and ``mlctl_errors_total``, without a line in the server's log.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from litestar import Request
from litestar.exceptions import ClientException, InternalServerException
from litestar.params import Dependency

from mlctl.serve.body import decode_json
from mlctl.serve.inputs import BadRequest
from mlctl.serve.responses import ApiError
from mlctl.serve.state import ServeState


def serve_state(request: Request) -> ServeState:
    """The process's :class:`ServeState`, provided to handlers as ``serve``."""
    return request.app.state.serve


# A handler's ``serve: Served`` parameter: the provided state, passed as is (Litestar
# would otherwise check the object's type on every request).
Served = Annotated[ServeState, Dependency(skip_validation=True)]


# A route's ``opt``: the API key guards it. The guard itself is installed on the app only
# when a key is set (:func:`api_key_guards`): Litestar copies the route handler for every
# guard of every request (6 % of a busy server's samples), for nothing when no key is set.
API_KEY = {"api_key": True}


def api_key_guards(api_key: str | None) -> list[Any]:
    """The app's guards: the API-key check of the routes marked :data:`API_KEY`."""
    return [_guard_marked_routes] if api_key else []


async def _guard_marked_routes(request: Any, handler: Any) -> None:
    if handler.opt.get("api_key"):
        await require_api_key(request)


async def require_api_key(request: Any, _handler: Any = None) -> None:
    """A route guard: runs before the body is read, so an unauthenticated client's body
    is never parsed. A coroutine: Litestar runs a plain function guard on a worker
    thread, a thread hop for every request (8 % of a busy server's samples)."""
    key = request.app.state.serve.api_key
    if not key:
        return
    headers = request.headers
    if not key_accepted(key, headers.get("x-api-key"), headers.get("authorization", "")):
        raise ApiError(
            401,
            "UNAUTHORIZED",
            "missing or wrong API key (Authorization: Bearer KEY or X-API-Key)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def key_accepted(key: str, x_api_key: str | None, authorization: str) -> bool:
    """The API key, sent as ``X-API-Key`` or ``Authorization: Bearer``, is ``key``
    (compared in constant time)."""
    given = x_api_key
    if not given and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    return bool(given) and hmac.compare_digest(given.encode(), key.encode())


IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY = 200


def idempotency_key(request: Request) -> str | None:
    """The client's ``Idempotency-Key`` header: 1-200 printable ASCII characters."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not (key.isascii() and key.isprintable()):
        raise ApiError(
            400,
            "BAD_REQUEST",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    return key


def check_rows(state: ServeState, n: int) -> None:
    limit = state.settings.max_batch_rows
    if n > limit:
        raise ApiError(
            413, "TOO_MANY_ROWS", f"{n} rows in one request; at most {limit} (max_batch_rows)"
        )


CLIENT_CLOSED = 499  # nginx's status for a request its client abandoned


def client_closed() -> ApiError:
    return ApiError(
        CLIENT_CLOSED,
        "CLIENT_CLOSED_REQUEST",
        "the client closed the connection before its request body was read",
    )


class JsonRequest(Request):
    """Litestar's request, parsing bodies with :func:`decode_json`; a body the client
    abandoned is a 499 (see the module docstring)."""

    async def body(self) -> bytes:
        receive = self.receive
        gone = False

        async def noting() -> Any:  # the server said the client is gone
            nonlocal gone
            message = await receive()
            gone = gone or message.get("type") == "http.disconnect"
            return message

        self.receive = noting
        try:
            return await super().body()
        except InternalServerException:
            if gone:
                raise client_closed() from None
            raise
        finally:
            self.receive = receive

    async def json(self) -> Any:
        try:
            return decode_json(await self.body())
        except BadRequest as exc:
            raise ClientException(str(exc)) from None
