"""Webhook subscriptions, their outbox, their due deliveries and the log of attempts.

A subscription's items wait in ``webhook_outbox`` in the order the feeds gave them, as
references to an event or an identity change (schema.py). One ``due_work`` row per subscription
(kind ``webhook``) says when its next delivery is due; a worker claims it under a lease, sends
the oldest items, and settles it: on success the items go and the next batch is due at once; on
failure the same items (the same ``message_id``) are due again later. Both the fan-out and a
delivery's body are single statements (``fan_out_events``, ``_body``): on SQLite each row a
worker read into Python cost a GIL hand-off under the one write lock, which held up the API's
commits. The body is read after the transaction that leased its batch has committed, so that
its statement, the heaviest a delivery runs, never holds the write lock: the lease keeps the
batch's items from changing meanwhile but for erasures, which the body leaves out as it would
have at any other time. Only one delivery of a subscription is ever in flight, so a later
batch never overtakes a failing one.

A worker that holds a subscription's lease may send several batches in a row, each once the
one before it was answered with a 2xx (``next_batch``), and settle them together: one write
transaction for a run of batches instead of one each, which on SQLite is what the API's
commits wait for. A batch's message id is derived from the subscription and its first and last
outbox ids (``message_id``; neither is ever used again). The batch that leads a run is recorded
by its lease; those that follow are full batches only, the same whoever computes them again
after a crash, so a batch sent again carries the id it had (unless an erasure took one of its
items meanwhile: then its remaining items come again under a new id).

Outbox queries say ``dead = FALSE`` (or TRUE), never ``NOT dead``: SQLite uses the index
(webhook_id, dead, id) beyond its first column only for an equality, and without it each batch
would scan and sort every item the subscription has waiting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import msgspec

from footfall.clock import now_us
from footfall.exceptions import TooManyWebhooks, WebhookNotFound
from footfall.records import EVENTS, IDENTITY, WebhookSpec
from footfall.store.cursor import Cursor
from footfall.store.dialect import DUE, Dialect
from footfall.store.identity_feed import MERGED, IdentityChange
from footfall.store.leases import Transactions
from footfall.store.rows import EventSpan
from footfall.store.sql import lock_workspace, marks

KIND = "webhook"
ACTIVE, DISABLED, PAUSED = "active", "disabled", "paused"
MAX_PER_WORKSPACE = 50  # each event costs a check per subscription of its workspace

_COLUMNS = (
    "id, workspace_id, url, event_types, streams, batch_size, basic_username, basic_password, "
    "secret, status, status_reason, created_us, updated_us"
)


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    workspace_id: int
    spec: WebhookSpec
    secret: str
    status: str
    status_reason: str | None
    created_us: int
    updated_us: int


@dataclass(frozen=True, slots=True)
class Pending:
    """What a subscription has waiting: items to deliver and items dead-lettered."""

    pending: int
    dead: int
    due_us: int | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Leased:
    """A delivery as the transaction that leased it fixed it: the subscription, its outbox
    items ``first_id``..``last_id`` and the message id that stays the same across retries."""

    webhook: Webhook
    message_id: str
    first_id: int
    last_id: int
    attempts: int  # failed attempts before this one
    failing_since_us: int | None

    def with_body(self, tx: Cursor, dialect: Dialect) -> Delivery:
        body, items = _body(tx, dialect, self.webhook.id, self.first_id, self.last_id)
        leased = {field.name: getattr(self, field.name) for field in fields(Leased)}
        return Delivery(**leased, body=body, items=items)


@dataclass(frozen=True, slots=True)
class Delivery(Leased):
    """A claimed delivery with its body: the JSON array of the ``items`` it carries, oldest
    first, without those erased since they were queued (see ``_body``)."""

    body: bytes
    items: int


@dataclass(frozen=True, slots=True)
class _Chained:
    held: bool
    next: Leased | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """A batch of a run, as it went: the attempt logged, and whether it was delivered."""

    delivery: Delivery
    attempt: Attempt
    delivered: bool


@dataclass(frozen=True, slots=True)
class Settled:
    """What settling a delivery did: ``held`` (False: the lease was lost meanwhile, nothing
    changed but the log) and the subscription's next batch when it was taken at once."""

    held: bool
    next: Delivery | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    webhook_id: int
    message_id: str
    at_us: int
    status_code: int | None
    error: str | None
    latency_ms: float
    items: int
    next_retry_us: int | None


