"""Leases: what must run in one process at a time (a feed consumer, a periodic job) does so.

A lease is a row (name, owner, until_us). Its owner holds it until ``until_us`` and renews it
before then; a process that died loses it when that time passes, and another one takes it over.
Work that must not be done twice checks the lease inside the transaction that writes its effects
(``hold``, which locks the row), so a process that lost its lease while it was paused commits
nothing: the lease fences it off.

Times come from the caller's clock. Hosts that share a PostgreSQL database keep their clocks in
step (NTP); leases last seconds, far longer than any skew between them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from footfall.clock import now_us
from footfall.exceptions import FootfallError
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect

T = TypeVar("T")


class LeaseLost(FootfallError):
    """The lease is held by another process or has expired: this process must stop its work."""


_TAKE = (
    "INSERT INTO leases (name, owner, until_us) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_us = excluded.until_us "
    "WHERE {condition} RETURNING owner"
)


def acquire(tx: Cursor, name: str, owner: str, ttl_us: int, now_us: int) -> bool:
    """Take the lease for ``ttl_us`` if it is free, expired or ``owner``'s already."""
    sql = _TAKE.format(condition="leases.until_us <= ? OR leases.owner = ?")
    return tx.one(sql, name, owner, now_us + ttl_us, now_us, owner) is not None


def claim_due(tx: Cursor, name: str, owner: str, period_us: int, now_us: int) -> bool:
    """Take the lease for one period if nobody (``owner`` included) has taken it for this one.

    A periodic job keeps its lease for the whole period after it ran: whichever process ticks
    first once the period is over runs it, and the others find it taken.
    """
    sql = _TAKE.format(condition="leases.until_us <= ?")
    return tx.one(sql, name, owner, now_us + period_us, now_us) is not None


def renew(tx: Cursor, name: str, owner: str, ttl_us: int, now_us: int) -> bool:
    """Extend a lease ``owner`` still holds; False when it expired or went to another process."""
    row = tx.one(
        "UPDATE leases SET until_us = ? WHERE name = ? AND owner = ? AND until_us > ? "
        "RETURNING owner",
        now_us + ttl_us,
        name,
        owner,
        now_us,
    )
    return row is not None


def release(tx: Cursor, name: str, owner: str) -> None:
    """Give the lease up at once (a clean shutdown), if ``owner`` holds it."""
    tx.execute("DELETE FROM leases WHERE name = ? AND owner = ?", name, owner)


def hold(tx: Cursor, dialect: Dialect, name: str, owner: str, now_us: int) -> None:
    """Raise LeaseLost unless ``owner`` holds the lease; the row stays locked until commit, so
    nobody can take it over before this transaction's writes are committed or rolled back."""
    row = tx.one(f"SELECT owner, until_us FROM leases WHERE name = ?{dialect.for_update}", name)
    if row is None or row[0] != owner or int(row[1]) <= now_us:
        holder = "nobody" if row is None else repr(row[0])
        raise LeaseLost(f"lease {name!r} is not held by {owner!r} (held by {holder})")


def holder(tx: Cursor, name: str, now_us: int) -> str | None:
    """Who holds the lease now; None when it is free or expired."""
    row = tx.one("SELECT owner FROM leases WHERE name = ? AND until_us > ?", name, now_us)
    return None if row is None else str(row[0])


def due(tx: Cursor, name: str, now_us: int) -> bool:
    """True when the lease is free or expired: a read, so a job that is not due costs no write."""
    return holder(tx, name, now_us) is None


class Transactions(Protocol):
    """What leases and feeds need of the store's core (``Store`` or its ``Database``)."""

    @property
    def dialect(self) -> Dialect: ...

    def read(self) -> AbstractContextManager[Cursor]: ...

    def transact(self, work: Callable[[Cursor], T]) -> T: ...


def micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


class JobLeases:
    """The leases of periodic jobs (``job:<name>``), each operation in a transaction of its own."""

    def __init__(self, db: Transactions, clock: Callable[[], int] = now_us) -> None:
        self._db = db
        self._clock = clock

    def claim_due(self, job: str, owner: str, period_seconds: float) -> bool:
        """Take the job's lease for one period if the last one is over: True means run it."""
        name, now = f"job:{job}", self._clock()
        with self._db.read() as tx:
            if not due(tx, name, now):
                return False
        period = micros(period_seconds)
        return self._db.transact(lambda tx: claim_due(tx, name, owner, period, now))

    def retry_in(self, job: str, owner: str, seconds: float) -> None:
        """After a failed run: let any process run the job again ``seconds`` from now."""
        name, wait = f"job:{job}", micros(seconds)
        self._db.transact(lambda tx: renew(tx, name, owner, wait, self._clock()))
