"""Workflow latency benchmark: an accepted event to the first action of a workflow without a
timer, while events are ingested at a fixed rate.

Run from the repository root (after scripts/bootstrap):

    .venv/bin/python bench/workflow_latency.py                        # SQLite, 1,000 events/s, 30 s
    .venv/bin/python bench/workflow_latency.py --trigger-share 1.0 --seconds 15
    .venv/bin/python bench/workflow_latency.py --backend postgres
    .venv/bin/python bench/workflow_latency.py --json                 # the figures as JSON

On a fresh database, with real processes on 127.0.0.1 only. SQLite (the default): ``footfall
serve`` with its worker in-process, the embedded default; PostgreSQL: ``footfall serve
--no-worker`` and one ``footfall worker`` (``--worker`` picks either layout on either backend).
The servers get ``FOOTFALL_WEBHOOK_ALLOW_HOSTS=127.0.0.1``, so the HTTP block may reach the
receiver, which runs in this process on the same event loop as the load (uvloop): both moments
of a latency are this process's ``time.monotonic()``.

One workflow is created enabled: started by ``cartUpdated``, an ``http`` block that POSTs
``{"n": "{{ event.params.n }}"}`` to the receiver, then ``end``. The load is open loop (each
request is due at start + i/rate and sent then, on ``--connections`` connections, whatever the
answers before it; harness.open_loop): ``--rate`` events/s to ``POST /api/v2/event`` for
``--seconds``, of which ``--trigger-share`` (spread evenly) are ``cartUpdated``, each with a
unique ``n`` and a contact of its own (keyValue and email), and the others ``pageViewed`` of a
pool of visitors (``externalCustomerId``), which no workflow starts on.

A triggering event's latency runs from when the client had the API's 2xx for it to when the
receiver had the request carrying its ``n`` in full. The triggering events due in the first
WARM_SECONDS are not counted. After the load, the receiver is given DRAIN_SECONDS for the last
ones; every triggering event (warm-up included) must have arrived by then. Also reported: the
achieved ingest rate (accepted events over the time from the first one's due moment to the
last 2xx) and the API's own latency (due to 2xx: did ingestion keep up?).

Where the time went, read from the database before it is dropped (the servers' wall clock, this
process's moments moved onto it): for each counted event, accepted (``received_us``) -> 2xx at
the client, accepted -> run started (the ``workflows:events`` consumer), run started -> at the
receiver (the run loop, then the action loop: the run loop's move records no step of its own),
at the receiver -> outcome recorded; and the consumer's pages that started runs (the runs of one
page share their ``started_us``): how often one came and how many runs each held. With
``--json`` the figures are printed as one JSON object; progress goes to stderr either way, and
the servers' stderr to a log file whose path is printed at the end.

Targets (issue 11): p50 <= 50 ms and p99 <= 250 ms at 1,000 events/s, none missing. The run
exits with status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import math
import os
import re
import shlex
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import msgspec
import uvloop

from harness import (
    backend_env,
    create_workspace,
    drop_database,
    open_loop,
    percentile,
    start_footfall,
    start_worker,
    stop_process,
)

P50_MS, P99_MS = 50.0, 250.0
WARM_SECONDS = 3.0
DRAIN_SECONDS = 10.0
TRIGGER, OTHER = "cartUpdated", "pageViewed"
VISITORS = 2_000  # the pool of contacts the other events are about

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def workflow(url: str) -> dict[str, Any]:
    return {
        "name": "latency",
        "start": {"event": TRIGGER},
        "blocks": [
            {"id": "tell", "type": "http", "url": url, "body": {"n": "{{ event.params.n }}"}},
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "start", "to": "tell"}, {"from": "tell", "to": "done"}],
    }


# -- the receiver ------------------------------------------------------------------------------------


@dataclass
class Arrivals:
    """What the receiver has had: each ``n``'s first arrival (monotonic), and the counts."""

    first: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    repeats: int = 0  # an ``n`` again (HTTP blocks are at least once)
    connections: int = 0
    unreadable: int = 0

    def record(self, body: bytes, at: float) -> None:
        self.requests += 1
        try:
            n = str(_decode(body)["n"])
        except (msgspec.DecodeError, KeyError, TypeError):
            self.unreadable += 1
            return
        if n in self.first:
            self.repeats += 1
        else:
            self.first[n] = at