def _webhook(row: Sequence[Any]) -> Webhook:
    spec = WebhookSpec(
        url=row[2],
        event_types=tuple(msgspec.json.decode(row[3])),
        streams=tuple(msgspec.json.decode(row[4])),
        batch_size=int(row[5]),
        basic_username=row[6],
        basic_password=row[7],
    )
    return Webhook(
        int(row[0]), int(row[1]), spec, row[8], row[9], row[10], int(row[11]), int(row[12])
    )


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# -- fan-out, inside a feed consumer's transaction -------------------------------------------------


def _subscribers(tx: Cursor, stream: str, workspaces: set[int]) -> list[Webhook]:
    if not workspaces:
        return []
    ids = sorted(workspaces)
    rows = tx.all(
        f"SELECT {_COLUMNS} FROM webhooks WHERE status != ? AND workspace_id IN ({marks(ids)}) "
        "ORDER BY id",
        DISABLED,
        *ids,
    )
    return [w for w in map(_webhook, rows) if stream in w.spec.streams]


def _enqueue(
    tx: Cursor, dialect: Dialect, rows: list[tuple[int, int | None, int | None]], now: int
) -> int:
    """Add outbox rows (webhook, event, change) and make their subscriptions' deliveries due."""
    if not rows:
        return 0
    tx.executemany(
        "INSERT INTO webhook_outbox (webhook_id, event_id, change_id, dead, created_us) "
        "VALUES (?, ?, ?, FALSE, ?)",
        [(w, e, c, now) for w, e, c in rows],
    )
    touched = sorted({w for w, _, _ in rows})
    owners = tx.all(
        f"SELECT id, workspace_id FROM webhooks WHERE id IN ({marks(touched)})", *touched
    )
    _make_due(tx, dialect, [(int(w), int(ws)) for w, ws in owners], now)
    return len(rows)


def _make_due(tx: Cursor, dialect: Dialect, touched: list[tuple[int, int]], now: int) -> None:
    """Make the delivery of each (subscription, workspace) that just got items due now unless
    one is scheduled already (a failing delivery keeps its retry time)."""
    tx.executemany(
        "INSERT INTO due_work (kind, subject, workspace_id, due_us, attempts, until_us) "
        "VALUES (?, ?, ?, ?, 0, 0) ON CONFLICT (kind, subject) DO UPDATE SET "
        "due_us = excluded.due_us WHERE due_work.due_us IS NULL",
        sorted((KIND, w, ws, now) for w, ws in touched),
    )
    dialect.notify(tx, DUE)


def fan_out_events(tx: Cursor, dialect: Dialect, span: EventSpan, now: int) -> int:
    """Queue each event of ``span`` for every subscription of its workspace that wants it, in
    one statement (no event is read into Python); how many items."""
    window, window_args, _ = dialect.feed_window(span.after)
    upto, upto_args = dialect.feed_upto(span.position)
    wants = (
        "FROM (SELECT txid, id, workspace_id, event_type_key, received_us FROM events "
        f"WHERE {window} AND {upto}) e "
        "JOIN webhooks w ON w.workspace_id = e.workspace_id "
        f"WHERE w.status != ? AND {dialect.json_text_has('w.streams', '?')} "
        "AND e.received_us >= w.created_us "  # not what came before it (a consumer catching up)
        f"AND (w.event_types = '[]' OR {dialect.json_text_has('w.event_types', 'e.event_type_key')})"
    )
    args = [*window_args, *upto_args, DISABLED, EVENTS]
    queued = tx.count(  # ids in feed order (on SQLite txid is 0 throughout)
        "INSERT INTO webhook_outbox (webhook_id, event_id, change_id, dead, created_us) "
        f"SELECT w.id, e.id, NULL, FALSE, ? {wants} ORDER BY e.txid, e.id, w.id",
        now,
        *args,
    )
    if queued:
        touched = tx.all(f"SELECT DISTINCT w.id, w.workspace_id {wants}", *args)
        _make_due(tx, dialect, [(int(w), int(ws)) for w, ws in touched], now)
    return queued


def fan_out_identity(
    tx: Cursor, dialect: Dialect, changes: Sequence[IdentityChange], now: int
) -> int:
    """Queue each merge and erasure for the subscriptions of its workspace to the identity stream."""
    subscribers = _subscribers(tx, IDENTITY, {c.workspace_id for c in changes})
    rows: list[tuple[int, int | None, int | None]] = [
        (webhook.id, None, change.position.id)
        for change in changes
        for webhook in subscribers
        if webhook.workspace_id == change.workspace_id
    ]
    return _enqueue(tx, dialect, rows, now)


