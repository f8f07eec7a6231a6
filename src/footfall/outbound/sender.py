"""One request on the wire, to the address the guard checked, within a deadline: a webhook
delivery (a signed POST) or a workflow's HTTP block.

Deliveries are signed as Standard Webhooks says (the ``standardwebhooks`` package): ``webhook-id`` (the
delivery's message id, the same on every retry), ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body`` under the subscription's ``whsec_``
secret). Redirects are not followed, nothing is decompressed, and only the answer's status
counts. Its body is read (up to ``KEEP_ALIVE_BODY`` bytes, for up to ``RELEASE_SECONDS``, errors
ignored) only so that its connection can carry the next delivery; a longer or slower body is
left unread and its connection closed.

The HTTP client is aiohttp: its parser is C (llhttp), and a POST of a 100-event batch costs
about 155 µs of CPU where httpx, all Python over anyio and h11, cost about 745 µs (measured on
this project's machine, bench figures in the README). The worker runs on the API's process by
default, and there every microsecond it spends is one the API does not have.

Whatever a receiver sends, no more than ``ANSWER_BUDGET`` bytes of it are read per request,
counted as they come off the socket (``_BudgetedHandler``): an endless stream of ``100
Continue`` heads would otherwise keep the client busy for the whole timeout, on the event loop
that also serves the API.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.helpers import set_exception
from standardwebhooks.webhooks import Webhook as Signer
from yarl import URL

from footfall import __version__
from footfall.exceptions import InvalidWebhook, TargetUnreachable
from footfall.outbound.guard import AllowList, pinned_request_parts, resolve

USER_AGENT = f"Footfall/{__version__}"
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
    """Sends deliveries over pooled HTTP connections; never raises for what the receiver does.

    Made on the event loop that uses it (its sessions are opened on first use)."""

    def __init__(self, allow: AllowList, timeout: float, connections: int = 16) -> None:
        self.allow = allow
        self.timeout = timeout
        self._connections = connections
        self._plain: aiohttp.ClientSession | None = None
        # Requests go to the checked address, so connections are pooled by address: over TLS
        # one session per host name too, or a connection set up (and its certificate checked)
        # for one host could carry another's request. At most TLS_HOSTS kept; the oldest closed.
        self._tls: dict[str, aiohttp.ClientSession] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._connections,
            limit_per_host=0,
            keepalive_timeout=5.0,
            use_dns_cache=False,  # the URL holds the checked address: nothing to resolve
        )
        # The connector makes each connection's protocol with this factory (an attribute that
        # aiohttp does not document): ours counts what the receiver sends.
        factory = functools.partial(_BudgetedHandler, loop=asyncio.get_running_loop())
        connector._factory = cast("functools.partial[ResponseHandler]", factory)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            auto_decompress=False,
            trust_env=False,
            skip_auto_headers=("Accept-Encoding",),
        )

    def _session_for(self, scheme: str, host: str) -> aiohttp.ClientSession:
        if scheme == "http":
            if self._plain is None:
                self._plain = self._new_session()
            return self._plain
        session = self._tls.pop(host, None) or self._new_session()
        self._tls[host] = session  # most recently used last
        return session

    async def _close_extra(self) -> None:
        while len(self._tls) > TLS_HOSTS:
            await self._tls.pop(next(iter(self._tls))).close()

    async def close(self) -> None:
        if self._plain is not None:
            await self._plain.close()
            self._plain = None
        for session in self._tls.values():
            await session.close()
        self._tls.clear()

    async def post(
        self,
        url: str,
        payload: bytes,
        headers: dict[str, str],
    ) -> Outcome:
        """POST ``payload`` to ``url``: delivered on a 2xx, else the status or the error."""
        return await self.request("POST", url, payload, headers)

    async def request(
        self,
        method: str,
        url: str,
        payload: bytes | None,
        headers: dict[str, str],
        timeout: float | None = None,
    ) -> Outcome:
        """``method`` ``url`` with ``payload`` (a JSON body, or none), within ``timeout``
        seconds (the sender's own by default): delivered on a 2xx, else the status or the
        error. Never raises for what the receiver does."""
        seconds = self.timeout if timeout is None else timeout
        started = time.perf_counter()
        try:
            async with asyncio.timeout(seconds):
                status = await self._send(method, url, payload, headers)
        except InvalidWebhook as exc:
            return Outcome(False, None, f"refused: {exc.message}", _ms(started))
        except (ValueError, UnicodeError) as exc:  # a URL or header the client cannot send
            return Outcome(False, None, f"refused: {type(exc).__name__}: {exc}"[:300], _ms(started))
        except TimeoutError:
            return Outcome(False, None, f"timed out after {seconds:g} s", _ms(started))
        except aiohttp.ClientError as exc:
            return Outcome(False, None, _error(exc), _ms(started))
        return Outcome(200 <= status < 300, status, None, _ms(started))

    async def check(self, url: str, headers: dict[str, str]) -> None:
        """The check made when a subscription is created: a GET that must answer 2xx."""
        try:
            async with asyncio.timeout(self.timeout):
                status = await self._send("GET", url, None, headers)
        except TimeoutError:
            raise TargetUnreachable(
                f"the URL did not answer a GET within {self.timeout:g} s", field="url"
            ) from None
        except aiohttp.ClientError as exc:
            raise TargetUnreachable(
                f"the URL did not answer a GET: {_error(exc)}", field="url"
            ) from None
        if not 200 <= status < 300:
            raise TargetUnreachable(f"the URL answered a GET with {status}, not 2xx", field="url")

    async def _send(
        self, method: str, url: str, payload: bytes | None, headers: dict[str, str]
    ) -> int:
        target = await resolve(url, self.allow)
        pinned, host, extensions = pinned_request_parts(target, target.addresses[0])
        session = self._session_for(target.scheme, target.host)
        await self._close_extra()
        server_hostname = extensions.get("sni_hostname")
        async with session.request(
            method,
            URL(str(pinned), encoded=True),
            data=payload,
            headers={
                "User-Agent": USER_AGENT,
                **({"Content-Type": "application/json"} if payload is not None else {}),
                **headers,
                **host,
            },
            allow_redirects=False,
            server_hostname=server_hostname if isinstance(server_hostname, str) else None,
        ) as response:
            await _release(response)
            return response.status


async def _release(response: aiohttp.ClientResponse) -> None:
    """Read a short body that ends in time, so that its connection goes back to the pool;
    else close the connection."""
    try:
        async with asyncio.timeout(RELEASE_SECONDS):
            read = 0
            while read <= KEEP_ALIVE_BODY:
                chunk = await response.content.readany()
                if not chunk:
                    return  # the whole body: the connection can be kept
                read += len(chunk)
    except (aiohttp.ClientError, TimeoutError):
        pass  # the status is in: only the connection is lost
    response.close()


class AnswerTooLong(aiohttp.ClientPayloadError):
    """More than ANSWER_BUDGET bytes came back for one request."""


class _BudgetedHandler(ResponseHandler):
    """A connection's protocol that refuses to read more than ANSWER_BUDGET bytes per request
    (aiohttp sets each request's response parameters anew: that starts a new count)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._received = 0

    def set_response_params(self, **options: Any) -> None:
        self._received = 0
        super().set_response_params(**options)

    def data_received(self, data: bytes) -> None:
        if self._received > ANSWER_BUDGET:
            return  # cut off: the transport is closing
        self._received += len(data)
        if self._received > ANSWER_BUDGET:
            exc = AnswerTooLong(f"the answer went past {ANSWER_BUDGET // 1024} KiB")
            self.set_exception(exc)
            if self._payload is not None:
                set_exception(self._payload, exc)
            if self.transport is not None:
                self.transport.close()
            return
        super().data_received(data)


def now() -> datetime:
    return datetime.now(UTC)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


ERROR_CHARACTERS = 300  # of what a receiver's bad answer made the HTTP client say


def _error(exc: aiohttp.ClientError) -> str:
    kind = type(exc).__name__
    text = str(exc) or kind
    text = text if kind in text else f"{kind}: {text}"
    return text if len(text) <= ERROR_CHARACTERS else text[:ERROR_CHARACTERS] + "…"
