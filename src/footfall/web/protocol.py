"""uvicorn's HTTP/1.1 protocol with a deadline on each request, kept by one timer per connection.

uvicorn itself waits for ever on a connection that opens and says nothing, trickles its request
line and headers, or declares a body it never sends. Here each request must have all arrived
(head and body) within ``FOOTFALL_REQUEST_TIMEOUT_SECONDS`` of its first byte (of the
connection's opening, for its first request): a head that is late closes the connection; a
body that is late is answered 408 before the connection is closed, unless the application has
already answered. The application then hears that the client went away.

Keeping the deadline here rather than around each body read in the application costs a
request two attribute writes: the connection's timer is armed only when none is, and when it
fires early (the request it was armed for has ended) it moves on to the current deadline.
"""

from __future__ import annotations

import asyncio
from functools import cache
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from footfall.config import Settings
from footfall.exceptions import BodyTimeout
from footfall.web.errors import problem

__all__ = ["DeadlineProtocol"]


@cache
def _timeout() -> float:
    """Read once per process (worker processes too) from the environment they share."""
    return Settings.from_env().request_timeout_seconds


def late_body_answer(timeout: float) -> bytes:
    """The whole HTTP response to a request whose body did not arrive in time."""
    refusal = problem(BodyTimeout(f"the body did not arrive within {timeout:g} seconds"))
    body = refusal.body
    head = (
        f"HTTP/1.1 {refusal.status} {HTTPStatus(refusal.status).phrase}\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class DeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose requests must arrive, head and body, within the request timeout.

    A request costs no timer of its own: it sets its deadline, and the connection's one timer,
    armed while a request is arriving, checks it when due (moving on to a later deadline)."""

    _deadline_at: float | None = None
    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_request()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline_at is None:  # the next request on a kept-alive connection
            self._start_request()

    def on_message_complete(self) -> None:
        self._deadline_at = None
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline_at = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _start_request(self) -> None:
        timeout = _timeout()
        self._deadline_at = self.loop.time() + timeout
        if self._timer is None:
            self._timer = self.loop.call_later(timeout, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._deadline_at is None or self.transport.is_closing():
            return  # no request arriving: the next one arms the timer again
        late = self._deadline_at - self.loop.time()
        if late > 0:  # a later request's deadline
            self._timer = self.loop.call_later(late, self._check)
            return
        self._deadline_at = None
        cycle = self.cycle  # the request's own once its head is complete, else None or the last
        if cycle is not None and cycle.more_body and not cycle.response_started:
            self.transport.write(late_body_answer(_timeout()))
            cycle.disconnected = True  # the application's own answer, if any, is dropped
            cycle.message_event.set()
        self.transport.close()
