"""Ingestion benchmark: durable single events, past_events batches, latency at a fixed rate, RSS.

Run from the repository root (after scripts/bootstrap):

    .venv/bin/python bench/ingest.py                  # SQLite and PostgreSQL, all figures
    .venv/bin/python bench/ingest.py --backend sqlite --skip-rss

The load generator runs on the same machine: wrk (Debian package ``wrk``) for throughput and
an open-loop asyncio client for latency at a fixed offered rate. The ceiling is a bare ASGI
handler (bench/bare.py) on the same server stack (uvicorn + uvloop + httptools, one process)
that only parses the JSON body and answers 200. Request bodies are real clicks from the
YooChoose sample in FOOTFALL_BENCH_DATA (read there, never copied).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from harness import (
    BIN,
    DATA,
    Server,
    backend_env,
    create_key,
    drop_database,
    free_port,
    open_loop,
    percentile,
    start_footfall,
    start_server,
)

LUA = """
local bodies = {}
local index = 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  index = math.random(#bodies)
end
function request()
  index = index % #bodies + 1
  return wrk.format("POST", nil, nil, bodies[index])
end
"""


def clicks() -> Iterator[tuple[str, str, float]]:
    for name in ("yoochoose-clicks-100k_train_full.txt", "yoochoose-clicks-100k_test.txt"):
        with open(DATA / name, newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                yield row["SessionId"], row["ItemId"], float(row["Time"])


def event(session: str, item: str) -> dict[str, object]:
    price = round(1 + (int(item) % 9000) / 100, 2)
    return {
        "eventTypeKey": "productViewed",
        "params": [
            {"name": "externalCustomerId", "value": f"yc-{session}"},
            {"name": "product", "value": {"productId": item, "price": price, "isInStock": 1}},
            {"name": "currencyCode", "value": "EUR"},
        ],
    }


def write_bodies(directory: Path) -> tuple[Path, Path]:
    """One single-event body per line, and one 500-event past_events body per line."""
    singles, past = directory / "single.txt", directory / "past.txt"
    batch: list[dict[str, object]] = []
    with singles.open("w") as one, past.open("w") as many:
        for session, item, ts in clicks():
            body = event(session, item)
            one.write(json.dumps(body, separators=(",", ":")) + "\n")
            occurred = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M")
            batch.append({**body, "keyValue": f"yc-{session}", "occurred": occurred})
            if len(batch) == 500:
                many.write(json.dumps({"events": batch}, separators=(",", ":")) + "\n")
                batch = []
    return singles, past


def start_bare() -> Server:
    port = free_port()
    return start_server(
        [
            str(BIN / "uvicorn"),
            "bench.bare:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        port,
        probe="/",
    )


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    errors: str


def wrk(url: str, bodies: Path, key: str, seconds: int, connections: int) -> WrkResult:
    script = bodies.with_suffix(".lua")
    script.write_text(LUA)
    auth = "Authorization: Basic " + __import__("base64").b64encode(f":{key}".encode()).decode()
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-H",
            auth,
            "-H",
            "Content-Type: application/json",
            "-s",
            str(script),
            url,
            "--",
            str(bodies),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return WrkResult(rps, total, int(non.group(1)) if non else 0, errors.group(0) if errors else "")


def stored_events(env: dict[str, str]) -> int:
    url = env.get("FOOTFALL_DATABASE_URL")
    if url:
        with psycopg.connect(url) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
    db = Path(env["FOOTFALL_DATA_DIR"]) / "footfall.db"
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def run_backend(
    backend: str, args: argparse.Namespace, workdir: Path, singles: Path, past: Path, ceiling: float
) -> dict[str, float]:
    env, database = backend_env(backend, workdir)
    figures: dict[str, float] = {}
    try:
        key = create_key(env)
        server = start_footfall(env)
        try:
            single = wrk(
                server.url + "/api/v2/event", singles, key, args.duration, args.connections
            )
            figures["events_per_s"] = single.requests_per_second
            figures["ratio"] = single.requests_per_second / ceiling
            figures["non_2xx"] = single.non_2xx
            acknowledged = single.requests - single.non_2xx
            figures["stored_minus_acknowledged"] = stored_events(env) - acknowledged
            bodies = [line.encode() for line in singles.read_text().splitlines()[:20000]]
            replies = asyncio.run(
                open_loop(server.url, key, bodies, args.rate, args.latency_seconds, 32)
            )
            latencies = [replied - due for due, replied in replies]
            figures["p50_ms"] = percentile(latencies, 0.50) * 1000
            figures["p99_ms"] = percentile(latencies, 0.99) * 1000
            before = stored_events(env)
            batch = wrk(server.url + "/api/v2/past_events", past, key, args.duration, 4)
            figures["past_events_per_s"] = batch.requests_per_second * 500
            figures["past_non_2xx"] = batch.non_2xx
            figures["past_stored_per_request"] = (stored_events(env) - before) / max(
                1, batch.requests - batch.non_2xx
            )
            if not args.skip_rss and backend == "sqlite":
                while stored_events(env) < args.rss_events:
                    wrk(server.url + "/api/v2/event", singles, key, 20, args.connections)
                figures["events_stored_at_rss"] = stored_events(env)
                figures["rss_mb"] = server.rss_mb()
        finally:
            server.stop()
    finally:
        drop_database(database)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per throughput run")
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--rate", type=int, default=2000, help="offered events/s for latency")
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--rss-events", type=int, default=1_000_000)
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="footfall-bench-") as tmp:
        workdir = Path(tmp)
        singles, past = write_bodies(workdir)
        bare = start_bare()
        try:
            ceiling = wrk(bare.url + "/", singles, "x", args.duration, args.connections)
        finally:
            bare.stop()
        print(f"bare handler ceiling (same stack): {ceiling.requests_per_second:,.0f} req/s")
        backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
        for backend in backends:
            figures = run_backend(
                backend, args, workdir, singles, past, ceiling.requests_per_second
            )
            print(f"\n== {backend} ==")
            for name, value in figures.items():
                print(f"{name:>28}: {value:,.2f}")


if __name__ == "__main__":
    main()
