"""History search benchmark: GET /api/v1/events and a contact's timeline over many stored events.

Run from the repository root (after scripts/bootstrap):

    .venv/bin/python bench/history.py                       # SQLite and PostgreSQL, 1M events
    .venv/bin/python bench/history.py --backend sqlite --events 200000 --queries 200

For each backend: a fresh database is migrated and filled directly through the store
(store.events.commit_batch, batches of parsed NewEvents, as the group committer writes them), with real
clicks from the YooChoose sample in FOOTFALL_BENCH_DATA (read there, never copied), cycled with a
per-cycle suffix on the session id so that keys stay distinct, and their occurred times spread
over 90 days. Then a real ``footfall serve`` process answers history queries from one sequential
keep-alive HTTP client; latency is measured per request at the client. ``--explain`` prints the
plan the database picks for each scenario's SQL (EXPLAIN ANALYZE on PostgreSQL).

On PostgreSQL the events table is ANALYZEd after the load (as autovacuum would do in due course);
on SQLite nothing is run after the load, because Footfall itself never runs ANALYZE.
"""

from __future__ import annotations

import argparse
import base64
import csv
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

from footfall.access import create_workspace
from footfall.config import Settings
from footfall.ingest.events import parse_event
from footfall.records import NewEvent
from footfall.store import Store, open_store
from footfall.store.cursor import Cursor
from footfall.store.rows import EventQuery
from harness import DATA, backend_env, drop_database, migrated_settings, percentile, start_footfall

VIEWED, CART = "ProductViewed", "CartUpdated"
CART_SHARE = 0.05
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 90
SPAN_US = DAYS * 86_400 * 1_000_000
START_US = int(START.timestamp() * 1_000_000)
BATCH = 5_000
SAMPLE_EVERY = 37  # keep (key, occurred) of every 37th event to draw queries from
PAGES = 5
TARGET_MS = 100.0


# -- data ------------------------------------------------------------------------------------
def clicks() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for name in ("yoochoose-clicks-100k_train_full.txt", "yoochoose-clicks-100k_test.txt"):
        with open(DATA / name, newline="") as handle:
            rows.extend(
                (row["SessionId"], row["ItemId"]) for row in csv.DictReader(handle, delimiter="\t")
            )
    return rows


def body(event_type: str, key: str, item: str) -> bytes:
    price = round(1 + (int(item) % 9000) / 100, 2)
    params: list[dict[str, Any]] = [
        {"name": "externalCustomerId", "value": key},
        {"name": "productId", "value": item},
        {"name": "price", "value": price},
        {"name": "currencyCode", "value": "EUR"},
    ]
    if event_type == CART:
        params.append({"name": "quantity", "value": 1 + int(item) % 3})
    return msgspec.json.encode({"eventTypeKey": event_type, "keyValue": key, "params": params})


@dataclass
class Loaded:
    events: int
    seconds: float
    cart_events: int
    distinct_keys: int
    samples: list[tuple[str, int]]  # (keyValue, occurred_us) of some stored events


def generate(total: int, workspace_id: int, rng: random.Random) -> Iterator[tuple[NewEvent, bool]]:
    """Parsed events in occurred order, the i-th at START + i/total of the 90 days."""
    data = clicks()
    received_us = time.time_ns() // 1000
    for i in range(total):
        cycle, index = divmod(i, len(data))
        session, item = data[index]
        key = f"yc-{session}-{cycle}"
        cart = rng.random() < CART_SHARE
        event = parse_event(
            body(CART if cart else VIEWED, key, item),
            version=2,
            workspace_id=workspace_id,
            received_us=received_us,
        )
        event.occurred_us = START_US + i * SPAN_US // total
        yield event, cart


def load(store: Store, workspace_id: int, total: int, rng: random.Random) -> Loaded:
    started = time.perf_counter()
    batch: list[NewEvent] = []
    keys: set[str] = set()
    samples: list[tuple[str, int]] = []
    carts = stored = 0
    for i, (event, cart) in enumerate(generate(total, workspace_id, rng)):
        batch.append(event)
        keys.add(event.key_value)
        carts += cart
        if i % SAMPLE_EVERY == 0:
            samples.append((event.key_value, event.occurred_us))
        if len(batch) == BATCH or i == total - 1:
            store.events.commit_batch(batch)
            before, stored = stored, stored + len(batch)
            batch = []
            if stored // 100_000 > before // 100_000 or stored == total:
                print(f"  {stored:>9,} events stored  {time.perf_counter() - started:7.1f} s")
    return Loaded(stored, time.perf_counter() - started, carts, len(keys), samples)


# -- databases -------------------------------------------------------------------------------
def database_mb(store: Store, settings: Settings) -> float:
    if store.dialect.name == "postgresql":
        with psycopg.connect(settings.resolved_database_url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) / 2**20 if row else float("nan")
    path = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20


