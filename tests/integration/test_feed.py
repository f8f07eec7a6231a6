"""The ordered feeds that workflows, webhooks and analytics consume: no gaps, no repeats, no skips,
positions advanced with the effects, one owner per consumer, identity changes in commit order."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import Workspace
from footfall.config import Settings
from footfall.identity.locators import Locators
from footfall.records import NewEvent
from footfall.store import Store, open_store
from footfall.store.cursor import Cursor
from footfall.store.feed import FeedStore
from footfall.store.identity_feed import (
    ERASED,
    MERGED,
    IdentityChange,
    record_erasure,
    record_merge,
)
from footfall.store.leases import LeaseLost
from footfall.store.migrate import upgrade
from footfall.store.rows import EventSpan, FeedEvent, FeedPosition

EFFECTS = "CREATE TABLE IF NOT EXISTS feed_test_effects (consumer VARCHAR(100), event_id BIGINT)"


def now_us() -> int:
    return time.time_ns() // 1000


def new_event(
    workspace_id: int, key: str, event_type: str = "feedTest", locators: Locators | None = None
) -> NewEvent:
    now = now_us()
    return NewEvent(
        workspace_id=workspace_id,
        event_type_key=event_type,
        key_value=key,
        params_json=json.dumps([{"name": "externalCustomerId", "value": key}]),
        raw="{}",
        source="live",
        occurred_us=now,
        received_us=now,
        locators=locators or Locators(external_id=key),
    )


def drain(
    feed: FeedStore, position: FeedPosition, workspace_id: int
) -> tuple[list[str], FeedPosition]:
    keys: list[str] = []
    while page := feed.read_events(position, limit=7):
        position = page[-1].position
        keys += [item.event.key_value for item in page if item.workspace_id == workspace_id]
    return keys, position


def end_of_feed(store: Store) -> FeedPosition:
    _, position = drain(store.feed, FeedPosition(), -1)
    return position


def end_of_identity_feed(store: Store) -> FeedPosition:
    position = FeedPosition()
    while page := store.feed.read_identity(position, 10_000):
        position = page[-1].position
    return position


@pytest.fixture
def consumer(store: Store, workspace: Workspace) -> Iterator[str]:
    """A consumer of this test alone, positioned at the end of the feed, owned by "me"."""
    name = f"test-{workspace.id}-{uuid.uuid4().hex[:6]}"
    store.feed.save_offset(name, end_of_feed(store))
    assert store.feed.acquire(name, "me")
    store.transact(lambda tx: tx.execute(EFFECTS))
    yield name
    store.feed.release(name, "me")


def effects(store: Store, consumer: str) -> list[int]:
    with store.read() as tx:
        rows = tx.all("SELECT event_id FROM feed_test_effects WHERE consumer = ?", consumer)
    return sorted(int(r[0]) for r in rows)


def record_effects(consumer: str) -> Callable[[Cursor, list[FeedEvent]], None]:
    def handle(tx: Cursor, page: list[FeedEvent]) -> None:
        rows = [(consumer, item.event.id) for item in page]
        tx.executemany("INSERT INTO feed_test_effects (consumer, event_id) VALUES (?, ?)", rows)

    return handle


def test_consumer_resumes_after_a_crash_without_gaps_or_repeats(
    store: Store, settings: Settings, workspace: Workspace
) -> None:
    ws = workspace.id
    origin = end_of_feed(store)
    keys = [f"feed-{i}" for i in range(30)]
    store.events.commit_batch([new_event(ws, k) for k in keys[:20]])
    first, position = drain(store.feed, origin, ws)
    store.feed.save_offset(f"consumer-{ws}", position)
    store.events.commit_batch([new_event(ws, k) for k in keys[20:]])

    restarted = open_store(settings)  # a new process: only the saved offset survives
    try:
        resumed_at = restarted.feed.load_offset(f"consumer-{ws}")
        assert resumed_at == position
        rest, _ = drain(restarted.feed, resumed_at, ws)
    finally:
        restarted.close()
    assert first == keys[:20]
    assert rest == keys[20:]


def test_feed_never_passes_a_transaction_that_is_still_open(
    backend: str, store: Store, settings: Settings, workspace: Workspace
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time, so commits are always in id order")
    ws = workspace.id
    origin = end_of_feed(store)
    slow, fast = open_store(settings), open_store(settings)
    try:
        slow.events.begin()
        # Different types: the per-type counter row would otherwise make "fast" wait for "slow".
        slow.events.write_batch([new_event(ws, "slow", "slowType")])  # lower id, commits last
        fast.events.commit_batch([new_event(ws, "fast", "fastType")])
        seen, position = drain(store.feed, origin, ws)
        assert seen == []  # "fast" is held back: "slow" could still commit before it
        slow.events.commit()
        seen, _ = drain(store.feed, position, ws)
        assert seen == ["slow", "fast"]
    finally:
        slow.close()
        fast.close()


def test_an_erased_newest_event_never_lends_its_id_to_the_next(
    store: Store, workspace: Workspace, consumer: str
) -> None:
    ws = workspace.id
    start = store.feed.load_offset(consumer)
    store.events.commit_batch([new_event(ws, "kept")])
    store.events.commit_batch([new_event(ws, "erased")])  # the newest row of the table
    assert store.feed.consume(consumer, "me", record_effects(consumer), limit=10) == 2
    kept, erased = store.feed.read_events(start, 10)
    assert erased.event.key_value == "erased" and erased.event.contact_id is not None
    assert store.feed.load_offset(consumer) == erased.position

    store.contacts.delete_contact(ws, erased.event.contact_id, erase=True, now=now_us())
    store.events.commit_batch([new_event(ws, "after")])

    assert store.feed.consume(consumer, "me", record_effects(consumer), limit=10) == 1
    [after] = store.feed.read_events(erased.position, 10)
    assert after.event.key_value == "after" and after.event.id > erased.event.id
    assert effects(store, consumer) == [kept.event.id, erased.event.id, after.event.id]


def test_the_migration_starts_sqlite_ids_past_every_id_handed_out(tmp_path: Path) -> None:
    """A database upgraded after the newest event was erased: the next id is past it, because a
    consumer saved a position there."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0003")
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("INSERT INTO workspaces (id, name, created_us) VALUES (1, 'w', 0)")
        db.executemany(
            "INSERT INTO events (workspace_id, event_type_key, key_value, params, raw, source, "
            "occurred_us, received_us, txid) VALUES (1, 't', ?, '[]', '{}', 'live', 0, 0, 0)",
            [("a",), ("b",), ("c",)],
        )
        db.execute("INSERT INTO feed_offsets VALUES ('c', 0, 3, 0)")
        db.execute("DELETE FROM events WHERE id = 3")
    upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute(
            "INSERT INTO events (workspace_id, event_type_key, key_value, params, raw, source, "
            "occurred_us, received_us, txid) VALUES (1, 't', 'd', '[]', '{}', 'live', 0, 0, 0)"
        )
        rows = db.execute("SELECT id, key_value FROM events ORDER BY id").fetchall()
        indexes = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'events' AND type = 'index'"
        ).fetchone()
    assert rows == [(1, "a"), (2, "b"), (4, "d")]
    assert indexes == (4,)