def forget_erased_events(tx: Cursor, ws: int) -> None:
    """Drop the workspace's outbox items, waiting or dead-lettered, whose event was just
    erased (called inside the erasure's transaction)."""
    tx.execute(
        "DELETE FROM webhook_outbox WHERE event_id IS NOT NULL "
        "AND webhook_id IN (SELECT id FROM webhooks WHERE workspace_id = ?) "
        "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = webhook_outbox.event_id)",
        ws,
    )


# -- the store ---------------------------------------------------------------------------------


class WebhookStore:
    """Subscriptions (each operation scoped to its workspace) and their deliveries."""

    def __init__(self, db: Transactions, clock: Callable[[], int] = now_us) -> None:
        self._db = db
        self._clock = clock

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    # subscriptions

    def create(self, ws: int, spec: WebhookSpec) -> Webhook:
        now, secret = self._clock(), new_secret()

        def work(tx: Cursor) -> int:
            # The workspace row, locked: two creations at once cannot both pass the cap.
            lock_workspace(tx, self.dialect.for_update, ws)
            count = tx.one("SELECT count(*) FROM webhooks WHERE workspace_id = ?", ws)
            if int(count[0]) >= MAX_PER_WORKSPACE:
                raise TooManyWebhooks()
            row = tx.one(
                "INSERT INTO webhooks (workspace_id, url, event_types, streams, batch_size, "
                "basic_username, basic_password, secret, status, created_us, updated_us) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                ws,
                *_spec_values(spec),
                secret,
                ACTIVE,
                now,
                now,
            )
            return int(row[0])

        return self.get(ws, self._db.transact(work))

    def all(self, ws: int) -> list[Webhook]:
        with self._db.read() as tx:
            rows = tx.all(f"SELECT {_COLUMNS} FROM webhooks WHERE workspace_id = ? ORDER BY id", ws)
        return [_webhook(r) for r in rows]

    def get(self, ws: int, webhook_id: int) -> Webhook:
        with self._db.read() as tx:
            return _one(tx, ws, webhook_id)

    def update(self, ws: int, webhook_id: int, spec: WebhookSpec) -> Webhook:
        def work(tx: Cursor) -> None:
            _one(tx, ws, webhook_id)
            tx.execute(
                "UPDATE webhooks SET url = ?, event_types = ?, streams = ?, batch_size = ?, "
                "basic_username = ?, basic_password = ?, updated_us = ? "
                "WHERE workspace_id = ? AND id = ?",
                *_spec_values(spec),
                self._clock(),
                ws,
                webhook_id,
            )

        self._db.transact(work)
        return self.get(ws, webhook_id)

    def delete(self, ws: int, webhook_id: int) -> None:
        def work(tx: Cursor) -> None:
            _one(tx, ws, webhook_id)
            tx.execute("DELETE FROM webhook_outbox WHERE webhook_id = ?", webhook_id)
            tx.execute("DELETE FROM webhook_attempts WHERE webhook_id = ?", webhook_id)
            tx.execute("DELETE FROM due_work WHERE kind = ? AND subject = ?", KIND, webhook_id)
            tx.execute("DELETE FROM webhooks WHERE workspace_id = ? AND id = ?", ws, webhook_id)

        self._db.transact(work)

    def set_status(
        self, ws: int, webhook_id: int, status: str, reason: str | None = None
    ) -> Webhook:
        """Enable (its pending items are due at once), disable or pause a subscription."""
        now = self._clock()

        def work(tx: Cursor) -> None:
            _one(tx, ws, webhook_id)
            tx.execute(
                "UPDATE webhooks SET status = ?, status_reason = ?, updated_us = ? "
                "WHERE workspace_id = ? AND id = ?",
                status,
                reason,
                now,
                ws,
                webhook_id,
            )
            if status == ACTIVE:
                _due_now(tx, ws, webhook_id, now)

        self._db.transact(work)
        return self.get(ws, webhook_id)

    def replay(self, ws: int, webhook_id: int) -> int:
        """Put the dead-lettered items back in line (ahead of newer ones: they are older) and
        make the subscription active again; how many came back."""
        now = self._clock()

        def work(tx: Cursor) -> int:
            _one(tx, ws, webhook_id)
            row = tx.one(
                "SELECT count(*) FROM webhook_outbox WHERE webhook_id = ? AND dead = TRUE",
                webhook_id,
            )
            tx.execute(
                "UPDATE webhook_outbox SET dead = FALSE WHERE webhook_id = ? AND dead = TRUE",
                webhook_id,
            )
            tx.execute(
                "UPDATE webhooks SET status = ?, status_reason = NULL, updated_us = ? WHERE id = ?",
                ACTIVE,
                now,
                webhook_id,
            )
            _due_now(tx, ws, webhook_id, now)
            return int(row[0])

        return self._db.transact(work)

    def pending(self, ws: int, webhook_id: int) -> Pending:
        with self._db.read() as tx:
            _one(tx, ws, webhook_id)
            return _waiting(tx, webhook_id)

    def listed(self, ws: int) -> list[tuple[Webhook, Pending]]:
        """Every subscription with what it has waiting, in one read: one deleted meanwhile is
        left out, where ``all`` then ``pending`` of each would fail on it."""
        with self._db.read() as tx:
            rows = tx.all(f"SELECT {_COLUMNS} FROM webhooks WHERE workspace_id = ? ORDER BY id", ws)
            return [(hook, _waiting(tx, hook.id)) for hook in map(_webhook, rows)]

    def attempts(self, ws: int, webhook_id: int, limit: int = 100) -> list[Attempt]:
        """The latest attempts, newest first."""
        with self._db.read() as tx:
            _one(tx, ws, webhook_id)
            rows = tx.all(
                "SELECT webhook_id, message_id, at_us, status_code, error, latency_ms, items, "
                "next_retry_us FROM webhook_attempts WHERE webhook_id = ? ORDER BY id DESC "
                "LIMIT ?",
                webhook_id,
                limit,
            )
        return [
            Attempt(int(r[0]), r[1], int(r[2]), r[3], r[4], float(r[5]), int(r[6]), r[7])
            for r in rows
        ]

    def prune_attempts(self, older_than_us: int) -> int:
        def work(tx: Cursor) -> int:
            row = tx.one("SELECT count(*) FROM webhook_attempts WHERE at_us < ?", older_than_us)
            tx.execute("DELETE FROM webhook_attempts WHERE at_us < ?", older_than_us)
            return int(row[0])

        return self._db.transact(work)

    # deliveries

    def claim(
        self, owner: str, limit: int, lease_us: int, sending: Collection[int] = ()
    ) -> list[Delivery]:
        """Up to ``limit`` due deliveries of active subscriptions that no live worker holds,
        leased to ``owner`` for ``lease_us``; each with its batch fixed (and kept for retries).
        Never one of ``sending``, the subscriptions ``owner`` has a request in flight for (its
        lease may have lapsed while renewals failed: the request still runs)."""
        with self._db.read() as tx:  # a read first: an idle worker writes nothing
            now = self._clock()
            if tx.one(_ANY_DUE, KIND, now, now) is None:
                return []
        busy = sorted(set(sending))
        not_busy = f"AND subject NOT IN ({marks(busy)}) " if busy else ""

        def work(tx: Cursor) -> list[Leased]:
            now = self._clock()  # after the wait for the lock: leases run from here
            due = tx.all(
                "SELECT subject FROM due_work WHERE kind = ? AND due_us <= ? AND until_us <= ? "
                f"{not_busy}AND subject IN (SELECT id FROM webhooks WHERE status = ?) "
                f"ORDER BY due_us LIMIT ?{self.dialect.skip_locked}",
                KIND,
                now,
                now,
                *busy,
                ACTIVE,
                limit,
            )
            claimed = []
            for (subject,) in due:
                lease = _take(tx, int(subject), owner, now, lease_us)
                if lease is not None:
                    claimed.append(lease)
            return claimed

        return self._with_bodies(self._db.transact(work))

    def _with_bodies(self, leases: Sequence[Leased]) -> list[Delivery]:
        """The leased deliveries with their bodies, read once their lease has committed."""
        if not leases:
            return []
        with self._db.read() as tx:
            return [lease.with_body(tx, self.dialect) for lease in leases]

    def settle(
        self,
        run: Sequence[Sent],
        owner: str,
        *,
        pause: str = "",
        then_lease_us: int = 0,
    ) -> Settled:
        """Record the attempts of ``run``, batches of one subscription sent in a row, each
        after the one before was delivered; drop the items of those delivered. When the last
        one failed, its items are due again at ``attempt.next_retry_us`` under the same message
        id (None: give up, pause the subscription for the reason ``pause`` and dead-letter what
        it has waiting). Not held when ``owner`` lost the lease meanwhile: then nothing changes
        but the log.

        With ``then_lease_us``, a run whose last batch was delivered also takes the
        subscription's next batch in the same transaction, leased to ``owner`` for that long
        (see ``_chain``): one commit per run, which on SQLite is one fsync under the one write
        lock."""
        webhook_id = run[0].delivery.webhook.id
        delivered = [sent.delivery for sent in run if sent.delivered]
        last = run[-1]

        def work(tx: Cursor) -> _Chained:
            now = self._clock()  # after the wait for the lock: a chained lease runs from here
            held = tx.one(
                "UPDATE due_work SET owner = NULL, until_us = 0 WHERE kind = ? AND subject = ? "
                "AND owner = ? RETURNING subject",
                KIND,
                webhook_id,
                owner,
            )
            log_attempts(tx, [sent.attempt for sent in run])
            if held is None:
                return _Chained(False)
            _drop_delivered(tx, webhook_id, delivered)
            if last.delivered:
                if _next_batch(tx, webhook_id, now) and then_lease_us:
                    return _Chained(True, _chain(tx, webhook_id, owner, now, then_lease_us))
            elif last.attempt.next_retry_us is not None:
                _retry(tx, last.delivery, last.attempt)
            else:
                _pause(tx, webhook_id, now, pause)
            return _Chained(True)

        chained = self._db.transact(work)
        following = self._with_bodies([chained.next] if chained.next else [])
        return Settled(chained.held, next(iter(following), None))

    def next_batch(self, delivery: Delivery, owner: str) -> Delivery | None:
        """The batch that follows ``delivery`` in a run: its subscription's next
        ``batch_size`` items after it, for ``owner`` to send next. Only read (``settle``
        records it), so None, ending the run, unless all of these hold: ``owner`` still holds
        the lease, the subscription is active and unchanged since ``delivery`` was taken (a
        new URL, credentials or status are the next lease's), and the batch is full. A full
        batch is the same batch whoever computes it after a crash, so it keeps its message id;
        a partial one could grow meanwhile, so it goes through ``_chain``, which records it."""
        webhook = delivery.webhook
        with self._db.read() as tx:
            now = self._clock()
            current = tx.one(
                "SELECT 1 FROM webhooks w JOIN due_work d ON d.kind = ? AND d.subject = w.id "
                "WHERE w.id = ? AND w.status = ? AND w.updated_us = ? AND d.owner = ? "
                "AND d.until_us > ?",
                KIND,
                webhook.id,
                ACTIVE,
                webhook.updated_us,
                owner,
                now,
            )
            if current is None:
                return None
            span = _span(
                tx,
                "SELECT id FROM webhook_outbox WHERE webhook_id = ? AND dead = FALSE AND id > ? "
                "ORDER BY id LIMIT ?",
                webhook.id,
                delivery.last_id,
                webhook.spec.batch_size,
            )
            if span is None or span.size < webhook.spec.batch_size:
                return None
            message = message_id(webhook.id, span.first, span.last)
            return Leased(webhook, message, span.first, span.last, 0, None).with_body(
                tx, self.dialect
            )

    def renew(self, owner: str, webhook_ids: Sequence[int], lease_us: int) -> set[int]:
        """Extend ``owner``'s leases on these subscriptions' deliveries (sending now) to
        ``lease_us`` from now; the ids whose lease it still held."""
        if not webhook_ids:
            return set()
        ids = sorted(set(webhook_ids))

        def work(tx: Cursor) -> set[int]:
            now = self._clock()  # after the wait for the lock
            rows = tx.all(
                f"UPDATE due_work SET until_us = ? WHERE kind = ? AND owner = ? "
                f"AND subject IN ({marks(ids)}) RETURNING subject",
                now + lease_us,
                KIND,
                owner,
                *ids,
            )
            return {int(r[0]) for r in rows}

        return self._db.transact(work)

    def release(self, owner: str) -> int:
        """Give back every delivery ``owner`` holds (a worker stopping), due again at once."""

        def work(tx: Cursor) -> int:
            rows = tx.all(
                "UPDATE due_work SET owner = NULL, until_us = 0 WHERE owner = ? RETURNING subject",
                owner,
            )
            return len(rows)

        return self._db.transact(work)

    def backlog(self) -> tuple[int, int]:
        """(deliveries due now, items waiting) over every workspace: for /metrics."""
        now = self._clock()
        with self._db.read() as tx:
            due = tx.one("SELECT count(*) FROM due_work WHERE kind = ? AND due_us <= ?", KIND, now)
            items = tx.one("SELECT count(*) FROM webhook_outbox WHERE NOT dead")
        return int(due[0]), int(items[0])


