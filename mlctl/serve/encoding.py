"""Compressed request bodies: ``Content-Encoding: gzip`` or ``deflate``.

Clients that send large batches may compress them (tritonclient's
``request_compression_algorithm="gzip"`` or ``"deflate"``, ``requests`` with a
gzipped body). This ASGI layer, in front of every route, inflates such a body before
any route reads it. The route then sees a plain body whose ``Content-Length`` is the
inflated size, and the limits apply to that size:

- the compressed body and the inflated one may each hold at most
  ``deploy.serve.max_body_bytes``. Inflating stops as soon as the output passes the
  limit, so a small "zip bomb" costs no more memory than an allowed body: ``413``;
- a body that is not what its ``Content-Encoding`` says: ``400``;
- another coding (``br``, ``zstd``, ``compress``) or several codings in a row: ``415``,
  with ``Accept-Encoding: gzip, deflate``, as RFC 9110 (15.5.16) asks;
- ``identity`` is no coding at all.

Before, a gzipped body was read as JSON and refused as "malformed JSON", which names
the wrong problem. Errors on ``/invocations`` are in MLflow's shape, as all of its
errors are.
"""

from __future__ import annotations

import zlib
from typing import Any

from mlctl.serve.responses import ApiError, encoder, error_document

CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPTED = "gzip, deflate"
CHUNK = 64 * 1024  # inflated bytes produced per step


class _Refused(Exception):
    def __init__(self, error: ApiError) -> None:
        self.error = error


def inflating(app: Any, max_body_bytes: int) -> Any:
    """``app`` with compressed request bodies inflated (see the module docstring)."""

    async def asgi(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        codings = [v for k, v in scope["headers"] if k == b"content-encoding"]
        if not codings:
            await app(scope, receive, send)
            return
        try:
            wbits = _coding(codings)
            if wbits is None:  # identity
                await app(scope, receive, send)
                return
            body = await _inflated(receive, wbits, max_body_bytes)
        except _Refused as refused:
            await _answer(send, scope.get("path", ""), refused.error)
            return
        headers = [
            (k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app({**scope, "headers": headers}, replay, send)

    return asgi


def _coding(values: list[bytes]) -> int | None:
    """zlib's window bits for the body's one coding; None for identity."""
    names = [
        part.strip().lower()
        for value in values
        for part in value.decode("latin-1").split(",")
        if part.strip()
    ]
    names = [n for n in names if n != "identity"]
    if not names:
        return None
    if len(names) > 1 or names[0] not in CODINGS:
        shown = ", ".join(n[:30] for n in names[:5])
        what = f"several codings ('{shown}')" if len(names) > 1 else f"'{shown}'"
        raise _Refused(
            ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"unsupported Content-Encoding {what}; send the body compressed once with "
                f"{' or '.join(ACCEPTED.split(', '))}, or not compressed",
                headers={"Accept-Encoding": ACCEPTED},
            )
        )
    return CODINGS[names[0]]


async def _inflated(receive: Any, wbits: int, limit: int) -> bytes:
    """The whole body, inflated, within ``limit`` bytes both ways."""
    inflater = zlib.decompressobj(wbits)
    out: list[bytes] = []
    size = received = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise _Refused(
                ApiError(499, "CLIENT_CLOSED_REQUEST", "the client closed the connection")
            )
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        received += len(chunk)
        if received > limit:
            raise _Refused(_too_large(f"the compressed body is larger than {limit} bytes"))
        try:
            while chunk:
                if inflater.eof:  # a second gzip member, or anything after the end
                    raise _Refused(_not_coded("there are bytes after the compressed data"))
                piece = inflater.decompress(chunk, CHUNK)
                size += len(piece)
                if size > limit:
                    raise _Refused(_too_large(f"the body inflates to more than {limit} bytes"))
                out.append(piece)
                chunk = inflater.unconsumed_tail or inflater.unused_data
        except zlib.error as exc:
            raise _Refused(_not_coded(str(exc))) from None
    if not inflater.eof:
        raise _Refused(_not_coded("the compressed data ends early"))
    return b"".join(out)


def _too_large(message: str) -> ApiError:
    return ApiError(413, "TOO_LARGE", f"{message} (deploy.serve.max_body_bytes)")


def _not_coded(why: str) -> ApiError:
    return ApiError(
        400, "BAD_REQUEST", f"the body is not what its Content-Encoding says: {why[:200]}"
    )


async def _answer(send: Any, path: str, error: ApiError) -> None:
    if path == "/invocations":
        from mlctl.serve.controllers.mlflow_scoring import mlflow_error

        error = mlflow_error(error)
    body = encoder.encode(error_document(error))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in error.headers.items()]
    headers.append((b"connection", b"close"))  # the rest of the body may be unread
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
