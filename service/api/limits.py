"""The request body size limit: a larger body gets a clear 413 before the app parses any of it.

A request that announces its size (``Content-Length``) is refused before the app sees it. A chunked
request is read up to the limit and refused as soon as it passes it, so no request can make the server
buffer more than ``max_body_bytes``; one that stays under the limit is replayed to the app unchanged.

Before a refusal is sent, up to ``DRAIN_BYTES`` more of the body (for at most ``DRAIN_SECONDS``) are read
and dropped: closing a socket with unread data in it makes the kernel reset the connection, and a client
still sending its body then gets "connection reset" instead of the 413 that explains the problem.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passerelle.service.api.http_errors import error_response
from passerelle.service.api.metrics import Metrics

ERROR = "RequestTooLargeError"
DRAIN_BYTES = 1 << 20
DRAIN_SECONDS = 1.0


class BodySizeLimitMiddleware:
    """ASGI middleware answering 413 to any HTTP request whose body is over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int, metrics: Metrics | None = None) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.limit:
                await self._refuse(scope, receive, send, f"{declared} bytes")
                return
            await self.app(scope, receive, send)
            return
        if not _chunked(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client went away: let the app see it
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send, f"more than {self.limit} bytes (chunked)", message)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: str, last: Message | None = None) -> None:
        if last is None or last.get("more_body", False):
            with anyio.move_on_after(DRAIN_SECONDS):  # a client trickling its body does not hold us
                await _drain(receive, DRAIN_BYTES)
        if self.metrics is not None:
            self.metrics.errors.labels(ERROR, "413").inc()
        response = error_response(
            413,
            ERROR,
            f"the request body ({size}) is over the limit of {self.limit} bytes (max_body_bytes); "
            "send fewer or shorter queries, or split the batch",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the request body until it ends, the client leaves, or ``budget`` bytes were read."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:  # the HTTP server refuses these before the app sees them; be safe anyway
        return None


def _chunked(scope: Scope) -> bool:
    raw = _header(scope, b"transfer-encoding")
    return raw is not None and b"chunked" in raw.lower()