_ANY_DUE = "SELECT 1 FROM due_work WHERE kind = ? AND due_us <= ? AND until_us <= ? LIMIT 1"


def _spec_values(spec: WebhookSpec) -> tuple[Any, ...]:
    return (
        spec.url,
        msgspec.json.encode(list(spec.event_types)).decode(),
        msgspec.json.encode(list(spec.streams)).decode(),
        spec.batch_size,
        spec.basic_username,
        spec.basic_password,
    )


def _one(tx: Cursor, ws: int, webhook_id: int) -> Webhook:
    row = tx.one(
        f"SELECT {_COLUMNS} FROM webhooks WHERE workspace_id = ? AND id = ?", ws, webhook_id
    )
    if row is None:
        raise WebhookNotFound()
    return _webhook(row)


def _waiting(tx: Cursor, webhook_id: int) -> Pending:
    counts = tx.one(
        "SELECT count(*) FILTER (WHERE NOT dead), count(*) FILTER (WHERE dead) "
        "FROM webhook_outbox WHERE webhook_id = ?",
        webhook_id,
    )
    due = tx.one(
        "SELECT due_us, attempts FROM due_work WHERE kind = ? AND subject = ?", KIND, webhook_id
    )
    return Pending(
        int(counts[0] or 0),
        int(counts[1] or 0),
        None if due is None or due[0] is None else int(due[0]),
        0 if due is None else int(due[1]),
    )


