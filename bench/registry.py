"""Event-type registry benchmark: reads of one type, and the listing, in a workspace with many types.

Run from the repository root (after scripts/bootstrap):

    .venv/bin/python bench/registry.py                         # SQLite and PostgreSQL, 50,000 types
    .venv/bin/python bench/registry.py --backend sqlite --types 10000 --queries 20

For each backend: a fresh database is migrated and filled directly through the store with
``--types`` types, each with three observed parameters and a count row (what random type names
sent as events leave behind). Then a real ``footfall serve`` process answers, from one
sequential keep-alive client, ``GET /api/v1/event-types/{key}`` and ``PUT`` of one type's rules
(latency per request at the client, ``--queries`` times each), and ``GET /api/v1/event-types``
(one call: its time and size; since pagination, the first page). Then ``--attack`` live events,
each of a random new type with three parameters, from the same client: how many are accepted
(new types the registry keeps) and refused, and their latency. ``--source`` runs another
checkout's code (PYTHONPATH) for the server, for an A/B comparison in one run.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from footfall.access import create_workspace
from footfall.clock import now_us
from footfall.store import Store, open_store
from footfall.store.cursor import Cursor
from harness import backend_env, drop_database, migrated_settings, percentile, start_footfall

CHUNK = 5_000


def fill(store: Store, workspace_id: int, types: int) -> list[str]:
    """``types`` types with three parameters and one count row each; their keys."""
    keys = [f"Type{n:07d}Seen" for n in range(types)]
    now = now_us()

    def chunk(tx: Cursor, part: list[str]) -> None:
        tx.executemany(
            "INSERT INTO event_types (workspace_id, key, first_seen_us) VALUES (?, ?, ?)",
            [(workspace_id, key, now) for key in part],
        )
        tx.executemany(
            "INSERT INTO event_type_counts (workspace_id, key, shard, event_count, last_seen_us) "
            "VALUES (?, ?, 0, 1, ?)",
            [(workspace_id, key, now) for key in part],
        )
        tx.executemany(
            "INSERT INTO event_type_params (workspace_id, key, name, json_type, first_seen_us, "
            "last_seen_us) VALUES (?, ?, ?, 'string', ?, ?)",
            [(workspace_id, key, name, now, now) for key in part for name in ("a", "b", "email")],
        )

    for start in range(0, types, CHUNK):
        part = keys[start : start + CHUNK]
        store.transact(lambda tx, part=part: chunk(tx, part))  # type: ignore[misc]
    return keys


def timed(call: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[float, int]:
    started = time.perf_counter()
    response = call.request(method, path, **kwargs)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return elapsed, len(response.content)


def measure(url: str, key: str, keys: list[str], queries: int, rng: random.Random) -> list[str]:
    lines = []
    with httpx.Client(base_url=url, auth=("", key), timeout=120) as client:
        listing_ms, size = timed(client, "GET", "/api/v1/event-types")
        lines.append(f"GET /event-types: {listing_ms:,.0f} ms, {size / 2**20:,.2f} MB")
        for method in ("GET", "PUT"):
            latencies = []
            for _ in range(queries):
                path = f"/api/v1/event-types/{rng.choice(keys)}"
                body = {"json": {"validateParams": False}} if method == "PUT" else {}
                latencies.append(timed(client, method, path, **body)[0])
            lines.append(
                f"{method} /event-types/{{key}}: p50 {percentile(latencies, 0.5):,.1f} ms, "
                f"p95 {percentile(latencies, 0.95):,.1f} ms ({queries} requests)"
            )
    return lines


def attack(url: str, key: str, events: int) -> str:
    codes: dict[int, int] = {}
    latencies = []
    with httpx.Client(base_url=url, auth=("", key), timeout=120) as client:
        for n in range(events):
            body = {
                "eventTypeKey": f"Random{random.getrandbits(48):x}Seen",
                "keyValue": f"k{n}",
                "params": [{"name": name, "value": "v"} for name in ("a", "b", "c")],
            }
            started = time.perf_counter()
            status = client.post("/api/v2/event", json=body).status_code
            latencies.append((time.perf_counter() - started) * 1000)
            codes[status] = codes.get(status, 0) + 1
    return (
        f"{events:,} events of random new types: {codes.get(200, 0):,} accepted, "
        f"{codes.get(400, 0):,} refused (400), others {events - codes.get(200, 0) - codes.get(400, 0)}; "
        f"p50 {percentile(latencies, 0.5):,.1f} ms, p95 {percentile(latencies, 0.95):,.1f} ms"
    )


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> list[str]:
    env, database = backend_env(backend, workdir)
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
    try:
        settings = migrated_settings(env)
        store = open_store(settings)
        try:
            issued = create_workspace(store.access, "bench-registry")
            workspace_id = store.access.workspace_id("bench-registry")
            assert workspace_id is not None
            started = time.perf_counter()
            keys = fill(store, workspace_id, args.types)
            print(f"== {backend}: {args.types:,} types in {time.perf_counter() - started:.1f} s")
        finally:
            store.close()
        if backend == "postgres":
            with psycopg.connect(settings.resolved_database_url, autocommit=True) as conn:
                conn.execute("ANALYZE")
        server = start_footfall(env)
        try:
            lines = measure(server.url, issued.api_key, keys, args.queries, random.Random(1))
            if args.attack:
                lines.append(attack(server.url, issued.api_key, args.attack))
        finally:
            server.stop()
    finally:
        drop_database(database)
    return [f"{backend}, {args.types:,} types: {line}" for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--types", type=int, default=50_000, help="event types to create")
    parser.add_argument("--queries", type=int, default=50, help="GET and PUT requests each")
    parser.add_argument("--attack", type=int, default=3000, help="events of random new types")
    parser.add_argument("--source", help="the src directory of another checkout to serve")
    args = parser.parse_args()
    if args.types < 1 or args.queries < 1:
        parser.error("--types and --queries must be at least 1")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="footfall-registry-") as tmp:
        for backend in backends:
            summary += run_backend(backend, args, Path(tmp))
    print()
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
