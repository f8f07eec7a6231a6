"""One delivery on the wire: a signed POST to the address the guard checked, within a deadline.

Signed as Standard Webhooks says (the ``standardwebhooks`` package): ``webhook-id`` (the
delivery's message id, the same on every retry), ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body`` under the subscription's ``whsec_``
secret). Redirects are not followed and only the answer's status counts. Its body is read (up to
``KEEP_ALIVE_BODY`` bytes, for up to ``RELEASE_SECONDS``, errors ignored) only so that its
connection can carry the next delivery: httpx closes the connection of a response closed before
its end, and a new connection per delivery cost more than the delivery. A longer or slower body
is left unread and its connection closed.

Whatever a receiver sends, no more than ``ANSWER_BUDGET`` bytes of it are read per request,
counted on the socket (``_Budgeted``): an endless stream of ``100 Continue`` heads or of chunks
with huge extensions would otherwise keep the HTTP parser busy for the whole timeout, on the
event loop that also serves the API.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx
from standardwebhooks.webhooks import Webhook as Signer

from footfall import __version__
from footfall.exceptions import InvalidWebhook, TargetUnreachable
from footfall.webhooks.guard import AllowList, pinned_request_parts, resolve

USER_AGENT = f"Footfall-Webhooks/{__version__}"
TLS_HOSTS = 64
KEEP_ALIVE_BODY = 64 * 1024
RELEASE_SECONDS = 1.0
ANSWER_BUDGET = 256 * 1024  # bytes read per request: heads (informational ones too) and body


@dataclass(frozen=True, slots=True)
class Outcome:
    delivered: bool
    status_code: int | None
    error: str | None
    latency_ms: float


def signed_headers(secret: str, message_id: str, at: datetime, payload: bytes) -> dict[str, str]:
    signature = Signer(secret).sign(message_id, at, payload.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def basic_header(username: str | None, password: str | None) -> dict[str, str]:
    if username is None:
        return {}
    token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Sender:
    """Sends deliveries over one pooled HTTP client; never raises for what the receiver does."""

    def __init__(self, allow: AllowList, timeout: float, connections: int = 16) -> None:
        self.allow = allow
        self.timeout = timeout
        self._connections = connections
        self._client = self._new_client()
        # Requests go to the checked address, so connections are pooled by address: over TLS
        # one per host name too, or a connection set up (and its certificate checked) for one
        # host could carry another's request. At most TLS_HOSTS kept; the oldest is closed.
        self._tls: dict[str, httpx.AsyncClient] = {}

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            transport=_budgeted_transport(self._connections),
            follow_redirects=False,
            trust_env=False,
        )

    async def _client_for(self, scheme: str, host: str) -> httpx.AsyncClient:
        if scheme == "http":
            return self._client
        client = self._tls.pop(host, None) or self._new_client()
        self._tls[host] = client  # most recently used last
        if len(self._tls) > TLS_HOSTS:
            oldest = next(iter(self._tls))
            await self._tls.pop(oldest).aclose()
        return client

    async def close(self) -> None:
        await self._client.aclose()
        for client in self._tls.values():
            await client.aclose()
        self._tls.clear()

    async def post(
        self,
        url: str,
        payload: bytes,
        headers: dict[str, str],
    ) -> Outcome:
        """POST ``payload`` to ``url``: delivered on a 2xx, else the status or the error."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                status = await self._send("POST", url, payload, headers)
        except InvalidWebhook as exc:
            return Outcome(False, None, f"refused: {exc.message}", _ms(started))
        except TimeoutError:
            return Outcome(False, None, f"timed out after {self.timeout:g} s", _ms(started))
        except httpx.HTTPError as exc:
            return Outcome(False, None, _error(exc), _ms(started))
        return Outcome(200 <= status < 300, status, None, _ms(started))

    async def check(self, url: str, headers: dict[str, str]) -> None:
        """The check made when a subscription is created: a GET that must answer 2xx."""
        try:
            async with asyncio.timeout(self.timeout):
                status = await self._send("GET", url, b"", headers)
        except TimeoutError:
            raise TargetUnreachable(
                f"the URL did not answer a GET within {self.timeout:g} s", field="url"
            ) from None
        except httpx.HTTPError as exc:
            raise TargetUnreachable(
                f"the URL did not answer a GET: {_error(exc)}", field="url"
            ) from None
        if not 200 <= status < 300:
            raise TargetUnreachable(f"the URL answered a GET with {status}, not 2xx", field="url")

    async def _send(self, method: str, url: str, payload: bytes, headers: dict[str, str]) -> int:
        target = await resolve(url, self.allow)
        pinned, host, extensions = pinned_request_parts(target, target.addresses[0])
        client = await self._client_for(target.scheme, target.host)
        request = client.build_request(
            method,
            pinned,
            content=payload if method == "POST" else None,
            headers={
                "User-Agent": USER_AGENT,
                **({"Content-Type": "application/json"} if method == "POST" else {}),
                **headers,
                **host,
            },
            extensions=extensions,
        )
        response = await client.send(request, stream=True)
        await _release(response)
        return response.status_code


async def _release(response: httpx.Response) -> None:
    """Close ``response``, its connection back in the pool if a short body ends in time."""
    try:
        async with asyncio.timeout(RELEASE_SECONDS):
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > KEEP_ALIVE_BODY:
                    break
    except (httpx.HTTPError, TimeoutError):
        pass  # the status is in: only the connection is lost
    finally:
        await response.aclose()


class AnswerTooLong(httpcore.ReadError):
    """More than ANSWER_BUDGET bytes came back for one request."""


class _Budgeted(httpcore.AsyncNetworkStream):
    """A connection that refuses to read more than ANSWER_BUDGET bytes per request (writing the
    next request starts a new count)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._received = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._stream.read(max_bytes, timeout)
        self._received += len(data)
        if self._received > ANSWER_BUDGET:
            raise AnswerTooLong(f"the answer went past {ANSWER_BUDGET // 1024} KiB")
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._received = 0
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Budgeted(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BudgetedBackend(httpcore.AnyIOBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _Budgeted(stream)


def _budgeted_transport(connections: int) -> httpx.AsyncHTTPTransport:
    """httpx's transport over a connection pool whose connections are ``_Budgeted`` (httpx
    takes no network backend, so its pool is replaced by one built as its own is)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=5.0,  # httpx's default
        network_backend=_BudgetedBackend(),
    )
    return transport


def now() -> datetime:
    return datetime.now(UTC)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


ERROR_CHARACTERS = 300  # of what a receiver's bad answer made the HTTP client say


def _error(exc: httpx.HTTPError) -> str:
    kind = type(exc).__name__
    text = str(exc) or kind
    text = text if kind in text else f"{kind}: {text}"
    return text if len(text) <= ERROR_CHARACTERS else text[:ERROR_CHARACTERS] + "…"