def test_a_handler_that_fails_keeps_neither_its_effects_nor_the_position(
    store: Store, workspace: Workspace, consumer: str
) -> None:
    start = store.feed.load_offset(consumer)
    store.events.commit_batch([new_event(workspace.id, f"k{i}") for i in range(3)])

    def fails(tx: Cursor, page: list[FeedEvent]) -> None:
        record_effects(consumer)(tx, page)
        raise RuntimeError("the handler broke after writing its effects")

    with pytest.raises(RuntimeError):
        store.feed.consume(consumer, "me", fails, limit=10)
    assert effects(store, consumer) == []
    assert store.feed.load_offset(consumer) == start

    assert store.feed.consume(consumer, "me", record_effects(consumer), limit=10) == 3
    page = store.feed.read_events(start, 10)
    assert effects(store, consumer) == [item.event.id for item in page]
    assert store.feed.load_offset(consumer) == page[-1].position
    assert store.feed.consume(consumer, "me", record_effects(consumer), limit=10) == 0


class Clock:
    def __init__(self) -> None:
        self.now = now_us()

    def __call__(self) -> int:
        return self.now


def test_one_owner_at_a_time_and_a_dead_owner_loses_the_lease(
    store: Store, workspace: Workspace, consumer: str
) -> None:
    clock = Clock()
    feed = FeedStore(store.db, clock=clock)
    name = f"{consumer}-leased"
    feed.save_offset(name, store.feed.load_offset(consumer))
    store.events.commit_batch([new_event(workspace.id, "one")])
    assert feed.acquire(name, "a", ttl=5)
    assert feed.acquire(name, "a", ttl=5)  # holding it again is fine
    assert not feed.acquire(name, "b", ttl=5)
    with pytest.raises(LeaseLost):
        feed.consume(name, "b", record_effects(name))
    assert effects(store, name) == []

    clock.now += 6_000_000  # "a" died: its lease ran out
    with pytest.raises(LeaseLost):
        feed.consume(name, "a", record_effects(name))  # expired is not held, even unclaimed
    assert not feed.renew(name, "a")
    assert feed.acquire(name, "b", ttl=5)
    with pytest.raises(LeaseLost):
        feed.consume(name, "a", record_effects(name))  # fenced off
    assert feed.consume(name, "b", record_effects(name)) == 1

    clock.now += 4_000_000  # consume renewed b's lease: still held
    assert not feed.acquire(name, "a")
    assert feed.renew(name, "b")
    feed.release(name, "b")
    assert feed.acquire(name, "a")
    feed.release(name, "a")


