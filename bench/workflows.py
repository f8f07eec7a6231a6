"""Workflow benchmark: runs started by live events, then many timers due in the same second.

Run from the repository root (after scripts/bootstrap):

    .venv/bin/python bench/workflows.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/workflows.py --backend sqlite --runs 20000 --due 2000

On a fresh database, with real processes: ``footfall serve --no-worker`` takes ``--runs`` live
events (each of its own contact, on ``--connections`` connections, as fast as it takes them) for
an enabled workflow whose timer waits until the date the event carries (``untilParam``):
``--due`` of them name the same second, ``--lead`` seconds after the load began, the others a
day later. Then ``footfall worker`` (two on PostgreSQL) starts the runs from the feed; the start
rate is the runs over the time from the workers' launch until every run waits. Then the due
second comes: the figure is the time from it until every one of the ``--due`` runs has
completed, while the others keep waiting. The workers' resident memory (RSS) is read with every
run waiting.

Targets (issue 11): 10,000 timers due in the same second fire within 10 s on SQLite and within
5 s with two workers on PostgreSQL, among 100,000 waiting runs; a worker's RSS stays at most
300 MB. The run exits with status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvloop

from harness import (
    backend_env,
    create_workspace,
    drop_database,
    open_loop,
    start_footfall,
    start_worker,
    stop_process,
)

SEND_RATE = 5_000.0  # events/s offered: more than the server takes
FIRE_SECONDS = {"sqlite": 10.0, "postgres": 5.0}
RSS_MB = 300.0
FLOW = {
    "name": "timers",
    "start": {"event": "visited"},
    "blocks": [
        {"id": "wait", "type": "timer", "untilParam": "at"},
        {"id": "done", "type": "end"},
    ],
    "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
}


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f":{key}".encode()).decode()}


def send_all(url: str, key: str, moments: list[str], connections: int) -> None:
    """One live event per run, each of a contact of its own, carrying its timer's date: as fast
    as the server takes them, on ``connections`` connections (harness.open_loop, offered at
    SEND_RATE, above what the server takes)."""
    bodies = []
    for index, moment in enumerate(moments):
        who = f"v{index}@example.com"
        body = {
            "eventTypeKey": "visited",
            "keyValue": who,
            "params": [{"name": "email", "value": who}, {"name": "at", "value": moment}],
        }
        bodies.append(json.dumps(body).encode())
    seconds = len(bodies) / SEND_RATE
    uvloop.run(open_loop(url, key, bodies, SEND_RATE, seconds, connections))


def count(env: dict[str, str], sql: str) -> int:
    """One number read from the benchmark's database (sqlite3 or psycopg, as the env says)."""
    url = env.get("FOOTFALL_DATABASE_URL")
    if url is None:
        import sqlite3

        path = Path(env["FOOTFALL_DATA_DIR"]) / "footfall.db"
        with sqlite3.connect(path, timeout=30) as conn:
            return int(conn.execute(sql).fetchone()[0])
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(check: object, seconds: float, what: str) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > seconds:
            sys.exit(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def run(backend: str, args: argparse.Namespace, workdir: Path) -> list[str]:
    rundir = workdir / uuid.uuid4().hex[:8]
    rundir.mkdir()
    env, database = backend_env(backend, rundir)
    log_path = (
        Path(tempfile.gettempdir()) / f"footfall-workflows-{backend}-{uuid.uuid4().hex[:6]}.log"
    )
    missed: list[str] = []
    try:
        _, key = create_workspace(env, "flows")
        with log_path.open("wb") as log:
            server = start_footfall(env, log=log, no_worker=True)
            workers = []
            try:
                made = httpx.post(
                    server.url + "/api/v1/workflows?enabled=true",
                    json=FLOW,
                    headers=basic(key),
                    timeout=30,
                )
                made.raise_for_status()
                due_at = datetime.now(UTC) + timedelta(seconds=args.lead)
                due_at = due_at.replace(microsecond=0)
                later = due_at + timedelta(days=1)
                moments = [due_at.isoformat()] * args.due + [later.isoformat()] * (
                    args.runs - args.due
                )
                started = time.monotonic()
                send_all(server.url, key, moments, args.connections)
                sent = time.monotonic() - started
                print(f"  {args.runs:,} events sent in {sent:.1f} s ({args.runs / sent:,.0f}/s)")
                launched = time.monotonic()
                workers = [start_worker(env, log) for _ in range(2 if backend == "postgres" else 1)]
                waiting = "SELECT count(*) FROM workflow_runs WHERE status = 'waiting'"
                took = wait_for(
                    lambda: count(env, waiting) >= args.runs, args.lead, "every run waiting"
                )
                print(
                    f"  {args.runs:,} runs started and waiting {took:.1f} s after the workers' "
                    f"launch ({args.runs / (time.monotonic() - launched):,.0f} runs/s)"
                )
                memory = max(rss_mb(w.pid) for w in workers)
                print(f"  worker RSS with every run waiting: {memory:.0f} MB")
                remaining = (due_at - datetime.now(UTC)).total_seconds()
                if remaining <= 0:
                    sys.exit("the runs started after their timers were due: raise --lead")
                time.sleep(remaining)
                done = "SELECT count(*) FROM workflow_runs WHERE status = 'completed'"
                fired = wait_for(lambda: count(env, done) >= args.due, 120, "the due timers")
                still = count(env, waiting)
                print(
                    f"  {args.due:,} timers due in the same second: all fired "
                    f"{fired:.2f} s after it ({len(workers)} worker(s)); "
                    f"{still:,} runs still waiting"
                )
                limit = FIRE_SECONDS[backend]
                if fired > limit:
                    missed.append(f"{backend}: timers fired in {fired:.2f} s (target {limit:g} s)")
                if memory > RSS_MB:
                    missed.append(f"{backend}: worker RSS {memory:.0f} MB (target {RSS_MB:g})")
                if still != args.runs - args.due:
                    missed.append(f"{backend}: {still} runs waiting, not {args.runs - args.due}")
            finally:
                for worker in workers:
                    stop_process(worker)
                server.stop()
    finally:
        drop_database(database)
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32, help="the load's connections")
    parser.add_argument(
        "--lead", type=float, default=240.0, help="seconds from the load's start to the due second"
    )
    args = parser.parse_args()
    print("$ " + " ".join([".venv/bin/python", *sys.argv]))
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="footfall-workflows-") as tmp:
        for backend in backends:
            print(f"\n== {backend} ==")
            missed += run(backend, args, Path(tmp))
    if missed:
        print("\nmissed:\n  " + "\n  ".join(missed))
        sys.exit(1)
    print("\nall targets met")


if __name__ == "__main__":
    main()
