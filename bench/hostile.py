"""The hostile workspace of the soak benchmark (bench/soak.py): crafted requests on raw sockets.

Raw sockets, because a well-kept client refuses to send most of this (NUL bytes in a query,
header values that are not text, lying Content-Length, requests that never finish). Every
request goes to 127.0.0.1 on a new connection marked ``Connection: close``; the result of each
is its status code ("200 refused" when a batch's items were all refused), or "no reply" when the
server closed the connection without answering.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

DEPTH = 1000
EVENT_LIMIT = 20_480  # FOOTFALL_MAX_BODY_BYTES, default
BATCH_LIMIT = 16 * 1024 * 1024  # FOOTFALL_MAX_BATCH_BODY_BYTES, default
NO_REPLY = "no reply"
SLOW_SECONDS = 20


@dataclass
class HostileResult:
    """Statuses by attack and variant; ``slow`` counts how partial requests ended."""

    statuses: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    slow: Counter[str] = field(default_factory=Counter)
    connections: int = 0

    def record(self, attack: str, variant: str, status: str) -> None:
        self.statuses.setdefault((attack, variant), Counter())[status] += 1

    def by_attack(self) -> dict[str, Counter[str]]:
        totals: dict[str, Counter[str]] = {}
        for (attack, _), statuses in self.statuses.items():
            totals.setdefault(attack, Counter()).update(statuses)
        return totals

    def server_errors(self) -> list[tuple[str, str, int]]:
        """(attack, variant, count) of every 5xx."""
        return [
            (attack, variant, n)
            for (attack, variant), statuses in self.statuses.items()
            for status, n in statuses.items()
            if status.startswith("5")
        ]


# -- building raw requests -----------------------------------------------------------------------


def basic(key: str) -> bytes:
    return b"Basic " + base64.b64encode(f":{key}".encode())


def request(
    method: str,
    path: bytes | str,
    auth: bytes | None,
    body: bytes = b"",
    extra: list[bytes] | None = None,
    length: int | None = None,
) -> bytes:
    target = path.encode() if isinstance(path, str) else path
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if auth is not None:
        lines.append(b"Authorization: " + auth)
    lines += [b"Content-Type: application/json", b"Connection: close", *(extra or [])]
    if method == "POST":
        lines.append(b"Content-Length: " + str(len(body) if length is None else length).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def event_body(type_key: str, key_value: str, params: object) -> bytes:
    body = {"eventTypeKey": type_key, "keyValue": key_value, "params": params}
    return json.dumps(body, separators=(",", ":")).encode()


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


# -- the attacks: (attack, variant, how to build the request from the key) ---------------------

Build = Callable[[str, random.Random], bytes]


def post(body: bytes, path: str = "/api/v2/event") -> Build:
    return lambda key, _rng: request("POST", path, basic(key), body)


def get(path: bytes | str) -> Build:
    return lambda key, _rng: request("GET", path, basic(key))


def with_auth(shape: Callable[[str, random.Random], bytes], path: str) -> Build:
    method = "GET" if path == "/api/v1/events" else "POST"
    return lambda key, rng: request(method, path, shape(key, rng), event_body("auth", "c", []))


def past(item: object) -> bytes:
    return json.dumps({"events": [item]}).encode()


def order(**fields: object) -> bytes:
    base = {
        "externalOrderId": "c-order",
        "totalCost": 1,
        "status": "DELIVERED",
        "date": "2024-01-01T00:00:00Z",
        "currency": "EUR",
        "email": "c@example.com",
    }
    return json.dumps({"orders": [{**base, **fields}]}).encode()


def sized(size: int) -> bytes:
    """A valid event of exactly ``size`` bytes."""
    base = event_body("bigEvent", "c-big", [{"name": "fill", "value": ""}])
    return event_body("bigEvent", "c-big", [{"name": "fill", "value": "f" * (size - len(base))}])


def chunked(body: bytes) -> Build:
    def build(key: str, _rng: random.Random) -> bytes:
        head = request("GET", "/api/v2/event", basic(key)).replace(b"GET", b"POST", 1)
        return head[:-2] + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (
            len(body),
            body,
        )

    return build


def new_type(key: str, rng: random.Random) -> bytes:
    name = "t" + uuid.uuid4().hex[: rng.randrange(8, 32)]
    params = [{"name": f"p{uuid.uuid4().hex[:12]}", "value": rng.random()}]
    return request("POST", "/api/v2/event", basic(key), event_body(name, "c-types", params))


def batch_near_limit(key: str, _rng: random.Random) -> bytes:
    """500 past events just under the batch limit together, each over the live-event limit."""
    fill = "f" * (BATCH_LIMIT // 500 - 200)
    events = [
        {
            "eventTypeKey": "huge",
            "keyValue": f"c-{n}",
            "occurred": "2024-01-01",
            "params": [{"name": "f", "value": fill}],
        }
        for n in range(500)
    ]
    return request(
        "POST", "/api/v2/past_events", basic(key), json.dumps({"events": events}).encode()
    )


def batch_over_limit(key: str, _rng: random.Random) -> bytes:
    """Declares a past_events body over the batch limit and sends only the start of it."""
    body = b'{"events":[' + b" " * 65536
    return request("POST", "/api/v2/past_events", basic(key), body, length=BATCH_LIMIT + 1)


DEEP = nested(DEPTH)
DEEP_ITEM = {
    "eventTypeKey": "deep",
    "keyValue": "c",
    "occurred": "2024-01-01",
    "params": [{"name": "v", "value": DEEP}],
}
PRODUCT_NAN = '{"productId":"p","price":NaN,"isInStock":1}'
JUNK_AUTH: dict[str, Callable[[str, random.Random], bytes]] = {
    "empty": lambda _k, _r: b"",
    "Basic alone": lambda _k, _r: b"Basic",
    "not base64": lambda _k, _r: b"Basic !!!not-base64!!!",
    "no colon": lambda _k, _r: b"Basic " + base64.b64encode(b"no-colon-here"),
    "unknown key": lambda _k, _r: basic("ff_" + uuid.uuid4().hex),
    "binary key": lambda _k, r: b"Basic " + base64.b64encode(b":" + r.randbytes(40)),
    "5,000-byte key": lambda _k, _r: basic("x" * 5000),
    "unknown bearer": lambda _k, _r: b"Bearer " + uuid.uuid4().hex.encode(),
    "3,000-byte bearer": lambda _k, _r: b"Bearer " + b"t" * 3000,
    "Digest": lambda _k, _r: b'Digest username="a", realm="b"',
    "key + 1 char": lambda k, _r: basic(k + "x"),
    "key cut short": lambda k, _r: basic(k)[:-3],
    "non-ASCII": lambda _k, _r: b"Basic \xc3\xa9\xe2\x82\xac" + bytes(range(128, 160)),
    "printable junk": lambda _k, r: bytes(r.randrange(33, 127) for _ in range(r.randrange(1, 900))),
}

VARIANTS: list[tuple[str, str, Build]] = [
    ("missing params", "pageViewed without page", post(event_body("pageViewed", "c", []))),
    (
        "missing params",
        "product without productId",
        post(event_body("productViewed", "c", [{"name": "product", "value": {"price": 1}}])),
    ),
    ("missing params", "no eventTypeKey", post(b'{"keyValue":"c","params":[]}')),
    (
        "missing params",
        "cartUpdated without params",
        post(b'{"eventTypeKey":"cartUpdated","keyValue":"c"}'),
    ),
    ("missing params", "order with totalCost null", post(order(totalCost=None), "/api/v1/orders")),
    (
        "missing params",
        "past event without occurred",
        post(past({"eventTypeKey": "x", "keyValue": "c", "params": []}), "/api/v2/past_events"),
    ),
    ("wrong types", "eventTypeKey number", post(b'{"eventTypeKey":5,"keyValue":"c","params":[]}')),
    (
        "wrong types",
        "keyValue object",
        post(b'{"eventTypeKey":"x","keyValue":{"a":1},"params":[]}'),
    ),
    ("wrong types", "params string", post(b'{"eventTypeKey":"x","keyValue":"c","params":"no"}')),
    (
        "wrong types",
        "param without name",
        post(b'{"eventTypeKey":"x","keyValue":"c","params":[{"value":1}]}', "/api/v1/event"),
    ),
    (
        "wrong types",
        "price text",
        post(
            event_body(
                "productViewed",
                "c",
                [{"name": "product", "value": {"productId": "p", "price": "abc", "isInStock": 7}}],
            )
        ),
    ),
    ("wrong types", "top-level array", post(b"[]")),
    ("wrong types", "events null", post(b'{"events":null}', "/api/v2/past_events")),
    ("wrong types", "orders object", post(b'{"orders":{"a":1}}', "/api/v1/orders")),
    ("wrong types", "totalCost text", post(order(totalCost="lots"), "/api/v1/orders")),
    ("wrong types", "malformed JSON", post(b"{not json")),
    (
        "wrong types",
        "truncated JSON",
        post(b'{"eventTypeKey":"x","keyValue":"c","params":[', "/api/v2/past_events"),
    ),
    ("wrong types", "empty body", post(b"")),
    ("wrong types", "binary body", post(b"\xff\xfe\x00{")),
    (
        "deep nesting",
        "event value",
        post(
            (
                '{"eventTypeKey":"deep","keyValue":"c","params":[{"name":"v","value":'
                + DEEP
                + "}]}"
            ).encode()
        ),
    ),
    (
        "deep nesting",
        "JSON in a string",
        post(event_body("deep", "c", [{"name": "v", "value": DEEP}])),
    ),
    ("deep nesting", "past event", post(past(DEEP_ITEM), "/api/v2/past_events")),
    (
        "deep nesting",
        "order field",
        post(order(items="-").replace(b'"-"', DEEP.encode()), "/api/v1/orders"),
    ),
    ("deep nesting", "whole body", post(('{"a":' * DEPTH + "1" + "}" * DEPTH).encode())),
    (
        "huge headers",
        "one 40 KB header",
        lambda k, _r: request(
            "POST", "/api/v2/event", basic(k), b"{}", [b"X-Junk: " + b"a" * 40_000]
        ),
    ),
    (
        "huge headers",
        "600 headers",
        lambda k, _r: request(
            "POST",
            "/api/v2/event",
            basic(k),
            b"{}",
            [b"X-H%d: %s" % (i, b"v" * 60) for i in range(600)],
        ),
    ),
    ("huge headers", "60 KB query string", get("/api/v1/events?keyValue=" + "k" * 60_000)),
    *(("junk auth", name, with_auth(shape, "/api/v2/event")) for name, shape in JUNK_AUTH.items()),
    ("junk auth", "junk on history", with_auth(JUNK_AUTH["printable junk"], "/api/v1/events")),
    ("junk auth", "junk on past_events", with_auth(JUNK_AUTH["non-ASCII"], "/api/v2/past_events")),
    (
        "junk auth",
        "two Authorization headers",
        lambda k, _r: request(
            "POST", "/api/v2/event", basic(k), b"{}", [b"Authorization: Bearer x"]
        ),
    ),
    ("size limit", "event at the limit", post(sized(EVENT_LIMIT))),
    ("size limit", "event 1 byte over", post(sized(EVENT_LIMIT + 1))),
    ("size limit", "event 1 byte over, chunked", chunked(sized(EVENT_LIMIT + 1))),
    (
        "size limit",
        "Content-Length larger than body",
        lambda k, _r: request("POST", "/api/v2/event", basic(k), b"{}", length=10),
    ),
    (
        "size limit",
        "Content-Length not a number",
        lambda k, _r: request("POST", "/api/v2/event", basic(k), b"{}", [b"Content-Length: -1"]),
    ),
    ("NUL bytes", "%00 in keyValue", get("/api/v1/events?keyValue=a%00b")),
    ("NUL bytes", "%00 in eventTypeKey", get("/api/v1/events?eventTypeKey=%00")),
    ("NUL bytes", "%00 in cursor", get("/api/v1/events?cursor=%00%00")),
    ("NUL bytes", "%00 in from", get("/api/v1/events?from=2024%00")),
    ("NUL bytes", "%00 in failed-events", get("/api/v1/failed-events?eventTypeKey=%00&reason=%00")),
    ("NUL bytes", "raw NUL in query", get(b"/api/v1/events?keyValue=a\x00b")),
    (
        "NUL bytes",
        "\\u0000 in event",
        post(event_body("nul\u0000", "c\u0000", [{"name": "n\u0000", "value": "\u0000"}])),
    ),
    (
        "NaN",
        "NaN literal",
        post(b'{"eventTypeKey":"nan","keyValue":"c","params":[{"name":"v","value":NaN}]}'),
    ),
    (
        "NaN",
        "Infinity literal",
        post(b'{"eventTypeKey":"nan","keyValue":"c","params":[{"name":"v","value":Infinity}]}'),
    ),
    (
        "NaN",
        "1e999",
        post(b'{"eventTypeKey":"nan","keyValue":"c","params":[{"name":"v","value":1e999}]}'),
    ),
    (
        "NaN",
        "NaN in a JSON string",
        post(event_body("nan", "c", [{"name": "v", "value": '{"x":NaN}'}])),
    ),
    (
        "NaN",
        "price NaN in a JSON string",
        post(event_body("productViewed", "c", [{"name": "product", "value": PRODUCT_NAN}])),
    ),
    (
        "NaN",
        'price "NaN"',
        post(
            event_body(
                "productViewed",
                "c",
                [{"name": "product", "value": {"productId": "p", "price": "NaN", "isInStock": 1}}],
            )
        ),
    ),
    (
        "NaN",
        "order totalCost NaN",
        post(order().replace(b'"totalCost": 1', b'"totalCost": NaN'), "/api/v1/orders"),
    ),
    *(("new type names", f"#{n}", new_type) for n in range(5)),
    ("junk reads", "limit -1", get("/api/v1/events?limit=-1")),
    ("junk reads", "limit 10^23", get("/api/v1/events?limit=99999999999999999999999")),
    ("junk reads", "from yesterday", get("/api/v1/events?from=yesterday")),
    ("junk reads", "to 2024-13-45", get("/api/v1/events?to=2024-13-45")),
    (
        "junk reads",
        "random cursor",
        lambda k, r: request(
            "GET",
            "/api/v1/events?cursor=" + base64.urlsafe_b64encode(r.randbytes(30)).decode(),
            basic(k),
        ),
    ),
    ("junk reads", "cursor %FF%FE", get("/api/v1/events?cursor=%FF%FE")),
    ("junk reads", "contactId 1e400", get("/api/v1/events?contactId=1e400")),
    ("junk reads", "contact 10^21", get("/api/v1/contact/999999999999999999999/events")),
    ("junk reads", "type %00", get("/api/v1/event-types/%00")),
    ("junk reads", "type of 3,000 chars", get("/api/v1/event-types/" + "x" * 3000)),
    ("junk reads", "../../etc/passwd", get("/../../etc/passwd")),
    ("junk reads", "DELETE event", lambda k, _r: request("DELETE", "/api/v2/event", basic(k))),
    (
        "junk reads",
        "PUT type, no body",
        lambda k, _r: request("PUT", "/api/v1/event-types/x", basic(k)),
    ),
]
RARE: list[tuple[str, str, Build]] = [
    ("size limit", "past_events declared over the batch limit", batch_over_limit),
    ("size limit", "past_events near the batch limit", batch_near_limit),
]


# -- sending ----------------------------------------------------------------------------------


async def exchange(host: str, port: int, raw: bytes, timeout: float = 30) -> str:
    """Send ``raw`` on a new connection; what the answer said (see the module's docstring)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        try:
            writer.write(raw)
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the server may answer (413, 431) and close before reading everything
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            size = min(int(length.group(1)), 1 << 20) if length else 0
            body = await asyncio.wait_for(reader.readexactly(size), timeout)
        except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
            return NO_REPLY
        parts = head.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return NO_REPLY
        return describe(parts[1].decode(), body)
    finally:
        writer.close()


def describe(status: str, body: bytes) -> str:
    """The status, and for a 200 to a batch whether its items were refused."""
    if status != "200" or not body.startswith(b"{"):
        return status
    answer = json.loads(body)
    if answer.get("failedOrders") or answer.get("successCount", 1) == 0:
        return "200 refused"
    if answer.get("errorCount"):
        return "200 partly refused"
    return status


async def slow_request(host: str, port: int, key: str, rng: random.Random, seconds: float) -> str:
    """A request trickled a byte a second for ``seconds`` (its head, or its body after a whole
    head), or a connection that sends nothing; then abandoned. Which, and how it ended."""
    raw = request("POST", "/api/v2/event", basic(key), event_body("slow", "c-slow", []))
    mode = rng.choice(["head", "body", "silent"])
    position = raw.index(b"\r\n\r\n") + 4 if mode == "body" else 0
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw[:position])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and position < len(raw) - 1:
            if mode != "silent":
                writer.write(raw[position : position + 1])
                await writer.drain()
                position += 1
            try:
                data = await asyncio.wait_for(reader.read(1024), 1.0)
            except TimeoutError:
                continue
            return f"{mode}: answered early" if data else f"{mode}: closed by server"
        return f"{mode}: held open until the client left"
    except (ConnectionError, OSError):
        return f"{mode}: closed by server"
    finally:
        writer.close()