def _due_now(tx: Cursor, ws: int, webhook_id: int, now: int) -> None:
    tx.execute(
        "INSERT INTO due_work (kind, subject, workspace_id, due_us, attempts, until_us) "
        "VALUES (?, ?, ?, ?, 0, 0) ON CONFLICT (kind, subject) DO UPDATE SET due_us = ?, "
        "attempts = 0, failing_since_us = NULL",
        KIND,
        webhook_id,
        ws,
        now,
        now,
    )


def _take(tx: Cursor, webhook_id: int, owner: str, now: int, lease_us: int) -> Leased | None:
    """Lease one due delivery; its batch is the one a failed attempt fixed, or the oldest
    ``batch_size`` pending items. None (and idle until new items) when nothing is waiting."""
    row = tx.one(
        "SELECT d.attempts, d.failing_since_us, d.state, "
        f"{', '.join('w.' + c.strip() for c in _COLUMNS.split(','))} "
        "FROM due_work d JOIN webhooks w ON w.id = d.subject WHERE d.kind = ? AND d.subject = ?",
        KIND,
        webhook_id,
    )
    attempts, failing_since, state_json = int(row[0]), row[1], row[2]
    webhook = _webhook(row[3:])
    state = msgspec.json.decode(state_json) if state_json else None
    span = None
    if state is not None:  # a retry: the same items, less those erased since
        span = _span(
            tx,
            "SELECT id FROM webhook_outbox WHERE webhook_id = ? AND dead = FALSE "
            "AND id BETWEEN ? AND ?",
            webhook_id,
            state["first"],
            state["last"],
        )
    if span is None:
        state = None
        span = _span(
            tx,
            "SELECT id FROM webhook_outbox WHERE webhook_id = ? AND dead = FALSE ORDER BY id "
            "LIMIT ?",
            webhook_id,
            webhook.spec.batch_size,
        )
    if span is None:
        tx.execute(
            "UPDATE due_work SET due_us = NULL, attempts = 0, failing_since_us = NULL, "
            "state = NULL, owner = NULL, until_us = 0 WHERE kind = ? AND subject = ?",
            KIND,
            webhook_id,
        )
        return None
    if state is None:
        state = {
            "message": message_id(webhook_id, span.first, span.last),
            "first": span.first,
            "last": span.last,
        }
    tx.execute(
        "UPDATE due_work SET owner = ?, until_us = ?, state = ? WHERE kind = ? AND subject = ?",
        owner,
        now + lease_us,
        msgspec.json.encode(state).decode(),
        KIND,
        webhook_id,
    )
    return Leased(
        webhook,
        state["message"],
        int(state["first"]),
        int(state["last"]),
        attempts,
        None if failing_since is None else int(failing_since),
    )


