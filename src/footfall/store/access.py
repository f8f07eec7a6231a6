"""Workspaces, API keys and bearer tokens in SQL (keys and tokens only as hashes)."""

from __future__ import annotations

from footfall.exceptions import WorkspaceExists
from footfall.store.core import Database
from footfall.store.records import ApiKey


class AccessStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create_workspace(self, name: str, now_us: int) -> int:
        with self._db.write() as tx:
            if tx.one("SELECT id FROM workspaces WHERE name = ?", name) is not None:
                raise WorkspaceExists(f"workspace {name!r} already exists")
            row = tx.one(
                "INSERT INTO workspaces (name, created_us) VALUES (?, ?) RETURNING id", name, now_us
            )
            return int(row[0])

    def workspace_id(self, name: str) -> int | None:
        with self._db.read() as tx:
            row = tx.one("SELECT id FROM workspaces WHERE name = ?", name)
        return None if row is None else int(row[0])

    def create_api_key(
        self, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
    ) -> int:
        with self._db.write() as tx:
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

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        with self._db.read() as tx:
            row = tx.one(
                "SELECT k.id, k.workspace_id, w.name, k.scope FROM api_keys k "
                "JOIN workspaces w ON w.id = k.workspace_id "
                "WHERE k.key_hash = ? AND k.revoked_us IS NULL",
                key_hash,
            )
        return None if row is None else ApiKey(int(row[0]), int(row[1]), row[2], row[3])

    def create_token(self, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None:
        with self._db.write() as tx:
            tx.execute("DELETE FROM auth_tokens WHERE expires_us < ?", now_us)
            tx.execute(
                "INSERT INTO auth_tokens (token_hash, key_id, expires_us) VALUES (?, ?, ?)",
                token_hash,
                key_id,
                expires_us,
            )

    def find_token(self, token_hash: str, now_us: int) -> ApiKey | None:
        with self._db.read() as tx:
            row = tx.one(
                "SELECT k.id, k.workspace_id, w.name, k.scope, t.expires_us FROM auth_tokens t "
                "JOIN api_keys k ON k.id = t.key_id JOIN workspaces w ON w.id = k.workspace_id "
                "WHERE t.token_hash = ? AND t.expires_us > ? AND k.revoked_us IS NULL",
                token_hash,
                now_us,
            )
        if row is None:
            return None
        return ApiKey(int(row[0]), int(row[1]), row[2], row[3], int(row[4]))