async def burst(
    host: str, port: int, key: str, rng: random.Random, size: int, out: HostileResult
) -> None:
    """``size`` connections at once: a third silent, a third junk credentials, a third valid."""

    async def one(n: int) -> None:
        try:
            if n % 3 == 0:
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return
            variant = "junk credentials" if n % 3 == 1 else "valid event"
            raw = (
                with_auth(JUNK_AUTH["printable junk"], "/api/v2/event") if n % 3 == 1 else new_type
            )
            status = await exchange(host, port, raw(key, rng))
        except (ConnectionError, OSError):
            status = NO_REPLY
        out.record("connection burst", variant, status)

    await asyncio.gather(*(one(n) for n in range(size)))
    out.connections += size


async def hostile_traffic(
    url: str, key: str, seconds: float, rate: float, slow: int, burst_size: int, seed: int
) -> HostileResult:
    """Attacks at ``rate`` per second, ``slow`` partial requests open at all times, a burst of
    ``burst_size`` connections every 20 s, and the rare (large) attacks once a minute from 30 s."""
    host, port_text = url.removeprefix("http://").split(":")
    port = int(port_text)
    rng = random.Random(seed)
    out = HostileResult()
    end = time.monotonic() + seconds
    limit = asyncio.Semaphore(32)
    pending: set[asyncio.Task[None]] = set()

    async def attack(name: str, variant: str, build: Build) -> None:
        async with limit:
            try:
                status = await exchange(host, port, build(key, rng))
            except (ConnectionError, OSError):
                status = NO_REPLY
            out.record(name, variant, status)
            out.connections += 1

    async def slowloris() -> None:
        while time.monotonic() < end - 1:
            seconds = min(SLOW_SECONDS, end - time.monotonic())
            out.slow[await slow_request(host, port, key, rng, seconds)] += 1
            out.connections += 1

    async def bursts() -> None:
        while time.monotonic() + 20 < end:
            await asyncio.sleep(20)
            await burst(host, port, key, rng, burst_size, out)

    async def rare() -> None:
        await asyncio.sleep(min(30, seconds / 2))
        while time.monotonic() + 5 < end:
            for name, variant, build in RARE:
                await attack(name, variant, build)
            await asyncio.sleep(max(0.0, min(60, end - time.monotonic() - 5)))

    background = [asyncio.create_task(slowloris()) for _ in range(slow)]
    background += [asyncio.create_task(bursts()), asyncio.create_task(rare())]
    n = 0
    while time.monotonic() < end:
        task = asyncio.create_task(attack(*VARIANTS[n % len(VARIANTS)]))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*pending, *background)
    return out