def merge_two_contacts(store: Store, ws: int) -> None:
    tag = uuid.uuid4().hex[:8]
    email, phone = f"{tag}@example.com", "+38050" + str(int(tag, 16) % 10_000_000).zfill(7)
    store.events.commit_batch([new_event(ws, email, locators=Locators(email=email))])
    store.events.commit_batch([new_event(ws, phone, locators=Locators(phone=phone))])
    both = Locators(email=email, phone=phone)
    store.events.commit_batch([new_event(ws, email, locators=both)])


def changes_of(store: Store, after: FeedPosition, ws: int) -> list[IdentityChange]:
    return [c for c in store.feed.read_identity(after, 1000) if c.workspace_id == ws]


def settled(store: Store, after: FeedPosition, ws: int, count: int) -> list[IdentityChange]:
    """The workspace's changes once ``count`` are readable: on PostgreSQL the feed waits for
    every transaction of the cluster older than them (other tests' background work) to end."""
    deadline = time.monotonic() + 10
    while len(changes := changes_of(store, after, ws)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return changes


def test_merges_and_erasures_follow_in_commit_order(store: Store, workspace: Workspace) -> None:
    ws = workspace.id
    origin = end_of_identity_feed(store)
    merge_two_contacts(store, ws)
    [merged] = settled(store, origin, ws, 1)
    assert merged.kind == MERGED and merged.merged_id is not None
    assert merged.merged_id != merged.contact_id

    store.contacts.delete_contact(ws, merged.contact_id, erase=True, now=now_us())
    changes = settled(store, origin, ws, 3)
    assert [c.kind for c in changes] == [MERGED, ERASED, ERASED]
    erased = {c.contact_id for c in changes[1:]}
    assert erased == {merged.contact_id, merged.merged_id}
    with store.read() as tx:  # ids only: the identity feed holds nothing else of the person
        assert tx.one("SELECT count(*) FROM contacts WHERE id IN (?, ?)", *erased)[0] == 0

    name = f"identity-{ws}"
    store.feed.save_offset(name, origin)
    assert store.feed.acquire(name, "me")
    seen: list[IdentityChange] = []
    handled = store.feed.consume_identity(name, "me", lambda tx, page: seen.extend(page))
    assert [c for c in seen if c.workspace_id == ws] == changes
    assert handled == len(seen) and store.feed.load_offset(name) == seen[-1].position


def test_identity_feed_never_passes_a_transaction_that_is_still_open(
    backend: str, store: Store, settings: Settings, workspace: Workspace
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time, so commits are always in id order")
    ws, origin = workspace.id, end_of_identity_feed(store)
    slow, fast = open_store(settings), open_store(settings)
    try:
        with slow.db.write() as tx:
            record_merge(tx, slow.dialect, ws, 1, 2, now_us())
            fast.transact(lambda t: record_erasure(t, fast.dialect, ws, [3], now_us()))
            assert changes_of(store, origin, ws) == []
        assert [c.contact_id for c in settled(store, origin, ws, 2)] == [1, 3]
    finally:
        slow.close()
        fast.close()


def test_a_span_is_a_page_of_the_feed_by_its_bounds(
    store: Store, workspace: Workspace, consumer: str
) -> None:
    """The webhooks' fan-out consumes spans: the same pages, counts and positions as the full
    feed, without reading the events themselves."""
    start = store.feed.load_offset(consumer)
    store.events.commit_batch([new_event(workspace.id, f"h{i}", f"type{i % 2}") for i in range(5)])
    seen: list[EventSpan] = []

    def keep(tx: Cursor, page: list[EventSpan]) -> None:
        seen.extend(page)

    assert store.feed.consume_stream("event_span", consumer, "me", keep, 3) == 3
    assert store.feed.consume_stream("event_span", consumer, "me", keep, 3) == 2
    assert store.feed.consume_stream("event_span", consumer, "me", keep, 3) == 0
    full = store.feed.read_events(start, 5)
    assert [(s.after, s.position, s.count) for s in seen] == [
        (start, full[2].position, 3),
        (full[2].position, full[4].position, 2),
    ]
    assert store.feed.load_offset(consumer) == full[-1].position
