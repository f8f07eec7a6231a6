"""Webhook benchmark: delivery latency under load, forwarding throughput, the cost to ingestion.

Run from the repository root (after scripts/bootstrap; ``wrk`` for the third part):

    .venv/bin/python bench/webhooks.py                          # all three, SQLite and PostgreSQL
    .venv/bin/python bench/webhooks.py --backend sqlite --only latency --duration 60
    .venv/bin/python bench/webhooks.py --source /path/to/other/checkout/src      # A/B runs

Every part runs on a fresh database, with real ``footfall`` processes, a fast receiver on
127.0.0.1 in a process of its own (bench/receiver.py: answers 200 at once, records when each
item's request arrived) and one subscription to it (``batchSize`` 100 unless ``--batch-size``):

1. latency: events sent at ``--rate`` per second for ``--duration`` seconds (open loop, from a
   process of its own, each with a keyValue of its own), after a one-second warm-up that is not
   counted. An event's latency runs from when its sender had the 200 to when the receiver had
   the request carrying it (both CLOCK_MONOTONIC). SQLite: ``footfall serve`` with its worker
   in-process; PostgreSQL: ``footfall serve --no-worker`` and one ``footfall worker``.
2. forwarding: ``--events`` events loaded through ``past_events`` (500 a request) while only
   ``serve --no-worker`` runs, so everything waits; the API stopped, then ``footfall worker``
   launched: the rate is ``--events`` over the time from its launch until the receiver has
   them all. Its fan-out (every event queued in the outbox) is over when the feed consumer's lag,
   read from the database every 0.1 s, is 0.
3. ingestion cost: single events with wrk (bench/ingest.py's bodies and script) against
   ``serve --no-worker`` (nothing delivered), ``serve`` (its worker delivering as it goes, in the
   same process) and, for information, ``serve --no-worker`` with a ``footfall worker`` beside it
   (``--no-apart`` leaves that out), one after the other ``--rounds`` times, each run on a fresh
   database.

The run fails (exit status 1) when a target is missed: latency p50 <= 50 ms and p99 <= 250 ms
(each backend), forwarding >= 20,000 events/s (SQLite; PostgreSQL's is reported), ingestion with
delivery at most 15% below ingestion without (each backend run). Every event sent must arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from statistics import mean

import httpx
import msgspec

from harness import (
    BIN,
    Server,
    backend_env,
    create_workspace,
    drop_database,
    migrated_settings,
    open_loop,
    percentile,
    start_footfall,
    start_worker,
    stop_process,
)
from ingest import clicks, event, write_bodies, wrk
from receiver import ReceiverProcess, Tally

P50_MS, P99_MS = 50.0, 250.0
FORWARD_PER_S = 20_000.0
INGEST_DROP = 0.15
WARM_SECONDS = 1.0
DRAIN_SECONDS = 60.0  # the longest wait for the last deliveries after the load
PAST_BATCH = 500
PARTS = ("latency", "forwarding", "ingest")
CONSUMER = "webhooks:events"


@dataclass
class Setup:
    """A fresh database, its workspace, and the receiver the workspace's subscription posts to."""

    backend: str
    env: dict[str, str]
    key: str
    receiver: ReceiverProcess
    log: Path
    batch_size: int

    def subscribe(self, server: Server) -> None:
        reply = httpx.post(
            server.url + "/api/v1/webhooks?verify=false",
            json={"url": self.receiver.url, "batchSize": self.batch_size},
            headers={"Authorization": basic(self.key)},
            timeout=30,
        )
        reply.raise_for_status()


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f":{key}".encode()).decode()


