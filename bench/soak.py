"""Soak benchmark (issue 9): ten minutes of valid, noisy and hostile traffic from three workspaces.

Run from the repository root (after scripts/bootstrap):

    .venv/bin/python bench/soak.py                              # 600 s on SQLite, then PostgreSQL
    .venv/bin/python bench/soak.py --backend sqlite --duration 60
    .venv/bin/python bench/soak.py --source /path/to/other/checkout/src      # A/B runs

A real ``footfall serve`` process on a fresh database, on 127.0.0.1. Three workspaces, each
driven from a process of its own so that one's client work never delays another's timing:

- A, well-behaved: valid single events at a fixed rate (open loop: latency counts from when a
  request was due) and a history read every tenth tick. Measured alone first (``--idle-seconds``).
- B, noisy but valid: every ``--burst-every`` seconds, one to three ``past_events`` requests of
  up to 500 events and one ``orders`` request of up to 200 orders, sent together.
- C, hostile (bench/hostile.py): invalid events, values nested 1,000 deep, huge headers, junk
  credentials, bodies at and over the limits, NUL bytes, NaN, new type names, slow partial
  requests and bursts of connections.

Every event and order A and B had acknowledged is looked for in the database at the end. The
server's RSS, its database connections (PostgreSQL: pg_stat_activity for the bench database;
SQLite: descriptors of the server process open on the database file) and its open client
connections (/proc/net/tcp) are sampled every 5 s. The run fails (exit status 1) when any
target is missed: no 5xx and no transport error for A or B, no 5xx for C, nothing lost, A's p99
within 2x its idle p99, database connections within the pool's bound, client connections back
to where they started, RSS growth within RSS_GROWTH. A is measured alone once more after the soak
(for information: has anything lasting come of it?).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import (
    Server,
    backend_env,
    create_workspace,
    drop_database,
    percentile,
    start_footfall,
)
from hostile import HostileResult, hostile_traffic
from probe import Sample, sample, stored

P99_FACTOR = 2.0
POOL_BOUND = 8 + 1  # FOOTFALL_DB_POOL_SIZE (default) + the group committer's own connection
RSS_GROWTH = 0.25  # end RSS at most 25% above start, plus RSS_SLACK_MB
RSS_SLACK_MB = 16.0
SAMPLE_SECONDS = 5.0
WARM_SECONDS = 2.0  # A's first requests (connections, pool) are not part of its idle figure


Body = dict[str, object]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f":{key}".encode()).decode()}


@dataclass
class Traffic:
    """What a valid workspace sent and what it was told."""

    events_ms: list[float] = field(default_factory=list)
    events_at: list[float] = field(default_factory=list)  # when each was due, from the start
    reads_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    acked_events: list[str] = field(default_factory=list)
    acked_orders: list[str] = field(default_factory=list)
    refused: int = 0  # past events not ACCEPTED, orders listed as failed

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.transport_errors.values())

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


# -- A: the well-behaved workspace -----------------------------------------------------------------


def a_event(soak_id: str, n: int) -> Body:
    params: list[Body] = [{"name": "soakId", "value": soak_id}]
    if n % 2:
        params.append({"name": "page", "value": {"location": f"https://shop.example/p/{n % 97}"}})
        return {"eventTypeKey": "pageViewed", "keyValue": soak_id, "params": params}
    product = {"productId": f"sku-{n % 311}", "price": 9.5 + n % 40, "isInStock": 1}
    params.append({"name": "product", "value": product})
    return {"eventTypeKey": "productViewed", "keyValue": soak_id, "params": params}


async def well_behaved(url: str, key: str, seconds: float, rate: float, tag: str) -> Traffic:
    """Open loop: request i is due at start + i/rate; every tenth is a history read."""
    out = Traffic()
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(
        base_url=url, headers=auth(key), timeout=30, limits=limits
    ) as client:

        async def one(n: int, due: float) -> None:
            soak_id = f"a-{tag}-{n}"
            try:
                if n % 10 == 9 and out.acked_events:
                    query = {"keyValue": out.acked_events[-1], "limit": "10"}
                    reply = await client.get("/api/v1/events", params=query)
                    out.reads_ms.append((time.perf_counter() - due) * 1000)
                else:
                    reply = await client.post("/api/v2/event", json=a_event(soak_id, n))
                    out.events_ms.append((time.perf_counter() - due) * 1000)
                    out.events_at.append(due - start)
                    if reply.status_code == 200:
                        out.acked_events.append(soak_id)
                out.statuses[reply.status_code] += 1
            except httpx.HTTPError as exc:
                out.transport_errors[type(exc).__name__] += 1

        tasks = []
        start = time.perf_counter() + 0.1
        for n in range(int(seconds * rate)):
            due = start + n / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.gather(*tasks)
    return out


# -- B: the noisy but valid workspace ----------------------------------------------------------------


def b_event(soak_id: str, rng: random.Random) -> Body:
    occurred = (
        f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:00"
    )
    event = a_event(soak_id, rng.randrange(1000))
    event["occurred"] = occurred
    if rng.random() < 0.3:  # a custom type with a handful of parameters
        params: list[Body] = [{"name": "soakId", "value": soak_id}]
        params += [{"name": f"attr{i}", "value": rng.random()} for i in range(rng.randrange(1, 8))]
        event.update(eventTypeKey="importedVisit", params=params)
    return event


def b_order(order_id: str, rng: random.Random) -> Body:
    return {
        "externalOrderId": order_id,
        "totalCost": round(rng.uniform(5, 500), 2),
        "status": rng.choice(["INITIALIZED", "IN_PROGRESS", "DELIVERED"]),
        "date": "2025-06-01T12:00:00+02:00",
        "currency": "EUR",
        "externalCustomerId": f"cust-{rng.randrange(5000)}",
    }


async def send_past_events(client: httpx.AsyncClient, events: list[Body], out: Traffic) -> None:
    try:
        reply = await client.post("/api/v2/past_events", json={"events": events})
    except httpx.HTTPError as exc:
        out.transport_errors[type(exc).__name__] += 1
        return
    out.statuses[reply.status_code] += 1
    if reply.status_code == 200:
        for event, result in zip(events, reply.json()["results"], strict=True):
            if result["status"] == "ACCEPTED":
                out.acked_events.append(str(event["keyValue"]))
            else:
                out.refused += 1


async def send_orders(client: httpx.AsyncClient, orders: list[Body], out: Traffic) -> None:
    try:
        reply = await client.post("/api/v1/orders", json={"orders": orders})
    except httpx.HTTPError as exc:
        out.transport_errors[type(exc).__name__] += 1
        return
    out.statuses[reply.status_code] += 1
    if reply.status_code == 200:
        failed = {f["order"]["externalOrderId"] for f in reply.json()["failedOrders"]}
        out.refused += len(failed)
        ids = (str(o["externalOrderId"]) for o in orders)
        out.acked_orders += [i for i in ids if i not in failed]


async def noisy(url: str, key: str, seconds: float, every: float, seed: int) -> Traffic:
    """A burst every ``every`` seconds: 1-3 past_events requests and one orders request at once."""
    out = Traffic()
    rng = random.Random(seed)
    serial = itertools.count(1)
    end = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, headers=auth(key), timeout=120) as client:
        while time.monotonic() + every <= end:
            next_burst = time.monotonic() + every
            sends = [
                send_past_events(
                    client,
                    [b_event(f"b-{next(serial)}", rng) for _ in range(rng.randrange(1, 501))],
                    out,
                )
                for _ in range(rng.randrange(1, 4))
            ]
            orders = [b_order(f"o-{next(serial)}", rng) for _ in range(rng.randrange(1, 201))]
            sends.append(send_orders(client, orders, out))
            await asyncio.gather(*sends)
            await asyncio.sleep(max(0.0, next_burst - time.monotonic()))
    return out


# -- the three processes -----------------------------------------------------------------------------


def run_a(url: str, key: str, seconds: float, rate: float, tag: str) -> Traffic:
    return asyncio.run(well_behaved(url, key, seconds, rate, tag))


def run_b(url: str, key: str, seconds: float, every: float, seed: int) -> Traffic:
    return asyncio.run(noisy(url, key, seconds, every, seed))


def run_c(url: str, key: str, seconds: float, args: argparse.Namespace) -> HostileResult:
    return asyncio.run(
        hostile_traffic(url, key, seconds, args.hostile_rate, args.slow, args.burst, args.seed)
    )


# -- one backend ---------------------------------------------------------------------------------------


@dataclass
class Run:
    idle: Traffic
    after: Traffic  # A alone again after the soak: has anything lasting come of it?
    a: Traffic
    b: Traffic
    c: HostileResult
    samples: list[Sample]
    end: Sample
    health: int
    log: Path
    lost: dict[str, tuple[int, int]]  # what was acknowledged: (lost, acknowledged)


def watch(
    futures: list[Future[Any]],
    server: Server,
    env: dict[str, str],
    database: str | None,
    samples: list[Sample],
) -> None:
    """Samples every SAMPLE_SECONDS until the traffic ends, with a line of progress a minute."""
    started = time.monotonic()
    while not all(f.done() for f in futures):
        wait(futures, timeout=SAMPLE_SECONDS)
        now = sample(server, env, database, time.monotonic() - started)
        samples.append(now)
        if int(now.seconds) // 60 != int(samples[-2].seconds) // 60:
            print(
                f"  {now.seconds:5.0f} s  RSS {now.rss_mb:6.1f} MB  db connections "
                f"{now.db_connections}  client connections {now.client_connections}",
                flush=True,
            )


def soak(backend: str, args: argparse.Namespace, workdir: Path) -> Run:
    env, database = backend_env(backend, workdir)
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
    log = Path(tempfile.gettempdir()) / f"footfall-soak-{backend}-{os.getpid()}.log"
    with log.open("wb") as stderr:
        server = start_footfall(env, log=stderr)
    try:
        (name_a, key_a), (name_b, key_b), (_, key_c) = (
            create_workspace(env, f"soak-{w}") for w in "abc"
        )
        with ProcessPoolExecutor(3) as pool:
            warm = pool.submit(run_a, server.url, key_a, WARM_SECONDS, args.rate, "warm").result()
            idle = pool.submit(run_a, server.url, key_a, args.idle_seconds, args.rate, "idle")
            idle_traffic = idle.result()
            samples = [sample(server, env, database, 0.0)]
            seconds = {w: 0.0 if w in args.without else args.duration for w in "bc"}
            futures: list[Future[Any]] = [
                pool.submit(run_a, server.url, key_a, args.duration, args.rate, "soak"),
                pool.submit(run_b, server.url, key_b, seconds["b"], args.burst_every, args.seed),
                pool.submit(run_c, server.url, key_c, seconds["c"], args),
            ]
            watch(futures, server, env, database, samples)
            a, b, c = (f.result() for f in futures)
            time.sleep(3)  # keep-alive connections close, the pool settles
            end = sample(server, env, database, samples[-1].seconds + 3)
            after = pool.submit(run_a, server.url, key_a, args.idle_seconds, args.rate, "after")
            after_traffic = after.result()
        health = httpx.get(server.url + "/health", timeout=10).status_code
        keys_a, _ = stored(env, name_a)
        keys_b, orders_b = stored(env, name_b)
    finally:
        server.stop()
        drop_database(database)
    assert isinstance(a, Traffic) and isinstance(b, Traffic) and isinstance(c, HostileResult)
    return Run(
        idle_traffic,
        after_traffic,
        a,
        b,
        c,
        samples,
        end,
        health,
        log,
        lost={
            "A events": missing(
                warm.acked_events
                + idle_traffic.acked_events
                + a.acked_events
                + after_traffic.acked_events,
                keys_a,
            ),
            "B events": missing(b.acked_events, keys_b),
            "B orders": missing(b.acked_orders, orders_b),
        },
    )


def missing(acknowledged: list[str], found: set[str]) -> tuple[int, int]:
    return len(set(acknowledged) - found), len(acknowledged)


# -- the report ----------------------------------------------------------------------------------------


def classes(statuses: Counter[int]) -> str:
    by_class = Counter(
        f"{status // 100}xx" if status else "no reply" for status in statuses.elements()
    )
    return ", ".join(f"{name} {n:,}" for name, n in sorted(by_class.items()))


def latency(values: list[float]) -> str:
    if not values:
        return "-"
    return f"p50 {percentile(values, 0.5):6.1f}  p99 {percentile(values, 0.99):7.1f}  max {max(values):7.1f} ms"


def report(backend: str, args: argparse.Namespace, run: Run) -> list[str]:
    """Print the figures; the targets missed."""
    end, samples = run.end, run.samples
    print(
        f"\n== {backend}: {args.duration:.0f} s soak after {args.idle_seconds:.0f} s of A alone =="
    )
    print(f"{'':24}{'start':>9}{'half':>9}{'max':>9}{'end':>9}")
    for label, attribute in (
        ("RSS (MB)", "rss_mb"),
        ("database connections", "db_connections"),
        ("client connections", "client_connections"),
    ):
        values = [getattr(s, attribute) for s in (*samples, end)]
        half = values[len(values) // 2]
        print(f"  {label:22}{values[0]:9.1f}{half:9.1f}{max(values):9.1f}{values[-1]:9.1f}")
    print(f"  A events alone     {latency(run.idle.events_ms)}  ({len(run.idle.events_ms):,})")
    print(f"  A events in soak   {latency(run.a.events_ms)}  ({len(run.a.events_ms):,})")
    print(f"  A events after     {latency(run.after.events_ms)}  ({len(run.after.events_ms):,})")
    print(f"  A's slowest moments in the soak: {slowest(run.a)}")
    print(f"  A reads alone      {latency(run.idle.reads_ms)}")
    print(f"  A reads in soak    {latency(run.a.reads_ms)}")
    print(f"  A reads after      {latency(run.after.reads_ms)}")
    for name, traffic in (("A", run.a), ("B", run.b)):
        errors = dict(traffic.transport_errors) or "none"
        print(
            f"  {name}: {traffic.requests:,} requests: {classes(traffic.statuses)}; transport errors {errors}"
        )
    print(
        f"  B: {len(run.b.acked_events):,} past events and {len(run.b.acked_orders):,} orders"
        f" acknowledged, {run.b.refused} refused"
    )
    print(f"  C: {run.c.connections:,} connections; slow requests: {dict(run.c.slow)}")
    for attack, statuses in sorted(run.c.by_attack().items()):
        print(f"     {attack:18} {dict(sorted(statuses.items()))}")
    if args.verbose:
        for (attack, variant), statuses in sorted(run.c.statuses.items()):
            print(f"     {attack:18} {variant:42} {dict(sorted(statuses.items()))}")
    for attack, variant, n in run.c.server_errors():
        print(f"     5xx: {attack} / {variant}: {n}")
    logged = log_errors(run.log)
    print(f"  server log {run.log}: {len(logged)} lines at error level or tracebacks")
    for line in logged[:5]:
        print(f"     {line[:300]}")
    return targets(run)


def slowest(traffic: Traffic, count: int = 5) -> str:
    """The ``count`` seconds of the soak with A's slowest events: how slow, and when."""
    worst: dict[int, float] = {}
    for ms, at in zip(traffic.events_ms, traffic.events_at, strict=True):
        worst[int(at)] = max(ms, worst.get(int(at), 0.0))
    top = sorted(worst.items(), key=lambda item: item[1], reverse=True)[:count]
    return ", ".join(f"{ms:,.0f} ms at {at} s" for at, ms in sorted(top))