class _Span(NamedTuple):
    first: int
    last: int
    size: int


def _span(tx: Cursor, ids: str, *args: Any) -> _Span | None:
    """The first and last outbox id that the query ``ids`` selects, and how many; None when it
    selects none."""
    row = tx.one(f"SELECT min(id), max(id), count(*) FROM ({ids}) AS batch", *args)
    return None if row[0] is None else _Span(int(row[0]), int(row[1]), int(row[2]))


def _body(
    tx: Cursor, dialect: Dialect, webhook_id: int, first: int, last: int
) -> tuple[bytes, int]:
    """A delivery's body, built by the database in one statement: the JSON array of the items
    its outbox rows ``first``..``last`` refer to, in their order, without those whose event
    or change was erased since; and how many items it holds. The items:

    - an event, as the history API shows it: ``{"id", "eventTypeKey", "keyValue",
      "contactId", "params", "occurred", "received"}``;
    - ``{"type": "contactMerged", "id", "survivor", "merged", "at"}``;
    - ``{"type": "contactErased", "id", "contactId", "at"}``.
    """
    obj, iso = dialect.json_object, dialect.iso_millis
    item = (
        "CASE WHEN o.event_id IS NOT NULL THEN "
        f"{obj}('id', e.id, 'eventTypeKey', e.event_type_key, 'keyValue', e.key_value, "
        f"'contactId', e.contact_id, 'params', {dialect.json_value('e.params')}, "
        f"'occurred', {iso('e.occurred_us')}, 'received', {iso('e.received_us')}) "
        f"WHEN c.kind = '{MERGED}' THEN {obj}('type', c.kind, 'id', c.id, "
        f"'survivor', c.contact_id, 'merged', COALESCE(c.merged_id, 0), 'at', {iso('c.created_us')}) "
        f"ELSE {obj}('type', c.kind, 'id', c.id, 'contactId', c.contact_id, "
        f"'at', {iso('c.created_us')}) END"
    )
    row = tx.one(
        f"SELECT {dialect.joined('item', 'oid')}, {dialect.joined('CAST(oid AS TEXT)', 'oid')} "
        f"FROM (SELECT o.id AS oid, CAST({item} AS TEXT) AS item FROM webhook_outbox o "
        "LEFT JOIN events e ON e.id = o.event_id "
        "LEFT JOIN identity_changes c ON c.id = o.change_id "
        "WHERE o.webhook_id = ? AND o.dead = FALSE AND o.id BETWEEN ? AND ? "
        "AND (e.id IS NOT NULL OR c.id IS NOT NULL) ORDER BY o.id) AS items",
        webhook_id,
        first,
        last,
    )
    if row[0] is None:  # every item erased
        return b"[]", 0
    ids = [int(i) for i in row[1].split(",")]
    return in_order(row[0].encode(), ids), len(ids)


