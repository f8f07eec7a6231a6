"""Outgoing webhooks end to end: a real server on a fresh database (its runtime the only one
delivering there), real receivers on loopback (tests/receiver.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import (
    LiveServer,
    Workspace,
    migrated_database,
    new_workspace,
    start_server,
)
from footfall.clock import now_us
from footfall.config import Settings
from footfall.identity.locators import Locators
from footfall.records import NewEvent, WebhookSpec
from footfall.store import Store, open_store
from footfall.store.feed import read_event_span
from footfall.store.rows import EventSpan, FeedPosition
from footfall.store.webhooks import Attempt, Delivery, Sent
from receiver import Received, Receiver, verify


@pytest.fixture
def fresh(backend: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings on a database of this test's own, so no other test's server delivers there."""
    with migrated_database(backend, tmp_path) as url:
        yield Settings(
            data_dir=tmp_path,
            database_url=url,
            webhook_allow_hosts="127.0.0.1",
            webhook_retry_schedule=(0.3, 0.6),
            webhook_timeout_seconds=2.0,
        )


@pytest.fixture
def hooks(fresh: Settings) -> Iterator[Callable[..., tuple[LiveServer, Store, Workspace]]]:
    """A server on the fresh database (settings changed as asked), its store and a workspace."""
    started: list[tuple[LiveServer, Store]] = []

    def make(**changes: Any) -> tuple[LiveServer, Store, Workspace]:
        settings = replace(fresh, **changes)
        server, store = start_server(settings), open_store(settings)
        started.append((server, store))
        return server, store, new_workspace(store, "hooks")

    yield make
    for server, store in started:
        server.stop()
        store.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def send_events(
    api: httpx.Client, count: int, kind: str = "visited", tag: str = "", identified: bool = False
) -> list[str]:
    """``count`` accepted events, each with a distinct ``n`` (and, ``identified``, the contact
    of its keyValue as e-mail address); their keyValues."""
    tag = tag or uuid.uuid4().hex[:8]
    keys = []
    for n in range(count):
        key = f"{tag}-{n}@example.com"
        params: list[dict[str, Any]] = [{"name": "n", "value": n}]
        if identified:
            params.append({"name": "email", "value": key})
        event = {"eventTypeKey": kind, "keyValue": key, "params": params}
        assert api.post("/api/v2/event", json=event).status_code == 200
        keys.append(key)
    return keys


def items(posts: list[Received]) -> list[dict[str, Any]]:
    return [item for post in posts for item in post.json()]


def delivered_keys(receiver: Receiver, count: int, timeout: float = 15) -> list[str]:
    """keyValues of the first ``count`` items delivered with a 2xx, in the order received."""

    def enough(requests: list[Received]) -> bool:
        return (
            len(items([r for r in requests if r.method == "POST" and r.answered == 200])) >= count
        )

    requests = receiver.wait_for(enough, timeout)
    return [
        i["keyValue"]
        for i in items([r for r in requests if r.method == "POST" and r.answered == 200])
    ]


