"""Workspaces, API keys and bearer tokens in SQL (keys and tokens only as their hashes).

A key works while ``revoked_us`` is NULL or still in the future (a rotation's grace period).
"""

from __future__ import annotations

from typing import Any

from footfall.exceptions import WorkspaceExists
from footfall.store.core import Database
from footfall.store.cursor import Cursor
from footfall.store.rows import ApiKey, KeyRecord, WorkspaceSummary

_KEY = "SELECT k.id, k.workspace_id, w.name, k.scope, k.revoked_us, k.last_used_us"
_LIVE = "(k.revoked_us IS NULL OR k.revoked_us > ?)"
_RECORD = (
    "SELECT k.id, k.workspace_id, w.name, k.scope, k.prefix, k.created_us, k.last_used_us, "
    "k.revoked_us FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id"
)


def create_workspace(tx: Cursor, name: str, now_us: int) -> int:
    if tx.one("SELECT id FROM workspaces WHERE name = ?", name) is not None:
        raise WorkspaceExists(f"workspace {name!r} already exists")
    row = tx.one(
        "INSERT INTO workspaces (name, created_us) VALUES (?, ?) RETURNING id", name, now_us
    )
    return int(row[0])


def workspace_id(tx: Cursor, name: str) -> int | None:
    row = tx.one("SELECT id FROM workspaces WHERE name = ?", name)
    return None if row is None else int(row[0])


def list_workspaces(tx: Cursor, now_us: int) -> list[WorkspaceSummary]:
    """Every workspace by name, with its number of keys that work (a rotated key counts until
    its grace period ends)."""
    rows = tx.all(
        "SELECT w.name, w.created_us, count(k.id) FROM workspaces w "
        f"LEFT JOIN api_keys k ON k.workspace_id = w.id AND {_LIVE} "
        "GROUP BY w.id, w.name, w.created_us ORDER BY w.name",
        now_us,
    )
    return [WorkspaceSummary(row[0], int(row[1]), int(row[2])) for row in rows]


def create_api_key(
    tx: Cursor, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
) -> int:
    row = tx.one(
        "INSERT INTO api_keys (workspace_id, key_hash, prefix, scope, created_us) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        workspace_id,
        key_hash,
        prefix,
        scope,
        now_us,
    )
    return int(row[0])


def find_api_key(tx: Cursor, key_hash: str, now_us: int) -> ApiKey | None:
    """A key that still works, by its hash."""
    row = tx.one(
        f"{_KEY} FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id "
        f"WHERE k.key_hash = ? AND {_LIVE}",
        key_hash,
        now_us,
    )
    return None if row is None else _key(row, row[4])


def touch_api_key(tx: Cursor, key_id: int, now_us: int, stale_before_us: int) -> None:
    """Note a use, unless one since ``stale_before_us`` is noted already (by any process)."""
    tx.execute(
        "UPDATE api_keys SET last_used_us = ? "
        "WHERE id = ? AND (last_used_us IS NULL OR last_used_us < ?)",
        now_us,
        key_id,
        stale_before_us,
    )