def in_order(joined: bytes, ids: list[int]) -> bytes:
    """The JSON array of the comma-joined items ``joined``, in the order of their outbox
    ``ids`` (given in the same order as the items). SQLite's aggregates do not promise to keep
    the order of the rows they are given: reorder in the rare case they did not."""
    if ids != sorted(ids):
        raws = msgspec.json.decode(b"[" + joined + b"]", type=list[msgspec.Raw])
        joined = b",".join(bytes(raw) for _, raw in sorted(zip(ids, raws, strict=True)))
    return b"[" + joined + b"]"


def message_id(webhook_id: int, first: int, last: int) -> str:
    """The ``webhook-id`` of the batch of outbox items ``first``..``last`` of a subscription:
    the same whenever that batch is sent (retries, and after a crash), never another batch's
    (outbox and subscription ids are never used again)."""
    digest = hashlib.sha256(f"{webhook_id}:{first}:{last}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def log_attempts(tx: Cursor, attempts: Sequence[Attempt]) -> None:
    """Record ``attempts`` unless their subscription is gone (deleted while they were sent)."""
    tx.executemany(
        "INSERT INTO webhook_attempts (webhook_id, message_id, at_us, status_code, error, "
        "latency_ms, items, next_retry_us) SELECT ?, ?, ?, ?, ?, ?, ?, ? "
        "WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?)",
        [
            (
                a.webhook_id,
                a.message_id,
                a.at_us,
                a.status_code,
                a.error,
                a.latency_ms,
                a.items,
                a.next_retry_us,
                a.webhook_id,
            )
            for a in attempts
        ],
    )


def _drop_delivered(tx: Cursor, webhook_id: int, delivered: Sequence[Delivery]) -> None:
    """Delete the outbox items of the ``delivered`` batches: each batch's own range, so that an
    item committed late between two of them (PostgreSQL) stays for the next batch. One range a
    statement: SQLite reads ranges joined by OR by scanning all the subscription's items."""
    tx.executemany(
        "DELETE FROM webhook_outbox WHERE webhook_id = ? AND dead = FALSE AND id BETWEEN ? AND ?",
        [(webhook_id, d.first_id, d.last_id) for d in delivered],
    )


def _retry(tx: Cursor, delivery: Delivery, attempt: Attempt) -> None:
    """The failed ``delivery`` is its subscription's next, due again at the attempt's retry
    time with the same items and message id."""
    state = {"message": delivery.message_id, "first": delivery.first_id, "last": delivery.last_id}
    tx.execute(
        "UPDATE due_work SET due_us = ?, attempts = ?, failing_since_us = ?, state = ? "
        "WHERE kind = ? AND subject = ?",
        attempt.next_retry_us,
        delivery.attempts + 1,
        delivery.failing_since_us or attempt.at_us,
        msgspec.json.encode(state).decode(),
        KIND,
        delivery.webhook.id,
    )


def _next_batch(tx: Cursor, webhook_id: int, now: int) -> bool:
    """After a success: due again at once if anything waits, else idle (a fan-out that adds
    items concurrently waits for this row's lock and then finds it idle: see _enqueue). Whether
    anything waits."""
    waiting = tx.one(
        "SELECT 1 FROM webhook_outbox WHERE webhook_id = ? AND dead = FALSE LIMIT 1", webhook_id
    )
    tx.execute(
        "UPDATE due_work SET due_us = ?, attempts = 0, failing_since_us = NULL, state = NULL "
        "WHERE kind = ? AND subject = ?",
        now if waiting else None,
        KIND,
        webhook_id,
    )
    return waiting is not None


def _chain(tx: Cursor, webhook_id: int, owner: str, now: int, lease_us: int) -> Leased | None:
    """The next batch of a subscription whose delivery just succeeded, for the same worker,
    unless the subscription is no longer active or another one's delivery is due and waiting:
    that one goes first (``claim`` takes the longest waiting), so a long backlog cannot keep a
    worker's slot from the others."""
    waiting = tx.one(
        "SELECT 1 FROM due_work WHERE kind = ? AND subject != ? AND due_us <= ? AND until_us <= ? "
        "AND subject IN (SELECT id FROM webhooks WHERE status = ?) LIMIT 1",
        KIND,
        webhook_id,
        now,
        now,
        ACTIVE,
    )
    active = tx.one("SELECT 1 FROM webhooks WHERE id = ? AND status = ?", webhook_id, ACTIVE)
    if waiting is not None or active is None:
        return None
    return _take(tx, webhook_id, owner, now, lease_us)


def _pause(tx: Cursor, webhook_id: int, now: int, reason: str) -> None:
    """Failing for longer than the maximum age: pause, and dead-letter everything waiting."""
    tx.execute(
        "UPDATE webhook_outbox SET dead = TRUE WHERE webhook_id = ? AND dead = FALSE", webhook_id
    )
    tx.execute(
        "UPDATE webhooks SET status = ?, status_reason = ?, updated_us = ? WHERE id = ?",
        PAUSED,
        reason,
        now,
        webhook_id,
    )
    tx.execute(
        "UPDATE due_work SET due_us = NULL, attempts = 0, failing_since_us = NULL, state = NULL "
        "WHERE kind = ? AND subject = ?",
        KIND,
        webhook_id,
    )


__all__ = [
    "ACTIVE",
    "DISABLED",
    "EVENTS",
    "IDENTITY",
    "PAUSED",
    "Attempt",
    "Delivery",
    "Leased",
    "Pending",
    "Sent",
    "Settled",
    "Webhook",
    "WebhookSpec",
    "WebhookStore",
    "fan_out_events",
    "fan_out_identity",
]