def subscribe(api: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/v1/webhooks", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_deliveries_are_signed_in_order_and_carry_the_events(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks()
    with server.client(ws.full_key) as api:
        created = subscribe(api, receiver.url, batchSize=2)
        assert created["secret"].startswith("whsec_")
        assert [r.method for r in receiver.requests] == ["GET"]  # the URL was checked first
        keys = send_events(api, 5)
        assert delivered_keys(receiver, 5) == keys
        posts = receiver.posts()
        bodies = [verify(created["secret"], post) for post in posts]  # raises on a bad signature
        assert [len(b) for b in bodies] == [len(post.json()) for post in posts]
        assert all(len(post.json()) <= 2 for post in posts)
        ids = [post.headers["webhook-id"] for post in posts]
        assert len(set(ids)) == len(ids)
        first = items(posts)[0]
        assert set(first) == {
            "id", "eventTypeKey", "keyValue", "contactId", "params", "occurred", "received"
        }  # fmt: skip
        assert first["eventTypeKey"] == "visited" and first["params"] == [{"name": "n", "value": 0}]
        history = api.get("/api/v1/events", params={"keyValue": keys[0]}).json()
        assert history[0]["id"] == first["id"] and history[0]["contactId"] == first["contactId"]


def test_each_delivered_event_is_the_event_the_history_api_shows(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    """The database builds the payload: every field, the times to the millisecond, parameters
    of every JSON shape and text in any script come out as the history API shows them."""
    server, _, ws = hooks()
    params: list[list[dict[str, Any]]] = [
        [{"name": "n", "value": 1.5}, {"name": "tags", "value": ["a", "b"]}],
        [
            {"name": "email", "value": "Zoë.Ωmega@example.com"},
            {"name": "nested", "value": {"x": [1, {"y": None}]}},
        ],
        [
            {"name": "quote", "value": 'say "hi"\\ \n\t \u0001 ✓ 𝄞'},
            {"name": "big", "value": 12345678901234567},
        ],
    ]
    dates = ["2024-02-29T23:59:59.999Z", "1970-01-01T00:00:00.000Z", "2019-07-04T12:00:00.001Z"]
    with server.client(ws.full_key) as api:
        subscribe(api, receiver.url)
        keys = [f"shape-{n}-{uuid.uuid4().hex[:6]}" for n in range(3)]
        events = [
            {"eventTypeKey": "shaped", "keyValue": key, "params": p, "occurred": occurred}
            for key, p, occurred in zip(keys, params, dates, strict=True)
        ]
        answer = api.post("/api/v2/past_events", json={"events": events})
        assert answer.json()["successCount"] == 3, answer.text
        assert delivered_keys(receiver, 3) == keys
        delivered = items(receiver.posts())
        for item, key, occurred in zip(delivered, keys, dates, strict=True):
            (shown,) = api.get("/api/v1/events", params={"keyValue": key}).json()
            assert item == {field: shown[field] for field in item}
            assert item["occurred"] == occurred
        assert set(delivered[0]) == {
            "id", "eventTypeKey", "keyValue", "contactId", "params", "occurred", "received"
        }  # fmt: skip
        assert delivered[1]["contactId"] is not None and delivered[0]["contactId"] is None


def test_deliveries_to_one_endpoint_share_a_kept_alive_connection(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks()
    with server.client(ws.full_key) as api:
        subscribe(api, receiver.url, batchSize=1)
        keys = send_events(api, 4)
        assert delivered_keys(receiver, 4) == keys
        assert len({post.connection for post in receiver.posts()}) == 1


def test_only_the_chosen_event_types_are_delivered(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks()
    with server.client(ws.full_key) as api:
        subscribe(api, receiver.url, eventTypes=["ordered"])
        send_events(api, 2, kind="visited")
        wanted = send_events(api, 2, kind="ordered")
        assert delivered_keys(receiver, 2) == wanted
        time.sleep(0.5)
        assert [i["eventTypeKey"] for i in items(receiver.posts())] == ["ordered", "ordered"]


def test_a_failing_batch_is_retried_on_schedule_with_its_id_and_never_overtaken(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks(webhook_retry_schedule=(0.4, 0.8))
    with server.client(ws.full_key) as api:
        created = subscribe(api, receiver.url, batchSize=3)
        receiver.script([500, "reset", 503])
        keys = send_events(api, 3)
        time.sleep(0.3)  # the first batch is in trouble by now; more events queue behind it
        keys += send_events(api, 3)
        assert delivered_keys(receiver, 6) == keys
        posts = receiver.posts()
        assert [p.answered for p in posts[:4]] == [500, "reset", 503, 200]
        assert len({p.headers["webhook-id"] for p in posts[:4]}) == 1  # one delivery, retried
        assert [p.body for p in posts[:4]] == [posts[0].body] * 4
        gaps = [b.at - a.at for a, b in itertools.pairwise(posts[:4])]
        assert gaps[0] >= 0.35 and gaps[1] >= 0.7 and gaps[2] >= 0.7, gaps  # 0.4 s, then 0.8 s
        log = api.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()
        failed = [a for a in reversed(log) if a["statusCode"] != 200]
        assert [a["statusCode"] for a in failed] == [500, None, 503]
        assert failed[1]["error"] and all(a["nextRetry"] for a in failed)
        assert {a["items"] for a in failed} == {len(posts[0].json())}
        assert max(len(p.json()) for p in posts) <= 3


def test_a_hanging_endpoint_does_not_delay_a_healthy_one(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, store, ws = hooks(webhook_timeout_seconds=3.0)
    other = new_workspace(store, "healthy")
    with (
        Receiver() as stuck,
        server.client(ws.full_key) as api,
        server.client(other.full_key) as ok,
    ):
        subscribe(api, stuck.url, batchSize=1)
        stuck.hang()
        subscribe(ok, receiver.url, batchSize=1)
        send_events(api, 3)
        stuck.wait_for(lambda r: any(x.method == "POST" for x in r))
        started = time.monotonic()
        keys = send_events(ok, 3)
        assert delivered_keys(receiver, 3, timeout=5) == keys
        assert time.monotonic() - started < 1.5  # well inside the hanging one's 3 s timeout
        started = time.monotonic()
        assert api.post("/api/v2/event", json={"eventTypeKey": "v", "keyValue": "k"}).is_success
        assert time.monotonic() - started < 0.5  # ingestion never waits for deliveries
        stuck.release()


def test_failing_past_the_maximum_age_pauses_and_replay_sends_the_dead_letters(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks(webhook_retry_schedule=(0.2,), webhook_max_age_seconds=0.7)
    with server.client(ws.full_key) as api:
        hook = subscribe(api, receiver.url)
        receiver.status(500)
        keys = send_events(api, 3)
        deadline = time.monotonic() + 10
        while (shown := api.get(f"/api/v1/webhooks/{hook['id']}").json())["status"] != "paused":
            assert time.monotonic() < deadline, shown
            time.sleep(0.1)
        assert shown["deadLettered"] == 3 and shown["pending"] == 0
        assert "paused after failing" in shown["statusReason"]
        later = send_events(api, 2)  # queued while paused, behind the dead letters
        time.sleep(0.5)
        refused = len(receiver.posts())
        assert refused >= 3  # tried at 0, 0.2, 0.4 s and so on
        receiver.ok()
        replayed = api.post(f"/api/v1/webhooks/{hook['id']}/replay")
        assert replayed.json() == {"replayed": 3}
        assert delivered_keys(receiver, 5) == keys + later
        shown = api.get(f"/api/v1/webhooks/{hook['id']}").json()
        assert shown["status"] == "active" and shown["deadLettered"] == 0


def test_disabled_subscriptions_get_nothing_until_enabled(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks()
    with server.client(ws.full_key) as api:
        hook = subscribe(api, receiver.url)
        before = send_events(api, 1)
        assert delivered_keys(receiver, 1) == before
        assert api.post(f"/api/v1/webhooks/{hook['id']}/disable").json()["status"] == "disabled"
        send_events(api, 2)
        time.sleep(1.0)
        assert len(receiver.posts()) == 1
        assert api.post(f"/api/v1/webhooks/{hook['id']}/enable").json()["status"] == "active"
        after = send_events(api, 1)
        assert delivered_keys(receiver, 2) == before + after


def test_the_identity_stream_carries_merges_and_erasures(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks()
    with server.client(ws.full_key) as api:
        subscribe(api, receiver.url, streams=["identity"])
        one = api.post("/api/v1/contact", json={"externalCustomerId": "x-1"}).json()["id"]
        two = api.post(
            "/api/v1/contact", json={"channels": [{"type": "email", "value": "m@example.com"}]}
        ).json()["id"]
        event = {
            "eventTypeKey": "linked",
            "keyValue": "m@example.com",
            "params": [
                {"name": "externalCustomerId", "value": "x-1"},
                {"name": "email", "value": "m@example.com"},
            ],
        }
        assert api.post("/api/v2/event", json=event).status_code == 200
        merged = receiver.wait_for(lambda r: any(x.method == "POST" for x in r))
        merge = items([r for r in merged if r.method == "POST"])[0]
        assert merge["type"] == "contactMerged" and {merge["survivor"], merge["merged"]} == {
            one,
            two,
        }
        survivor = merge["survivor"]
        assert api.delete(f"/api/v1/contact/{survivor}", params={"erase": "true"}).status_code < 300
        everything = receiver.wait_for(
            lambda r: len(items([x for x in r if x.method == "POST"])) >= 2
        )
        erased = items([r for r in everything if r.method == "POST"])[1]
        assert erased["type"] == "contactErased" and erased["contactId"] == survivor
        assert all(i.get("eventTypeKey") is None for i in items(receiver.posts()))  # no events


def test_erasing_a_contact_removes_its_pending_and_dead_lettered_items(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, store, ws = hooks(webhook_retry_schedule=(0.2,), webhook_max_age_seconds=0.5)
    with server.client(ws.full_key) as api:
        hook = subscribe(api, receiver.url)
        receiver.status(500)
        gone = send_events(api, 2, tag="gone", identified=True)
        kept = send_events(api, 1, tag="kept", identified=True)
        deadline = time.monotonic() + 10
        while api.get(f"/api/v1/webhooks/{hook['id']}").json()["status"] != "paused":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        pending = send_events(api, 1, tag="gone2", identified=True)  # waiting, not dead-lettered
        contact = api.get("/api/v1/events", params={"keyValue": gone[0]}).json()[0]["contactId"]
        for key in gone[1:] + pending:  # the same person, under other identifiers
            other = api.get("/api/v1/events", params={"keyValue": key}).json()[0]["contactId"]
            assert api.delete(f"/api/v1/contact/{other}", params={"erase": "true"}).is_success
        assert api.delete(f"/api/v1/contact/{contact}", params={"erase": "true"}).is_success
        shown = api.get(f"/api/v1/webhooks/{hook['id']}").json()
        assert (shown["deadLettered"], shown["pending"]) == (1, 0)
        with store.read() as tx:
            assert tx.one("SELECT count(*) FROM webhook_outbox")[0] == 1
        receiver.ok()
        api.post(f"/api/v1/webhooks/{hook['id']}/replay")
        assert delivered_keys(receiver, 1) == kept
        time.sleep(0.5)
        sent = [i["keyValue"] for i in items([p for p in receiver.posts() if p.answered == 200])]
        assert sent == kept


def test_refused_targets_get_nothing(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]],
) -> None:
    server, store, ws = hooks()
    with Receiver(host="127.0.0.2") as outside, server.client(ws.full_key) as api:
        port = outside.port
        for url in (
            f"http://127.0.0.2:{port}/hook",
            f"http://2130706434:{port}/hook",
            f"http://[::ffff:127.0.0.2]:{port}/hook",
        ):
            answer = api.post("/api/v1/webhooks", json={"url": url})
            assert answer.status_code == 400, (url, answer.text)
            assert "FOOTFALL_WEBHOOK_ALLOW_HOSTS" in answer.text
        # A subscription stored before the allow list changed: refused at every delivery.
        hook = store.webhooks.create(ws.id, WebhookSpec(url=f"http://127.0.0.2:{port}/hook"))
        send_events(api, 1)
        deadline = time.monotonic() + 10
        while not (log := api.get(f"/api/v1/webhooks/{hook.id}/deliveries").json()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert log[0]["statusCode"] is None and log[0]["error"].startswith("refused")
        assert outside.requests == []


def test_the_url_check_refuses_what_does_not_answer_2xx(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks()
    with server.client(ws.full_key) as api:
        receiver.status(404)
        answer = api.post("/api/v1/webhooks", json={"url": receiver.url})
        assert answer.status_code == 400 and "404" in answer.text
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = sock.getsockname()[1]
        answer = api.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:{closed}/"})
        assert answer.status_code == 400 and "did not answer" in answer.text
        skipped = api.post("/api/v1/webhooks?verify=false", json={"url": receiver.url})
        assert skipped.status_code == 201
        assert api.get("/api/v1/webhooks").json()[0]["id"] == skipped.json()["id"]


def metric(api: httpx.Client, name: str, label: str = "") -> float:
    """The value of one sample of /metrics (the first whose line starts with ``name``+label)."""
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(name + label + " ") or line.startswith(name + "{" + label):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{label} not in /metrics")


def test_metrics_show_what_waits_and_consumer_lag(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]],
    receiver: Receiver,
) -> None:
    server, store, ws = hooks()
    with server.client(ws.full_key) as api:
        subscribe(api, receiver.url)
        receiver.down()
        send_events(api, 3)
        deadline = time.monotonic() + 10
        while metric(api, "footfall_webhook_items_waiting") < 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert metric(api, "footfall_consumer_lag_events", '{consumer="webhooks:events"}') == 0
        receiver.up()
        delivered_keys(receiver, 3)
        time.sleep(1.2)  # the gauges are read at most once a second
        assert metric(api, "footfall_webhook_items_waiting") == 0
    # A consumer that has not run is behind by every event, the oldest as old as it is.
    assert store.feed.lag("nobody-yet", "events").behind >= 3
    oldest = store.feed.lag("nobody-yet", "events").oldest_seconds
    assert oldest is not None and oldest > 0
    assert store.feed.lag("webhooks:events", "events").behind == 0


def test_redirects_are_not_followed(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]], receiver: Receiver
) -> None:
    server, _, ws = hooks()
    with Receiver(host="127.0.0.2") as outside, server.client(ws.full_key) as api:
        hook = subscribe(api, receiver.url)
        receiver.status(302, {"Location": outside.url})
        send_events(api, 1)
        receiver.wait_for(lambda r: any(x.method == "POST" for x in r))
        deadline = time.monotonic() + 10
        while not (log := api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert log[0]["statusCode"] == 302 and log[0]["nextRetry"] is not None
        assert outside.requests == []


def test_a_workspace_has_at_most_50_subscriptions(
    hooks: Callable[..., tuple[LiveServer, Store, Workspace]],
) -> None:
    server, store, ws = hooks()
    for n in range(50):
        store.webhooks.create(ws.id, WebhookSpec(url=f"http://127.0.0.1:9/{n}", event_types=("x",)))
    with server.client(ws.full_key) as api:
        answer = api.post("/api/v1/webhooks?verify=false", json={"url": "http://127.0.0.1:9/"})
        assert answer.status_code == 409 and "50" in answer.text
        assert len(api.get("/api/v1/webhooks").json()) == 50


def test_a_new_subscription_gets_only_events_accepted_after_it(
    store: Store, workspace: Workspace
) -> None:
    """Fan-out lagging behind (a worker that was down) never hands a new subscription the
    events accepted before it existed."""
    from footfall.store.webhooks import fan_out_events

    hook = store.webhooks.create(workspace.id, WebhookSpec(url="http://127.0.0.1:9/"))
    store.webhooks.set_status(workspace.id, hook.id, "paused")  # queued, never sent by any server
    before, after = hook.created_us - 1, hook.created_us + 1
    span = commit_events(store, [fake_event(workspace.id, before), fake_event(workspace.id, after)])
    queued = store.transact(lambda tx: fan_out_events(tx, store.dialect, span, after))
    assert queued == 1
    with store.read() as tx:
        rows = tx.all("SELECT event_id FROM webhook_outbox WHERE webhook_id = ?", hook.id)
    assert [r[0] for r in rows] == [span.position.id]
    store.webhooks.delete(workspace.id, hook.id)


def fake_event(ws: int, received_us: int, event_type: str = "visited") -> NewEvent:
    key = uuid.uuid4().hex
    return NewEvent(
        workspace_id=ws,
        event_type_key=event_type,
        key_value=key,
        params_json='{"n": 1}',
        raw="{}",
        source="live",
        occurred_us=received_us,
        received_us=received_us,
        locators=Locators(external_id=key),
    )


def commit_events(store: Store, events: list[NewEvent]) -> EventSpan:
    """Commit ``events`` in one batch; the span of the feed they make (nothing else commits
    events in these tests' databases meanwhile)."""
    with store.read() as tx:
        row = tx.one("SELECT txid, id FROM events ORDER BY txid DESC, id DESC LIMIT 1")
    start = FeedPosition() if row is None else FeedPosition(int(row[0] or 0), int(row[1]))
    store.events.commit_batch(events)
    with store.read() as tx:
        (span,) = read_event_span(tx, store.dialect, start, len(events))
    assert span.count == len(events)
    return span


def test_a_consumer_gathers_commits_longer_while_its_feed_is_busy(fresh: Settings) -> None:
    """A feed bringing 4,000 items a second or more (BUSY_ITEMS in the short gathering) makes
    the next wake wait BUSY_GATHER_SECONDS (fewer, larger pages: fewer write transactions beside
    the API's); a slower feed or an idle step brings it back."""
    from footfall.background.consumers import (
        BUSY_GATHER_SECONDS,
        BUSY_ITEMS,
        GATHER_SECONDS,
        Consumer,
        ConsumerLoop,
    )

    store = open_store(fresh)
    try:
        workspace = new_workspace(store, "busy")
        handled: list[int] = []
        consumer = Consumer("test:gathering", "events", lambda tx, page: handled.extend(page))
        loop = ConsumerLoop(store.feed, consumer, "w1")
        start = now_us()
        commit_events(store, [fake_event(workspace.id, start + n) for n in range(BUSY_ITEMS - 1)])
        asyncio.run(loop.step())
        assert len(handled) == BUSY_ITEMS - 1
        assert loop.gathering() == GATHER_SECONDS
        commit_events(store, [fake_event(workspace.id, start + n) for n in range(BUSY_ITEMS)])
        asyncio.run(loop.step())
        assert len(handled) == 2 * BUSY_ITEMS - 1
        assert loop.gathering() == BUSY_GATHER_SECONDS > GATHER_SECONDS
        asyncio.run(loop.step())  # nothing new
        assert loop.gathering() == GATHER_SECONDS
        # By rate: after the long gathering, as many items as the short one brings at 4,000 a
        # second is not busy (1,000 a second), four times as many is.
        loop._gathered = BUSY_GATHER_SECONDS
        commit_events(store, [fake_event(workspace.id, start + n) for n in range(BUSY_ITEMS)])
        asyncio.run(loop.step())
        assert loop.gathering() == GATHER_SECONDS
        commit_events(store, [fake_event(workspace.id, start + n) for n in range(4 * BUSY_ITEMS)])
        asyncio.run(loop.step())
        assert loop.gathering() == BUSY_GATHER_SECONDS
    finally:
        store.close()


def test_a_span_is_routed_to_each_subscription_that_wants_its_events_in_feed_order(
    fresh: Settings,
) -> None:
    """The fan-out is one statement over a page of the feed: each event goes to the live
    subscriptions of its own workspace to the events stream whose types include it, in feed
    order, and only those subscriptions' deliveries become due."""
    from footfall.store.webhooks import fan_out_events

    store = open_store(fresh)
    try:
        a, b = new_workspace(store, "a"), new_workspace(store, "b")
        url = "http://127.0.0.1:9/"
        every = store.webhooks.create(a.id, WebhookSpec(url=url))
        typed = store.webhooks.create(a.id, WebhookSpec(url=url, event_types=("paid", "left")))
        identity = store.webhooks.create(a.id, WebhookSpec(url=url, streams=("identity",)))
        off = store.webhooks.create(a.id, WebhookSpec(url=url))
        store.webhooks.set_status(a.id, off.id, "disabled")
        other = store.webhooks.create(b.id, WebhookSpec(url=url))
        later = other.created_us + 1
        span = commit_events(
            store,
            [
                fake_event(a.id, later, "visited"),
                fake_event(b.id, later, "paid"),
                fake_event(a.id, later, "paid"),
                fake_event(a.id, later, "left"),
                fake_event(a.id, later, "paidOut"),  # no prefix match
            ],
        )
        first = span.position.id - 4
        queued = store.transact(lambda tx: fan_out_events(tx, store.dialect, span, now_us()))
        with store.read() as tx:
            rows = tx.all("SELECT webhook_id, event_id FROM webhook_outbox ORDER BY id")
            due = {int(r[0]) for r in tx.all("SELECT subject FROM due_work WHERE due_us > 0")}
        got: dict[int, list[int]] = {}
        for webhook_id, event_id in rows:
            got.setdefault(int(webhook_id), []).append(int(event_id) - first)
        assert got == {every.id: [0, 2, 3, 4], typed.id: [2, 3], other.id: [1]}
        assert queued == 7
        assert due == {every.id, typed.id, other.id}
        assert identity.id not in got and off.id not in got
    finally:
        store.close()


def test_a_worker_never_claims_again_what_it_is_still_sending(fresh: Settings) -> None:
    """A lease that lapsed while renewals failed (storage down for a few seconds) is free for
    other workers, but the worker whose request is still in flight must not take it again: it
    would send the same batch twice at once and settle over its own newer claim."""
    from footfall.store.webhooks import fan_out_events

    store = open_store(fresh)
    try:
        workspace = new_workspace(store, "hooks")
        hook = store.webhooks.create(workspace.id, WebhookSpec(url="http://127.0.0.1:9/"))
        span = commit_events(store, [fake_event(workspace.id, hook.created_us + n) for n in (1, 2)])
        store.transact(lambda tx: fan_out_events(tx, store.dialect, span, now_us()))
        (first,) = store.webhooks.claim("w1", 4, 5_000_000)
        assert first.webhook.id == hook.id
        assert store.webhooks.renew("w1", [hook.id], 5_000_000) == {hook.id}
        assert store.webhooks.renew("w2", [hook.id], 5_000_000) == set()  # not w2's
        with store.read() as tx:  # the lease lapses: renewals failed for longer than it
            tx.execute("UPDATE due_work SET until_us = 0")
        assert store.webhooks.claim("w1", 4, 5_000_000, sending={hook.id}) == []
        (again,) = store.webhooks.claim("w2", 4, 5_000_000)  # another worker may take it over
        assert again.message_id == first.message_id  # the same batch, under the same id
    finally:
        store.close()


def test_a_run_of_batches_is_settled_at_once_and_a_failed_one_keeps_its_id_and_place(
    fresh: Settings,
) -> None:
    """A worker sends the batches that follow a delivered one before settling (a run): one
    settle drops what was delivered and logs every attempt; the batch that failed is next, with
    the same message id, the batches after it unsent. A batch's id is the same whoever sends
    it, so a run a dead worker sent without settling is sent again under the same ids."""
    from footfall.store.webhooks import fan_out_events

    store = open_store(fresh)
    try:
        workspace = new_workspace(store, "runs")
        spec = WebhookSpec(url="http://127.0.0.1:9/", batch_size=2)
        hook = store.webhooks.create(workspace.id, spec)
        events = [fake_event(workspace.id, hook.created_us + n) for n in range(1, 6)]
        span = commit_events(store, events)
        store.transact(lambda tx: fan_out_events(tx, store.dialect, span, now_us()))

        def keys(delivery: Delivery) -> list[str]:
            return [item["keyValue"] for item in json.loads(delivery.body)]

        (first,) = store.webhooks.claim("w1", 4, 5_000_000)
        second = store.webhooks.next_batch(first, "w1")
        assert second is not None
        assert store.webhooks.next_batch(second, "w1") is None  # [e5] is not a full batch
        assert store.webhooks.next_batch(first, "w2") is None  # not w2's lease
        assert keys(first) + keys(second) == [e.key_value for e in events[:4]]
        assert second.message_id != first.message_id
        with store.read() as tx:  # w1 dies before settling; its lease lapses
            tx.execute("UPDATE due_work SET until_us = 0")
        (again,) = store.webhooks.claim("w2", 4, 5_000_000)
        again_second = store.webhooks.next_batch(again, "w2")
        assert again_second is not None
        assert (again.message_id, again_second.message_id) == (first.message_id, second.message_id)

        at = now_us()
        ok = Attempt(hook.id, again.message_id, at, 200, None, 1.0, again.items, None)
        failed = Attempt(hook.id, second.message_id, at, 500, None, 1.0, second.items, at + 1)
        run = [Sent(again, ok, True), Sent(again_second, failed, False)]
        settled = store.webhooks.settle(run, "w2", then_lease_us=5_000_000)
        assert settled.held and settled.next is None  # the last failed: nothing chained
        logged = store.webhooks.attempts(workspace.id, hook.id)
        assert [(a.message_id, a.status_code) for a in reversed(logged)] == [
            (first.message_id, 200),
            (second.message_id, 500),
        ]
        pending = store.webhooks.pending(workspace.id, hook.id)
        assert (pending.pending, pending.attempts) == (3, 1)  # the failed batch and the last
        time.sleep(0.001)
        (retry,) = store.webhooks.claim("w2", 4, 5_000_000)
        assert retry.message_id == second.message_id and keys(retry) == keys(second)
        assert retry.attempts == 1
    finally:
        store.close()


def test_a_run_ends_when_its_subscription_changes_or_its_lease_is_lost(fresh: Settings) -> None:
    """The batches that follow in a run go only while the subscription is as it was taken
    (active, same URL and credentials) and the worker still holds the lease: a disabled or
    re-pointed subscription gets nothing more from a run under way."""
    from footfall.store.webhooks import DISABLED, fan_out_events

    store = open_store(fresh)
    try:
        workspace = new_workspace(store, "changes")
        spec = WebhookSpec(url="http://127.0.0.1:9/", batch_size=1)
        hook = store.webhooks.create(workspace.id, spec)
        span = commit_events(store, [fake_event(workspace.id, hook.created_us + n) for n in (1, 2)])
        store.transact(lambda tx: fan_out_events(tx, store.dialect, span, now_us()))
        (first,) = store.webhooks.claim("w1", 4, 5_000_000)
        assert store.webhooks.next_batch(first, "w1") is not None
        time.sleep(0.001)  # a change gets a later updated_us
        store.webhooks.update(workspace.id, hook.id, replace(spec, url="http://127.0.0.1:8/"))
        assert store.webhooks.next_batch(first, "w1") is None
        (current,) = [h for h in store.webhooks.all(workspace.id) if h.id == hook.id]
        moved = replace(first, webhook=current)
        assert store.webhooks.next_batch(moved, "w1") is not None
        with store.read() as tx:  # the lease lapses
            tx.execute("UPDATE due_work SET until_us = 0")
        assert store.webhooks.next_batch(moved, "w1") is None
        (retaken,) = store.webhooks.claim("w1", 4, 5_000_000)
        assert store.webhooks.next_batch(retaken, "w1") is not None
        time.sleep(0.001)
        store.webhooks.set_status(workspace.id, hook.id, DISABLED)
        (current,) = [h for h in store.webhooks.all(workspace.id) if h.id == hook.id]
        assert store.webhooks.next_batch(replace(retaken, webhook=current), "w1") is None
    finally:
        store.close()


def test_a_deleted_subscription_s_id_is_never_handed_out_again(fresh: Settings) -> None:
    """Not even on SQLite when it was the newest: a delivery still in flight for it would
    otherwise settle on another workspace's new subscription. Its settle changes nothing."""
    from footfall.store.webhooks import fan_out_events

    store = open_store(fresh)
    try:
        a, b = new_workspace(store, "a"), new_workspace(store, "b")
        hook = store.webhooks.create(a.id, WebhookSpec(url="http://127.0.0.1:9/"))
        span = commit_events(store, [fake_event(a.id, hook.created_us + 1)])
        store.transact(lambda tx: fan_out_events(tx, store.dialect, span, now_us()))
        (flying,) = store.webhooks.claim("w1", 4, 5_000_000)
        store.webhooks.delete(a.id, hook.id)
        other = store.webhooks.create(b.id, WebhookSpec(url="http://127.0.0.1:9/"))
        assert other.id > hook.id
        attempt = Attempt(hook.id, flying.message_id, now_us(), 200, None, 1.0, 1, None)
        settled = store.webhooks.settle([Sent(flying, attempt, True)], "w1", then_lease_us=1)
        assert settled.held is False and settled.next is None
        assert store.webhooks.attempts(b.id, other.id) == []
    finally:
        store.close()