@contextmanager
def setup(backend: str, args: argparse.Namespace, workdir: Path, part: str) -> Iterator[Setup]:
    rundir = workdir / uuid.uuid4().hex[:8]
    rundir.mkdir()
    env, database = backend_env(backend, rundir)
    env["FOOTFALL_WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
    receiver = ReceiverProcess()
    log = (
        Path(tempfile.gettempdir())
        / f"footfall-webhooks-{part}-{backend}-{uuid.uuid4().hex[:6]}.log"
    )
    try:
        _, key = create_workspace(env, "hooks")
        yield Setup(backend, env, key, receiver, log, args.batch_size)
    finally:
        receiver.stop()
        drop_database(database)


def keyed_bodies(tag: str, count: int) -> tuple[list[str], list[bytes]]:
    """``count`` single-event bodies (YooChoose clicks), each with a keyValue of its own."""
    keys = [f"{tag}-{n}" for n in range(count)]
    bodies = [
        msgspec.json.encode(event(session, item) | {"keyValue": k})
        for k, (session, item, _) in zip(keys, _clicks_forever(), strict=False)
    ]
    return keys, bodies


def _clicks_forever() -> Iterator[tuple[str, str, float]]:
    while True:
        yield from clicks()


def run_open_loop(
    url: str, key: str, bodies: Sequence[bytes], rate: float, seconds: float, connections: int
) -> list[tuple[float, float]]:
    return asyncio.run(open_loop(url, key, bodies, rate, seconds, connections))


# -- 1. latency ------------------------------------------------------------------------------------


@dataclass
class LatencyRun:
    sent: int
    delivery_ms: list[float]
    api_ms: list[float]  # from when each request was due to its 200: did ingestion keep up?
    missing: int
    tally: Tally


def latency(s: Setup, args: argparse.Namespace) -> LatencyRun:
    split = s.backend == "postgres"
    with s.log.open("ab") as log:
        server = start_footfall(s.env, log=log, no_worker=split)
        worker = start_worker(s.env, log) if split else None
    try:
        s.subscribe(server)
        with ProcessPoolExecutor(1) as pool:
            keys, bodies = keyed_bodies("warm", int(args.rate * WARM_SECONDS))
            pool.submit(
                run_open_loop, server.url, s.key, bodies, args.rate, WARM_SECONDS, 32
            ).result()
            if s.receiver.wait_for(len(keys), DRAIN_SECONDS) is None:
                raise RuntimeError("the warm-up's events were not all delivered")
            s.receiver.take()
            keys, bodies = keyed_bodies("hook", int(args.rate * args.duration))
            print(f"  {len(keys):,} events at {args.rate:,.0f}/s", flush=True)
            replies = pool.submit(
                run_open_loop, server.url, s.key, bodies, args.rate, args.duration, args.connections
            ).result()
        s.receiver.wait_for(len(keys), DRAIN_SECONDS)
        tally = s.receiver.take()
    finally:
        if worker is not None:
            stop_process(worker)
        server.stop()
    delivery, missing = [], 0
    for k, (_, replied) in zip(keys, replies, strict=True):
        arrived = tally.arrivals.get(k)
        if arrived is None:
            missing += 1
        else:
            delivery.append((arrived - replied) * 1000)
    api = [(replied - due) * 1000 for due, replied in replies]
    return LatencyRun(len(keys), delivery, api, missing, tally)


def report_latency(backend: str, run: LatencyRun, args: argparse.Namespace) -> list[str]:
    t = run.tally
    layout = "serve (worker in-process)" if backend == "sqlite" else "serve --no-worker + worker"
    print(
        f"\n== {backend}: latency, {args.rate:,.0f} events/s for {args.duration:g} s, {layout} =="
    )
    print(f"  accepted -> delivered  {spread(run.delivery_ms)}  ({len(run.delivery_ms):,} events)")
    print(f"  due -> accepted (API)  {spread(run.api_ms)}")
    print(
        f"  {deliveries(t)}; {t.items - len(t.arrivals):,} items received twice; {run.missing:,} never"
    )
    p50, p99 = percentile(run.delivery_ms, 0.5), percentile(run.delivery_ms, 0.99)
    return check(
        [
            (f"{backend} latency p50 {p50:.1f} ms (target <= {P50_MS:g} ms)", p50 <= P50_MS),
            (f"{backend} latency p99 {p99:.1f} ms (target <= {P99_MS:g} ms)", p99 <= P99_MS),
            (f"{backend} latency: {run.missing} of {run.sent:,} not delivered", not run.missing),
        ]
    )


def deliveries(t: Tally) -> str:
    return (
        f"{t.requests:,} deliveries over {t.connections:,} new connections, "
        f"{t.items / max(1, t.requests):.1f} items each on average"
    )


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return f"p50 {p50:7.1f}  p99 {p99:7.1f}  max {max(values):7.1f} ms"


# -- 2. forwarding ----------------------------------------------------------------------------------


@dataclass
class ForwardRun:
    events: int
    load_seconds: float
    total_seconds: float | None  # worker launched -> the receiver has every event
    first_seconds: float | None  # worker launched -> the first delivery arrived
    fan_out_seconds: float | None  # worker launched -> the consumer's lag was 0
    tally: Tally


def past_bodies(tag: str, count: int) -> Iterator[bytes]:
    occurred = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    batch: list[dict[str, object]] = []
    for n, (session, item, _) in enumerate(islice(_clicks_forever(), count)):
        batch.append(event(session, item) | {"keyValue": f"{tag}-{n}", "occurred": occurred})
        if len(batch) == PAST_BATCH or n == count - 1:
            yield msgspec.json.encode({"events": batch})
            batch = []


async def load_past(url: str, key: str, bodies: Iterator[bytes], connections: int = 4) -> None:
    """Send every body to ``past_events``, ``connections`` at a time; every event accepted."""
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": basic(key)}, timeout=120
    ) as client:

        async def sender() -> None:
            for body in bodies:  # one shared iterator: each body is sent once
                reply = await client.post(
                    "/api/v2/past_events",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                reply.raise_for_status()
                refused = [r for r in reply.json()["results"] if r["status"] != "ACCEPTED"]
                if refused:
                    raise RuntimeError(f"past_events refused {len(refused)}: {refused[0]}")

        await asyncio.gather(*(sender() for _ in range(connections)))


def forwarding(s: Setup, args: argparse.Namespace) -> ForwardRun:
    with s.log.open("ab") as log:
        server = start_footfall(s.env, log=log, no_worker=True)
    try:
        s.subscribe(server)
        started = time.monotonic()
        asyncio.run(load_past(server.url, s.key, past_bodies("past", args.events)))
        loaded = time.monotonic() - started
    finally:
        server.stop()
    print(
        f"  {args.events:,} events loaded in {loaded:.1f} s; launching footfall worker", flush=True
    )
    from footfall.store import open_store  # the bench's own footfall: it only reads

    store = open_store(migrated_settings(s.env))
    fanned: float | None = None
    with s.log.open("ab") as log:
        launched = time.monotonic()
        worker = start_worker(s.env, log)
    try:
        deadline = launched + max(DRAIN_SECONDS, args.events / 1000)
        while time.monotonic() < deadline:
            if fanned is None and store.feed.lag(CONSUMER, "events").behind == 0:
                fanned = time.monotonic() - launched
            if s.receiver.count()[0] >= args.events:
                break
            time.sleep(0.1)
        tally = s.receiver.take()
    finally:
        stop_process(worker)
        store.close()
    done = len(tally.arrivals) >= args.events
    first = None if tally.first_at is None else tally.first_at - launched
    last = max(tally.arrivals.values()) - launched if done else None
    return ForwardRun(args.events, loaded, last, first, fanned, tally)


def report_forwarding(backend: str, run: ForwardRun) -> list[str]:
    t = run.tally
    print(f"\n== {backend}: forwarding a backlog of {run.events:,} events to one receiver ==")
    print(
        f"  loaded through past_events in {run.load_seconds:.1f} s "
        f"({run.events / run.load_seconds:,.0f} events/s), no worker running"
    )
    print(f"  footfall worker launched -> first delivery   {seconds(run.first_seconds)}")
    print(f"  footfall worker launched -> fan-out done     {seconds(run.fan_out_seconds)}")
    print(f"  footfall worker launched -> all delivered    {seconds(run.total_seconds)}")
    missing = run.events - len(t.arrivals)
    print(
        f"  {deliveries(t)}; {t.items - len(t.arrivals):,} items received twice; {missing:,} never"
    )
    if run.total_seconds is None:
        return check([(f"{backend} forwarding: {len(t.arrivals):,} of {run.events:,}", False)])
    rate = run.events / run.total_seconds
    if run.first_seconds is not None and run.total_seconds > run.first_seconds:
        steady = run.events / (run.total_seconds - run.first_seconds)
        print(f"  from the first delivery on: {steady:,.0f} events/s")
    text = f"{backend} forwarding {rate:,.0f} events/s from the worker's launch"
    if backend != "sqlite":
        print(f"  {text} (for information: the target is SQLite's)")
        return []
    return check([(f"{text} (target >= {FORWARD_PER_S:,.0f})", rate >= FORWARD_PER_S)])


def seconds(value: float | None) -> str:
    return "not within the time allowed" if value is None else f"{value:6.2f} s"


# -- 3. ingestion cost -------------------------------------------------------------------------------


NONE, IN_PROCESS, APART = "serve --no-worker", "serve", "serve --no-worker + footfall worker"


@dataclass
class IngestRun:
    layout: str  # NONE (nothing delivered), IN_PROCESS or APART
    events_per_s: float
    non_2xx: int
    delivered: int  # by the end of the wrk run (then the server stopped)
    accepted: int


def ingest_once(s: Setup, args: argparse.Namespace, singles: Path, layout: str) -> IngestRun:
    with s.log.open("ab") as log:
        server = start_footfall(s.env, log=log, no_worker=layout != IN_PROCESS)
        worker = start_worker(s.env, log) if layout == APART else None
    try:
        s.subscribe(server)
        result = wrk(
            server.url + "/api/v2/event", singles, s.key, args.wrk_seconds, args.wrk_connections
        )
        delivered = s.receiver.count()[1]
    finally:
        if worker is not None:
            stop_process(worker)
        server.stop()
    accepted = result.requests - result.non_2xx
    return IngestRun(layout, result.requests_per_second, result.non_2xx, delivered, accepted)


def report_ingest(backend: str, runs: list[IngestRun]) -> list[str]:
    print(f"\n== {backend}: single events (wrk), with and without delivery ==")
    for r in runs:
        print(
            f"  {r.layout:36}{r.events_per_s:9,.0f} events/s  non-2xx {r.non_2xx}  "
            f"delivered {r.delivered:,} of {r.accepted:,} by the end of the run"
        )
    rate = {
        layout: mean([r.events_per_s for r in runs if r.layout == layout])
        for layout in dict.fromkeys(r.layout for r in runs)
    }
    print("  means: " + ", ".join(f"{name} {value:,.0f}" for name, value in rate.items()))
    if APART in rate:
        print(
            f"  worker in a process of its own: {rate[APART] / rate[NONE] - 1:+.1%} (for information)"
        )
    ratio = rate[IN_PROCESS] / rate[NONE]
    errors = sum(r.non_2xx for r in runs)
    return check(
        [
            (
                f"{backend} ingestion with delivery in-process {ratio - 1:+.1%} vs without "
                f"(target >= -{INGEST_DROP:.0%})",
                ratio >= 1 - INGEST_DROP,
            ),
            (f"{backend} ingestion: {errors} non-2xx answers", not errors),
        ]
    )


# -- the run ------------------------------------------------------------------------------------------


def check(checks: list[tuple[str, bool]]) -> list[str]:
    """Print each target with its figure; the ones missed."""
    for text, met in checks:
        print(f"  {'met   ' if met else 'MISSED'} {text}")
    return [text for text, met in checks if not met]


def describe_source(env: dict[str, str]) -> str:
    """Where the servers' footfall comes from, and its commit."""
    where = subprocess.run(
        [str(BIN / "python"), "-c", "import footfall; print(footfall.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    top = Path(where).parent
    rev = subprocess.run(
        ["git", "-C", str(top), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return f"{top} ({rev or 'not a git checkout'})"


def run_part(part: str, backend: str, args: argparse.Namespace, workdir: Path) -> list[str]:
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"\n{part} on {backend} (load average {load}) ...", flush=True)
    if part == "ingest":
        if shutil.which("wrk") is None:
            sys.exit("wrk is needed: apt-get install -y wrk")
        singles, _ = write_bodies(workdir)
        layouts = [NONE, IN_PROCESS] + [APART] * args.apart
        runs: list[IngestRun] = []
        for layout in layouts * args.rounds:
            with setup(backend, args, workdir, part) as s:
                runs.append(ingest_once(s, args, singles, layout))
            print(f"  {layout}: {runs[-1].events_per_s:,.0f} events/s", flush=True)
        return report_ingest(backend, runs)
    with setup(backend, args, workdir, part) as s:
        if part == "latency":
            return report_latency(backend, latency(s, args), args)
        return report_forwarding(backend, forwarding(s, args))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--only", choices=PARTS, action="append", help="run this part (repeatable)")
    for part in PARTS:
        parser.add_argument(f"--skip-{part}", action="store_true")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of latency load")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s offered for latency")
    parser.add_argument("--connections", type=int, default=32, help="latency load's connections")
    parser.add_argument("--events", type=int, default=100_000, help="the forwarding backlog")
    parser.add_argument("--batch-size", type=int, default=100, help="the subscription's batchSize")
    parser.add_argument("--rounds", type=int, default=2, help="ingestion: rounds of runs")
    parser.add_argument(
        "--apart",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ingestion: also with the worker in a process of its own, each round",
    )
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--wrk-connections", type=int, default=128)
    parser.add_argument("--source", help="a checkout's src directory to run instead")
    args = parser.parse_args()
    parts = [p for p in args.only or PARTS if not getattr(args, f"skip_{p}")]
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    python = sys.executable.replace(str(Path.cwd()) + "/", "")
    path = f"PYTHONPATH={os.environ['PYTHONPATH']} " if os.environ.get("PYTHONPATH") else ""
    print(f"$ {path}{shlex.join([python, *sys.argv])}")
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="footfall-webhooks-") as tmp:
        workdir = Path(tmp)
        env, _ = backend_env("sqlite", workdir)
        if args.source:
            env["PYTHONPATH"] = str(Path(args.source).resolve())
        print(f"footfall: {describe_source(env)}")
        for part in parts:
            for backend in backends:
                missed += run_part(part, backend, args, workdir)
    if missed:
        print("\nmissed:\n  " + "\n  ".join(missed))
        sys.exit(1)
    print("\nall targets met")


if __name__ == "__main__":
    main()
