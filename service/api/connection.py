"""Slow and greedy clients at the connection level: deadlines for a request's head and body, and a head size limit.

uvicorn (httptools) reads a request head for as long as the client takes and of any size, and a
connection that never sends a byte stays open until the client closes it: a few hundred slow-loris
clients could hold every file descriptor of the server. :func:`guarded_protocol` makes the uvicorn HTTP
protocol class that bounds them:

- the head (request line and headers) must arrive within ``header_timeout_s`` of the connection or of
  its first byte after a previous answer, else ``408`` and the connection is closed (a connection that
  never sends anything is closed after the same time; an idle keep-alive connection after uvicorn's
  ``timeout_keep_alive``);
- the body must arrive within ``body_timeout_s`` after the head, else ``408`` (if the app has not
  answered yet) and the connection is closed;
- a head over ``max_head_bytes`` gets ``431`` and the connection is closed.

The answers have the service's JSON error shape; they are written on the socket directly (no request
reached the app, or the app is still waiting for the body).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from passerelle.service.api.settings import ServiceSettings

logger = logging.getLogger(__name__)

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head and body deadlines and a head size limit (class attributes)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_head_bytes: int = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = True  # the next bytes belong to a request head
        self._head_bytes = 0  # bytes received since the head began (a head arriving slowly, never complete)
        self._parsed_head = 0  # bytes of the request line and headers parsed (a head arriving at once)
        self._head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, "the request head (request line and headers)")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            if self._deadline is None:
                self._arm(self.header_timeout_s, "the request head (request line and headers)")
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self._answer_and_close(
                431, f"the request head is over the limit of {self.max_head_bytes} bytes (max_head_bytes)"
            )

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._parsed_head += size
        if self._parsed_head > self.max_head_bytes:
            self._head_too_large = True
            raise ValueError("request head too large")  # stops the parser: uvicorn answers send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._answer_and_close(
                431, f"the request head is over the limit of {self.max_head_bytes} bytes (max_head_bytes)"
            )
            return
        super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._parsed_head = False, 0, 0
        self._disarm()
        super().on_headers_complete()
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.more_body and _has_body(self.headers):
            self._arm(self.body_timeout_s, "the request body")

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, seconds, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, seconds: float, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self._in_head and self.cycle.response_started:
            self.transport.close()
            return
        self._answer_and_close(408, f"{what} did not arrive within {seconds:g} s; the connection is closed")

    def _answer_and_close(self, status: int, detail: str) -> None:
        logger.debug("closing a connection from %s: %s %s", self.client, status, detail)
        error = "RequestTimeoutError" if status == 408 else "RequestHeadTooLargeError"
        body = json.dumps({"error": error, "detail": detail}).encode("utf-8")
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app waiting for the body sees the client gone; its answer is dropped
            self.cycle.message_event.set()
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


def guarded_protocol(settings: ServiceSettings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class enforcing ``settings``' head and body deadlines and head size."""
    return type(
        "PasserelleHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout_s": settings.header_timeout_s,
            "body_timeout_s": settings.body_timeout_s,
            "max_head_bytes": settings.max_head_bytes,
        },
    )


def uvicorn_options(settings: ServiceSettings) -> dict[str, Any]:
    """The uvicorn options that go with ``settings`` (the guarded protocol, keep-alive timeout)."""
    return {"http": guarded_protocol(settings), "timeout_keep_alive": 5}