# -- queries ---------------------------------------------------------------------------------
def iso(us: int) -> str:
    return (START + timedelta(microseconds=us - START_US)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Scenario:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    rows: int = 0
    non_200: int = 0
    derived: bool = False  # a view of another scenario's requests: no rows or status of its own

    def line(self) -> str:
        n = len(self.latencies_ms)
        if not n:
            return f"{self.name:<42} no requests"
        p50, p95, p99 = (percentile(self.latencies_ms, p) for p in (0.50, 0.95, 0.99))
        text = (
            f"{self.name:<42} n={n:<5} p50 {p50:7.2f}  p95 {p95:7.2f}  p99 {p99:7.2f} ms  "
            f"max {max(self.latencies_ms):7.2f}"
        )
        if not self.derived:
            text += f"  rows/req {self.rows / n:6.1f}  non-200 {self.non_200}"
        return text


class Client:
    """One keep-alive connection; every request timed at the client."""

    def __init__(self, url: str, key: str) -> None:
        self.http = httpx.Client(base_url=url, auth=httpx.BasicAuth("", key), timeout=60)

    def get(self, scenario: Scenario, path: str, params: dict[str, str]) -> httpx.Response:
        started = time.perf_counter()
        response = self.http.get(path, params=params)
        scenario.latencies_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code == 200:
            scenario.rows += len(response.json())
        else:
            scenario.non_200 += 1
            if scenario.non_200 <= 3:
                print(f"  {scenario.name}: {response.status_code} {response.text[:200]}")
        return response

    def close(self) -> None:
        self.http.close()


def walk_pages(client: Client, event_type: str, queries: int, rng: random.Random) -> list[Scenario]:
    """Walks of PAGES pages of 100 by X-Next-Cursor, each from a random ``to``; N pages in all."""
    pages = Scenario(f"e. {event_type}, pages 1-{PAGES} (each)")
    last = Scenario(f"   of which page {PAGES}", derived=True)
    walks = Scenario(f"   whole {PAGES}-page walk", derived=True)
    for _ in range(max(1, queries // PAGES)):
        params = {"eventTypeKey": event_type, "limit": "100"}
        params["to"] = iso(START_US + rng.randrange(SPAN_US))
        walk = 0.0
        for page in range(1, PAGES + 1):
            response = client.get(pages, "/api/v1/events", params)
            walk += pages.latencies_ms[-1]
            if page == PAGES:
                last.latencies_ms.append(pages.latencies_ms[-1])
            cursor = response.headers.get("x-next-cursor")
            if not cursor:
                break
            params = {**params, "cursor": cursor}
        walks.latencies_ms.append(walk)
    return [pages, last, walks]


def deep_cursor(occurred_us: int) -> str:
    """The cursor a client holds after paging from the newest event down to ``occurred_us``."""
    return base64.urlsafe_b64encode(f"{occurred_us}:{2**63 - 1}".encode()).decode()


def measure(
    client: Client, samples: list[tuple[str, int]], queries: int, rng: random.Random
) -> list[Scenario]:
    lookup = Scenario("a. keyValue")
    ranged = Scenario("b. keyValue + type + 7 days")
    timeline = Scenario("c. contact timeline (limit 50)")
    daily = Scenario(f"d. {CART} + 1 day, first page")
    deep = Scenario(f"f. {VIEWED}, deep page (cursor only)")
    week = 7 * 86_400 * 1_000_000

    contacts: list[int] = []
    keys = (
        rng.sample(samples, queries) if queries <= len(samples) else rng.choices(samples, k=queries)
    )
    for key, _ in keys:
        response = client.get(lookup, "/api/v1/events", {"keyValue": key})
        if response.status_code == 200 and response.json():
            contact = response.json()[0]["contactId"]
            if contact is not None:
                contacts.append(int(contact))
    for key, occurred in rng.choices(samples, k=queries):
        start = occurred - rng.randrange(week - 1_000_000)
        params = {"keyValue": key, "eventTypeKey": VIEWED, "from": iso(start)}
        params["to"] = iso(start + week)
        client.get(ranged, "/api/v1/events", params)
    for contact in rng.choices(contacts, k=queries) if contacts else []:
        client.get(timeline, f"/api/v1/contact/{contact}/events", {"limit": "50"})
    for _ in range(queries):
        day = (START + timedelta(days=rng.randrange(DAYS))).strftime("%Y-%m-%d")
        params = {"eventTypeKey": CART, "from": day, "to": day, "limit": "100"}
        client.get(daily, "/api/v1/events", params)
    paging = walk_pages(client, VIEWED, queries, rng) + walk_pages(client, CART, queries, rng)
    for _ in range(queries):
        cursor = deep_cursor(START_US + rng.randrange(SPAN_US))
        params = {"eventTypeKey": VIEWED, "limit": "100", "cursor": cursor}
        client.get(deep, "/api/v1/events", params)
    return [lookup, ranged, timeline, daily, *paging, deep]


# -- query plans -----------------------------------------------------------------------------
def explain_cursor(dialect: str, plans: list[str]) -> type[Cursor]:
    """A cursor whose ``all`` explains the query instead of running it (and returns no rows)."""
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    column = 0 if dialect == "postgresql" else 3

    class Explain(Cursor):
        def all(self, sql: str, *params: Any) -> list[Any]:
            self._cursor.execute(self._sql(prefix + sql), params)
            plans.append("\n".join(f"      {row[column]}" for row in self._cursor.fetchall()))
            return []

    return Explain


def explain(store: Store, workspace_id: int, samples: list[tuple[str, int]]) -> None:
    key, occurred = samples[len(samples) // 2]
    contact = _contact_of(store, workspace_id, key)
    day = START_US + (DAYS // 2) * 86_400 * 1_000_000
    week = 7 * 86_400 * 1_000_000
    cases: list[tuple[str, EventQuery]] = [
        ("a. keyValue", EventQuery(key_value=key, limit=101)),
        (
            "b. keyValue + type + 7 days",
            EventQuery(
                event_type_key=VIEWED,
                key_value=key,
                occurred_from_us=occurred - week // 2,
                occurred_to_us=occurred + week // 2,
                limit=101,
            ),
        ),
        ("c. contact timeline", EventQuery(contact_ids=(contact,), limit=51)),
        (
            "d. type + 1 day",
            EventQuery(
                event_type_key=CART,
                occurred_from_us=day,
                occurred_to_us=day + 86_400_000_000 - 1,
                limit=101,
            ),
        ),
    ]
    middle = START_US + SPAN_US // 2
    for event_type in (VIEWED, CART):
        position = _page_start(store, workspace_id, event_type, middle)
        query = EventQuery(
            event_type_key=event_type, occurred_to_us=middle, before=position, limit=101
        )
        cases.append((f"e. {event_type}, page {PAGES} (to + cursor)", query))
    query = EventQuery(event_type_key=VIEWED, before=(middle, 2**63 - 1), limit=101)
    cases.append((f"f. {VIEWED}, cursor only (middle of the range)", query))
    plans: list[str] = []
    original = store.dialect.cursor_class
    store.dialect.cursor_class = explain_cursor(store.dialect.name, plans)
    try:
        for name, query in cases:
            store.events.list_events(workspace_id, query)
            print(f"    {name}:\n{plans[-1]}")
    finally:
        store.dialect.cursor_class = original


def _contact_of(store: Store, workspace_id: int, key: str) -> int:
    rows = store.events.list_events(workspace_id, EventQuery(key_value=key, limit=1))
    return (rows[0].contact_id or 0) if rows else 0


def _page_start(store: Store, workspace_id: int, event_type: str, to_us: int) -> tuple[int, int]:
    """The cursor after PAGES - 1 pages of 100 of ``event_type`` up to ``to_us``."""
    query = EventQuery(event_type_key=event_type, occurred_to_us=to_us, limit=100 * (PAGES - 1))
    rows = store.events.list_events(workspace_id, query)
    return (rows[-1].occurred_us, rows[-1].id) if rows else (to_us, 0)


# -- one backend -----------------------------------------------------------------------------
def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> list[str]:
    rng = random.Random(args.seed)
    env, database = backend_env(backend, workdir)
    summary: list[str] = []
    try:
        settings = migrated_settings(env)
        store = open_store(settings)
        try:
            issued = create_workspace(store.access, "bench-history")
            workspace_id = store.access.workspace_id("bench-history")
            assert workspace_id is not None
            print(f"\n== {backend}: loading {args.events:,} events ==")
            loaded = load(store, workspace_id, args.events, rng)
            if backend == "postgres":
                with psycopg.connect(settings.resolved_database_url, autocommit=True) as conn:
                    conn.execute("ANALYZE")
            rate = loaded.events / loaded.seconds
            print(
                f"  loaded {loaded.events:,} events in {loaded.seconds:.1f} s "
                f"({rate:,.0f} events/s); {loaded.distinct_keys:,} distinct keyValues, "
                f"{loaded.cart_events:,} {CART}; database {database_mb(store, settings):,.0f} MB"
            )
            if args.explain:
                print("  query plans:")
                explain(store, workspace_id, loaded.samples)
            server = start_footfall(env)
            client = Client(server.url, issued.api_key)
            try:
                print(f"  {args.queries} queries per scenario, one keep-alive client:")
                scenarios = measure(client, loaded.samples, args.queries, rng)
            finally:
                client.close()
                server.stop()
            for scenario in scenarios:
                print("  " + scenario.line())
            p95 = percentile(scenarios[0].latencies_ms, 0.95)
            verdict = "met" if p95 <= TARGET_MS else "MISSED"
            summary.append(
                f"{backend}: key lookup p95 {p95:.1f} ms at {loaded.events:,} events "
                f"(target <= {TARGET_MS:.0f} ms) - {verdict}; load {rate:,.0f} events/s; "
                f"non-200 responses {sum(s.non_200 for s in scenarios)}"
            )
        finally:
            store.close()
    finally:
        drop_database(database)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to store")
    parser.add_argument("--queries", type=int, default=1000, help="requests per scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--explain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print each scenario's query plan",
    )
    args = parser.parse_args()
    if args.events < 1 or args.queries < 1:
        parser.error("--events and --queries must be at least 1")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="footfall-history-") as tmp:
        for backend in backends:
            summary += run_backend(backend, args, Path(tmp))
    print()
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