def create_token(tx: Cursor, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None:
    """A bearer token for a key; expired tokens go at the same time, so the table stays small."""
    tx.execute("DELETE FROM auth_tokens WHERE expires_us < ?", now_us)
    tx.execute(
        "INSERT INTO auth_tokens (token_hash, key_id, expires_us) VALUES (?, ?, ?)",
        token_hash,
        key_id,
        expires_us,
    )


def find_token(tx: Cursor, token_hash: str, now_us: int) -> ApiKey | None:
    """The key a live token acts for; a token dies with its key's revocation."""
    row = tx.one(
        f"{_KEY}, t.expires_us FROM auth_tokens t JOIN api_keys k ON k.id = t.key_id "
        "JOIN workspaces w ON w.id = k.workspace_id "
        f"WHERE t.token_hash = ? AND t.expires_us > ? AND {_LIVE}",
        token_hash,
        now_us,
        now_us,
    )
    if row is None:
        return None
    revoked = row[4]
    return _key(row, int(row[6]) if revoked is None else min(int(row[6]), int(revoked)))


def _key(row: Any, expires: int | None) -> ApiKey:
    used = None if row[5] is None else int(row[5])
    return ApiKey(int(row[0]), int(row[1]), row[2], row[3], expires, used)


def _record(row: Any) -> KeyRecord:
    def maybe(value: Any) -> int | None:
        return None if value is None else int(value)

    return KeyRecord(
        int(row[0]), int(row[1]), row[2], row[3], row[4], int(row[5]), maybe(row[6]), maybe(row[7])
    )


def list_api_keys(tx: Cursor, workspace_id: int, before: int | None, limit: int) -> list[KeyRecord]:
    """A workspace's keys, revoked ones included, newest first (ids below ``before``)."""
    rows = tx.all(
        f"{_RECORD} WHERE k.workspace_id = ? AND k.id < ? ORDER BY k.id DESC LIMIT ?",
        workspace_id,
        before if before is not None else 2**63 - 1,
        limit,
    )
    return [_record(row) for row in rows]


def find_key_record(tx: Cursor, key_id: int, workspace_id: int | None) -> KeyRecord | None:
    """A key by its id, only in ``workspace_id`` unless that is None."""
    if workspace_id is None:
        row = tx.one(f"{_RECORD} WHERE k.id = ?", key_id)
    else:
        row = tx.one(f"{_RECORD} WHERE k.id = ? AND k.workspace_id = ?", key_id, workspace_id)
    return None if row is None else _record(row)


def count_live_keys(tx: Cursor, workspace_id: int, now_us: int) -> int:
    row = tx.one(
        f"SELECT count(*) FROM api_keys k WHERE k.workspace_id = ? AND {_LIVE}",
        workspace_id,
        now_us,
    )
    return int(row[0])


def revoke_api_key(tx: Cursor, key_id: int, now_us: int) -> bool:
    """Stop a key working now; False when it had stopped already."""
    row = tx.one(
        "UPDATE api_keys SET revoked_us = ? "
        "WHERE id = ? AND (revoked_us IS NULL OR revoked_us > ?) RETURNING id",
        now_us,
        key_id,
        now_us,
    )
    return row is not None


def retire_api_key(tx: Cursor, key_id: int, at_us: int) -> bool:
    """Schedule the end of a key no end was set for (the start of a rotation); False when it
    has one already, so two rotations of one key cannot both succeed."""
    row = tx.one(
        "UPDATE api_keys SET revoked_us = ? WHERE id = ? AND revoked_us IS NULL RETURNING id",
        at_us,
        key_id,
    )
    return row is not None


class AccessStore:
    """The access operations (``access.KeyStore``), each in a transaction of its own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_workspace(self, name: str, now_us: int) -> int:
        with self._db.write() as tx:
            return create_workspace(tx, name, now_us)

    def workspace_id(self, name: str) -> int | None:
        with self._db.read() as tx:
            return workspace_id(tx, name)

    def list_workspaces(self, now_us: int) -> list[WorkspaceSummary]:
        with self._db.read() as tx:
            return list_workspaces(tx, now_us)

    def create_api_key(
        self, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
    ) -> int:
        with self._db.write() as tx:
            return create_api_key(tx, workspace_id, key_hash, prefix, scope, now_us)

    def find_api_key(self, key_hash: str, now_us: int) -> ApiKey | None:
        with self._db.read() as tx:
            return find_api_key(tx, key_hash, now_us)

    def touch_api_key(self, key_id: int, now_us: int, stale_before_us: int) -> None:
        with self._db.write() as tx:
            touch_api_key(tx, key_id, now_us, stale_before_us)

    def create_token(self, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None:
        with self._db.write() as tx:
            create_token(tx, token_hash, key_id, expires_us, now_us)

    def find_token(self, token_hash: str, now_us: int) -> ApiKey | None:
        with self._db.read() as tx:
            return find_token(tx, token_hash, now_us)

    def list_api_keys(self, workspace_id: int, before: int | None, limit: int) -> list[KeyRecord]:
        with self._db.read() as tx:
            return list_api_keys(tx, workspace_id, before, limit)

    def find_key_record(self, key_id: int, workspace_id: int | None) -> KeyRecord | None:
        with self._db.read() as tx:
            return find_key_record(tx, key_id, workspace_id)

    def count_live_keys(self, workspace_id: int, now_us: int) -> int:
        with self._db.read() as tx:
            return count_live_keys(tx, workspace_id, now_us)

    def revoke_api_key(self, key_id: int, now_us: int) -> bool:
        with self._db.write() as tx:
            return revoke_api_key(tx, key_id, now_us)

    def rotate_api_key(
        self, old: KeyRecord, key_hash: str, prefix: str, retire_at_us: int, now_us: int
    ) -> int | None:
        """A new key in the old one's place, the old one ending at ``retire_at_us``, in one
        transaction; None when the old one was revoked or rotated meanwhile."""
        with self._db.write() as tx:
            if not retire_api_key(tx, old.key_id, retire_at_us):
                return None
            return create_api_key(tx, old.workspace_id, key_hash, prefix, old.scope, now_us)
