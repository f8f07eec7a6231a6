"""The ordered, resumable feed that workflows, webhooks and analytics will consume."""

from __future__ import annotations

import json
import time

import pytest

from footfall.config import Settings
from footfall.identity.locators import Locators
from footfall.records import NewEvent
from footfall.store import Store, open_store
from footfall.store.records import FeedPosition


def new_event(workspace_id: int, key: str, event_type: str = "feedTest") -> NewEvent:
    now = time.time_ns() // 1000
    return NewEvent(
        workspace_id=workspace_id,
        event_type_key=event_type,
        key_value=key,
        params_json=json.dumps([{"name": "externalCustomerId", "value": key}]),
        raw="{}",
        source="live",
        occurred_us=now,
        received_us=now,
        locators=Locators(external_id=key),
    )


def drain(
    store: Store, position: FeedPosition, workspace_id: int
) -> tuple[list[str], FeedPosition]:
    keys: list[str] = []
    while page := store.feed.read_feed(position, limit=7):
        position = page[-1].position
        keys += [item.event.key_value for item in page if item.workspace_id == workspace_id]
    return keys, position


def test_consumer_resumes_after_a_crash_without_gaps_or_repeats(
    store: Store, settings: Settings, workspace: object
) -> None:
    ws = workspace.id  # type: ignore[attr-defined]
    start = store.feed.read_feed(FeedPosition(), limit=1_000_000)
    origin = start[-1].position if start else FeedPosition()
    keys = [f"feed-{i}" for i in range(30)]
    store.events.commit_batch([new_event(ws, k) for k in keys[:20]])
    first, position = drain(store, origin, ws)
    store.feed.save_offset(f"consumer-{ws}", position, time.time_ns() // 1000)
    store.events.commit_batch([new_event(ws, k) for k in keys[20:]])

    restarted = open_store(settings)  # a new process: only the saved offset survives
    try:
        resumed_at = restarted.feed.load_offset(f"consumer-{ws}")
        assert resumed_at == position
        rest, _ = drain(restarted, resumed_at, ws)
    finally:
        restarted.close()
    assert first == keys[:20]
    assert rest == keys[20:]


def test_feed_never_passes_a_transaction_that_is_still_open(
    backend: str, store: Store, settings: Settings, workspace: object
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time, so commits are always in id order")
    ws = workspace.id  # type: ignore[attr-defined]
    origin = FeedPosition()
    while page := store.feed.read_feed(origin, limit=10_000):
        origin = page[-1].position
    slow, fast = open_store(settings), open_store(settings)
    try:
        slow.events.begin()
        # Different types: the per-type counter row would otherwise make "fast" wait for "slow".
        slow.events.write_batch([new_event(ws, "slow", "slowType")])  # lower id, commits last
        fast.events.commit_batch([new_event(ws, "fast", "fastType")])
        seen, position = drain(store, origin, ws)
        assert seen == []  # "fast" is held back: "slow" could still commit before it
        slow.events.commit()
        seen, _ = drain(store, position, ws)
        assert seen == ["slow", "fast"]
    finally:
        slow.close()
        fast.close()