class _Receiver(asyncio.Protocol):
    """HTTP/1.1 keep-alive, bodies by Content-Length, every request answered 200 at once."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.arrivals.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            match = _LENGTH.search(self.buffer, 0, end + 2)
            length = int(match.group(1)) if match else 0
            if len(self.buffer) < end + 4 + length:
                return
            at = time.monotonic()
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.arrivals.record(body, at)
            assert self.transport is not None
            self.transport.write(_OK)


# -- the load ----------------------------------------------------------------------------------------


def load(rate: float, seconds: float, share: float, tag: str) -> tuple[list[bytes], dict[int, str]]:
    """One body per request of the run (request i sends body i), and which requests trigger,
    with their ``n``: ``share`` of them, spread evenly."""
    total = int(rate * seconds)
    bodies: list[bytes] = []
    triggers: dict[int, str] = {}
    for i in range(total):
        if math.floor((i + 1) * share) > math.floor(i * share):
            n = str(len(triggers))
            who = f"cart{n}-{tag}@example.com"
            triggers[i] = n
            body: dict[str, Any] = {
                "eventTypeKey": TRIGGER,
                "keyValue": who,
                "params": [
                    {"name": "email", "value": who},
                    {"name": "recycleStateId", "value": f"cart-{tag}-{n}"},
                    {"name": "n", "value": n},
                    {
                        "name": "products",
                        "value": [{"productId": f"p{i % 97}", "quantity": 1, "price": 19.9}],
                    },
                ],
            }
        else:
            visitor = f"visitor{i % VISITORS}-{tag}"
            body = {
                "eventTypeKey": OTHER,
                "keyValue": visitor,
                "params": [
                    {"name": "externalCustomerId", "value": visitor},
                    {"name": "page", "value": {"location": f"https://shop.example/p/{i % 500}"}},
                ],
            }
        bodies.append(msgspec.json.encode(body))
    return bodies, triggers


# -- the run -----------------------------------------------------------------------------------------


@dataclass
class Figures:
    backend: str
    layout: str
    offered_rate: float
    achieved_rate: float
    seconds: float
    events: int
    triggers: int
    counted: int  # triggering events after the warm-up that arrived
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    missing: int  # triggering events (warm-up included) not at the receiver DRAIN_SECONDS after
    repeats: int
    api_p50_ms: float
    api_p99_ms: float
    api_max_ms: float
    receiver_connections: int
    load_average: list[float]
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # where the time went
    pages: dict[str, float] = field(default_factory=dict)  # the consumer's pages that started runs
    passed: bool = False
    missed: list[str] = field(default_factory=list)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f":{key}".encode()).decode()}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def measure(
    url: str, key: str, env: dict[str, str], args: argparse.Namespace, arrivals: Arrivals
) -> Figures:
    """Create the workflow, send the load, wait for the last actions: the figures."""
    async with httpx.AsyncClient(base_url=url, headers=basic(key), timeout=30) as client:
        made = await client.post("/api/v1/workflows?enabled=true", json=workflow(args.receiver_url))
        made.raise_for_status()
    tag = uuid.uuid4().hex[:6]
    bodies, triggers = load(args.rate, args.seconds, args.trigger_share, tag)
    say(
        f"  {len(bodies):,} events at {args.rate:,.0f}/s for {args.seconds:g} s, "
        f"{len(triggers):,} of them {TRIGGER} ..."
    )
    replies = await open_loop(url, key, bodies, args.rate, args.seconds, args.connections)
    loaded = time.monotonic()
    while len(arrivals.first) < len(triggers) and time.monotonic() - loaded < DRAIN_SECONDS:
        await asyncio.sleep(0.05)
    start = replies[0][0]
    achieved = len(replies) / (max(replied for _, replied in replies) - start)
    latencies: list[float] = []
    counted: dict[str, tuple[float, float]] = {}  # n: (2xx, arrival), monotonic
    missing = 0
    for i, n in triggers.items():
        arrived = arrivals.first.get(n)
        if arrived is None:
            missing += 1
            continue
        due, replied = replies[i]
        if due - start >= WARM_SECONDS:
            latencies.append((arrived - replied) * 1000)
            counted[n] = (replied, arrived)
    api = [(replied - due) * 1000 for due, replied in replies]
    stages, pages = await asyncio.to_thread(where_time_went, env, counted)
    return Figures(
        backend=args.backend,
        layout=args.layout,
        offered_rate=args.rate,
        achieved_rate=achieved,
        seconds=args.seconds,
        events=len(replies),
        triggers=len(triggers),
        counted=len(latencies),
        p50_ms=percentile(latencies, 0.5) if latencies else None,
        p90_ms=percentile(latencies, 0.9) if latencies else None,
        p99_ms=percentile(latencies, 0.99) if latencies else None,
        max_ms=max(latencies) if latencies else None,
        missing=missing,
        repeats=arrivals.repeats,
        api_p50_ms=percentile(api, 0.5),
        api_p99_ms=percentile(api, 0.99),
        api_max_ms=max(api),
        receiver_connections=arrivals.connections,
        load_average=[round(n, 2) for n in os.getloadavg()],
        stages=stages,
        pages=pages,
    )


# Each counted run's moments, read from the database (the servers' wall clock, microseconds):
# the event accepted (received_us, before its commit), the run started by the feed consumer, the
# HTTP block's outcome recorded. (The run loop's move to the block records no step of its own:
# the run loop and the action loop are one stage here.)
MOMENTS = (
    "SELECT e.key_value, e.received_us, r.started_us, "
    "(SELECT max(s.at_us) FROM workflow_steps s WHERE s.run_id = r.id AND s.block = 'tell') "
    "FROM workflow_runs r JOIN events e ON e.id = r.event_id"
)
STAGES = (
    "accepted -> 2xx at the client",
    "accepted -> run started (feed consumer)",
    "run started -> at the receiver (run loop, action loop)",
    "at the receiver -> outcome recorded",
)


def where_time_went(
    env: dict[str, str], counted: dict[str, tuple[float, float]]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """p50 and p99 of each stage of the counted triggering events, on the wall clock (this
    process's monotonic moments moved onto it; the servers run on the same host); and the feed
    consumer's pages that started them (the runs of one page share their ``started_us``): how
    many, the time between one and the next, runs per page."""
    offset = time.time() - time.monotonic()
    url = env.get("FOOTFALL_DATABASE_URL")
    if url is None:
        import sqlite3

        path = Path(env["FOOTFALL_DATA_DIR"]) / "footfall.db"
        with sqlite3.connect(path, timeout=30) as conn:
            rows = conn.execute(MOMENTS).fetchall()
    else:
        import psycopg

        with psycopg.connect(url) as pg:
            rows = pg.execute(MOMENTS).fetchall()
    spans: list[list[float]] = [[] for _ in STAGES]
    per_page: dict[int, int] = {}
    for key_value, received, started, recorded in rows:
        n = str(key_value).removeprefix("cart").split("-", 1)[0]
        if n not in counted or recorded is None:
            continue
        per_page[started] = per_page.get(started, 0) + 1
        replied, arrived = ((t + offset) * 1_000_000 for t in counted[n])
        bases = [received, received, started, arrived]
        ends = [replied, started, arrived, recorded]
        for span, base, end in zip(spans, bases, ends, strict=True):
            span.append((end - base) / 1000)
    stages = {
        name: {"p50_ms": percentile(span, 0.5), "p99_ms": percentile(span, 0.99)}
        for name, span in zip(STAGES, spans, strict=True)
        if span
    }
    moments = sorted(per_page)
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(moments)]
    pages: dict[str, float] = {"pages": len(moments)}
    if gaps:
        pages |= {
            "interval_p50_ms": percentile(gaps, 0.5),
            "interval_p90_ms": percentile(gaps, 0.9),
            "runs_per_page_p50": percentile(list(per_page.values()), 0.5),
            "runs_per_page_max": max(per_page.values()),
        }
    return stages, pages


async def bench(args: argparse.Namespace, workdir: Path) -> Figures:
    arrivals = Arrivals()
    loop = asyncio.get_running_loop()
    receiver = await loop.create_server(lambda: _Receiver(arrivals), "127.0.0.1", 0, backlog=1024)
    port = receiver.sockets[0].getsockname()[1]
    args.receiver_url = f"http://127.0.0.1:{port}/hook"
    env, database = backend_env(args.backend, workdir)
    env["FOOTFALL_WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"
    args.log = Path(tempfile.gettempdir()) / f"footfall-workflow-latency-{uuid.uuid4().hex[:6]}.log"
    apart = args.layout == "apart"
    try:
        _, key = await asyncio.to_thread(create_workspace, env, "latency")
        with args.log.open("wb") as log:
            server = await asyncio.to_thread(start_footfall, env, 1, log, apart)
            worker = start_worker(env, log) if apart else None
        try:
            return await measure(server.url, key, env, args, arrivals)
        finally:
            if worker is not None:
                await asyncio.to_thread(stop_process, worker)
            await asyncio.to_thread(server.stop)
    finally:
        receiver.close()
        await receiver.wait_closed()
        await asyncio.to_thread(drop_database, database)


def judge(f: Figures) -> None:
    checks = [
        (
            f"p50 {_ms(f.p50_ms)} (target <= {P50_MS:g} ms)",
            f.p50_ms is not None and f.p50_ms <= P50_MS,
        ),
        (
            f"p99 {_ms(f.p99_ms)} (target <= {P99_MS:g} ms)",
            f.p99_ms is not None and f.p99_ms <= P99_MS,
        ),
        (
            f"{f.missing} of {f.triggers:,} triggering events never reached the receiver",
            not f.missing,
        ),
    ]
    f.missed = [text for text, met in checks if not met]
    f.passed = not f.missed


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def report(f: Figures) -> None:
    layout = (
        "serve (worker in-process)" if f.layout == "in-process" else "serve --no-worker + worker"
    )
    print(
        f"== {f.backend}, {layout}: accepted event -> first action (http block), "
        f"{f.offered_rate:,.0f} events/s offered for {f.seconds:g} s =="
    )
    print(
        f"  ingest: {f.events:,} events accepted at {f.achieved_rate:,.0f}/s achieved; "
        f"due -> 2xx p50 {f.api_p50_ms:.1f}  p99 {f.api_p99_ms:.1f}  max {f.api_max_ms:.1f} ms"
    )
    print(
        f"  {f.triggers:,} triggering events ({TRIGGER}); counted after the {WARM_SECONDS:g} s "
        f"warm-up: {f.counted:,}"
    )
    print(
        f"  latency  p50 {_ms(f.p50_ms)}  p90 {_ms(f.p90_ms)}  p99 {_ms(f.p99_ms)}  "
        f"max {_ms(f.max_ms)}"
    )
    print(
        f"  never reached the receiver within {DRAIN_SECONDS:g} s after the load: {f.missing}; "
        f"received twice: {f.repeats}; receiver connections: {f.receiver_connections}"
    )
    if f.stages:
        print("  where the time went (p50 / p99, wall clock, from the database):")
        for name, spread in f.stages.items():
            print(f"    {name:56} {spread['p50_ms']:8.1f} / {spread['p99_ms']:8.1f} ms")
    if "interval_p50_ms" in f.pages:
        p = f.pages
        print(
            f"  the feed consumer started them in {p['pages']:,.0f} pages, one every "
            f"{p['interval_p50_ms']:.1f} ms (p50; p90 {p['interval_p90_ms']:.1f} ms), "
            f"{p['runs_per_page_p50']:.0f} runs each (p50; max {p['runs_per_page_max']:.0f})"
        )
    print(f"  load average at the end: {', '.join(f'{n:.2f}' for n in f.load_average)}")
    for text in f.missed:
        print(f"  MISSED {text}")
    print("PASS" if f.passed else "FAIL")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--worker",
        dest="layout",
        choices=["in-process", "apart"],
        help="the worker in serve's process, or serve --no-worker and a footfall worker "
        "(default: in-process on SQLite, apart on PostgreSQL)",
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s offered")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of load")
    parser.add_argument(
        "--trigger-share", type=float, default=0.1, help=f"the share of {TRIGGER} events (0-1]"
    )
    parser.add_argument("--connections", type=int, default=32, help="the load's connections")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not 0 < args.trigger_share <= 1:
        parser.error("--trigger-share must be in (0, 1]")
    if args.rate * args.seconds * args.trigger_share < 1:
        parser.error("the load holds no triggering event")
    args.layout = args.layout or ("in-process" if args.backend == "sqlite" else "apart")
    python = sys.executable.replace(str(Path.cwd()) + "/", "")
    say(f"$ {shlex.join([python, *sys.argv])}")
    with tempfile.TemporaryDirectory(prefix="footfall-workflow-latency-") as tmp:
        figures = uvloop.run(bench(args, Path(tmp)))
    judge(figures)
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
    else:
        report(figures)
    say(f"  servers' log: {args.log}")
    sys.exit(0 if figures.passed else 1)


if __name__ == "__main__":
    main()