def log_errors(log: Path) -> list[str]:
    marks = ('"level": "error"', '"level": "critical"', "Traceback", "ERROR:")
    return [
        line
        for line in log.read_text(errors="replace").splitlines()
        if any(m in line for m in marks)
    ]


def targets(run: Run) -> list[str]:
    """Each target with its figure, 'MISSED' where it was."""
    start, end = run.samples[0], run.end
    idle_p99 = percentile(run.idle.events_ms + run.idle.reads_ms, 0.99)
    soak_p99 = percentile(run.a.events_ms + run.a.reads_ms, 0.99)
    rss_limit = start.rss_mb * (1 + RSS_GROWTH) + RSS_SLACK_MB
    peak_db = max(s.db_connections for s in run.samples)
    fivexx_a = run.idle.server_errors() + run.a.server_errors() + run.after.server_errors()
    fivexx_b = run.b.server_errors()
    fivexx_c = sum(n for _, _, n in run.c.server_errors())
    transport = sum(
        (
            run.idle.transport_errors
            + run.a.transport_errors
            + run.after.transport_errors
            + run.b.transport_errors
        ).values()
    )
    checks = [
        (
            f"5xx: A {fivexx_a}, B {fivexx_b}, C {fivexx_c} (target 0)",
            fivexx_a + fivexx_b + fivexx_c == 0,
        ),
        (f"A/B transport errors {transport} (target 0)", transport == 0),
        (
            "acknowledged and lost: "
            + ", ".join(f"{name} {lost} of {n:,}" for name, (lost, n) in run.lost.items())
            + " (target 0)",
            all(lost == 0 for lost, _ in run.lost.values()),
        ),
        (
            f"A p99 {soak_p99:.1f} ms in soak vs {idle_p99:.1f} ms alone (target <= {P99_FACTOR:g}x)",
            soak_p99 <= P99_FACTOR * idle_p99,
        ),
        (
            f"database connections: max {peak_db}, end {end.db_connections} (target <= {POOL_BOUND})",
            peak_db <= POOL_BOUND and end.db_connections <= POOL_BOUND,
        ),
        (
            f"client connections: start {start.client_connections}, end {end.client_connections}"
            " (target: end <= start + 2)",
            end.client_connections <= start.client_connections + 2,
        ),
        (
            f"RSS {start.rss_mb:.1f} -> {end.rss_mb:.1f} MB (target <= {rss_limit:.1f} MB: "
            f"+{RSS_GROWTH:.0%} + {RSS_SLACK_MB:.0f} MB)",
            end.rss_mb <= rss_limit,
        ),
        (f"/health after the soak: {run.health} (target 200)", run.health == 200),
    ]
    missed = []
    for text, met in checks:
        print(f"  {'met   ' if met else 'MISSED'} {text}")
        if not met:
            missed.append(text)
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of soak")
    parser.add_argument(
        "--idle-seconds", type=float, default=60.0, help="A alone, before (and after)"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="A's requests per second")
    parser.add_argument("--burst-every", type=float, default=5.0, help="seconds between B's bursts")
    parser.add_argument("--hostile-rate", type=float, default=20.0, help="C's requests per second")
    parser.add_argument("--slow", type=int, default=16, help="C's partial requests open at once")
    parser.add_argument(
        "--burst", type=int, default=150, help="connections in C's bursts (every 20 s)"
    )
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--without", default="", help="leave out workspaces (b, c or bc): whose traffic costs A?"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="C's answers by variant")
    parser.add_argument("--source", help="a checkout's src directory to run instead")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="footfall-soak-") as tmp:
        for backend in backends:
            run = soak(backend, args, Path(tmp))
            missed += [f"{backend}: {text}" for text in report(backend, args, run)]
    if missed:
        print("\nmissed:\n  " + "\n  ".join(missed))
        sys.exit(1)
    print("\nall targets met")


if __name__ == "__main__":
    main()
