"""Workspaces, API keys and bearer tokens in SQL (keys and tokens only as their hashes)."""

from __future__ import annotations

from typing import Any

from footfall.exceptions import WorkspaceExists
from footfall.store.core import Database
from footfall.store.cursor import Cursor
from footfall.store.rows import ApiKey, WorkspaceSummary

_KEY = "SELECT k.id, k.workspace_id, w.name, k.scope"


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


def list_workspaces(tx: Cursor) -> list[WorkspaceSummary]:
    """Every workspace by name, with its number of keys that were not revoked."""
    rows = tx.all(
        "SELECT w.name, w.created_us, count(k.id) FROM workspaces w "
        "LEFT JOIN api_keys k ON k.workspace_id = w.id AND k.revoked_us IS NULL "
        "GROUP BY w.id, w.name, w.created_us ORDER BY w.name"
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


def find_api_key(tx: Cursor, key_hash: str) -> ApiKey | None:
    """A key that was not revoked, by its hash."""
    row = tx.one(
        f"{_KEY} FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id "
        "WHERE k.key_hash = ? AND k.revoked_us IS NULL",
        key_hash,
    )
    return _key(row)


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
        "WHERE t.token_hash = ? AND t.expires_us > ? AND k.revoked_us IS NULL",
        token_hash,
        now_us,
    )
    return _key(row)


def _key(row: Any) -> ApiKey | None:
    if row is None:
        return None
    expires = int(row[4]) if len(row) > 4 else None
    return ApiKey(int(row[0]), int(row[1]), row[2], row[3], expires)


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

    def list_workspaces(self) -> list[WorkspaceSummary]:
        with self._db.read() as tx:
            return list_workspaces(tx)

    def create_api_key(
        self, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
    ) -> int:
        with self._db.write() as tx:
            return create_api_key(tx, workspace_id, key_hash, prefix, scope, now_us)

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        with self._db.read() as tx:
            return find_api_key(tx, key_hash)

    def create_token(self, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None:
        with self._db.write() as tx:
            create_token(tx, token_hash, key_id, expires_us, now_us)

    def find_token(self, token_hash: str, now_us: int) -> ApiKey | None:
        with self._db.read() as tx:
            return find_token(tx, token_hash, now_us)
