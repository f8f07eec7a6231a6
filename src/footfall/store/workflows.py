"""Workflows and the versions of their documents.

Saving a document that differs from the current version adds a version; the workflow row
points at the newest. Versions are kept so that a run keeps the document it started with; the
oldest are pruned beyond ``KEEP_VERSIONS``, but for those runs still going use. Documents are stored as
the JSON they were given and compared by their canonical form (sorted keys), so applying an
exported workflow again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from footfall.clock import now_us
from footfall.exceptions import TooManyWorkflows, WorkflowExists, WorkflowNotFound
from footfall.store.core import Database
from footfall.store.cursor import Cursor
from footfall.store.sql import lock_workspace
from footfall.store.workflow_dates import forget_position
from footfall.store.workflow_runs import forget_workflow_runs

__all__ = ["KEEP_VERSIONS", "Saved", "Workflow", "WorkflowStore", "WorkflowVersion"]

KEEP_VERSIONS = 50
_COLUMNS = "id, workspace_id, name, enabled, version, start_event, created_us, updated_us"


@dataclass(frozen=True, slots=True)
class Workflow:
    id: int
    workspace_id: int
    name: str
    enabled: bool
    version: int
    start_event: str | None
    created_us: int
    updated_us: int


@dataclass(frozen=True, slots=True)
class WorkflowVersion:
    """One version of a workflow's document, as it was given."""

    workflow: Workflow
    version: int
    document: bytes
    created_us: int


@dataclass(frozen=True, slots=True)
class Saved:
    """What saving a document did: the workflow after it, and whether a version was added."""

    workflow: Workflow
    changed: bool


def _canonical(document: bytes) -> bytes:
    return msgspec.json.encode(msgspec.json.decode(document), order="sorted")


class WorkflowStore:
    def __init__(self, db: Database, clock: Callable[[], int] = now_us) -> None:
        self._db = db
        self._clock = clock

    def create(
        self, ws: int, name: str, start_event: str | None, document: bytes, *, limit: int
    ) -> Workflow:
        """A new, disabled workflow at version 1; TooManyWorkflows beyond ``limit``."""
        now = self._clock()

        def work(tx: Cursor) -> int:
            lock_workspace(
                tx, self._db.dialect.for_update, ws
            )  # two creations at once cannot both pass the checks
            count = int(tx.one("SELECT count(*) FROM workflows WHERE workspace_id = ?", ws)[0])
            if count >= limit:
                raise TooManyWorkflows(
                    f"the workspace has {count} workflows, as many as it may "
                    "(FOOTFALL_WORKFLOWS_MAX); delete one first"
                )
            _check_name_free(tx, ws, name, None)
            row = tx.one(
                "INSERT INTO workflows (workspace_id, name, enabled, version, start_event, "
                "created_us, updated_us) VALUES (?, ?, ?, 1, ?, ?, ?) RETURNING id",
                ws,
                name,
                False,
                start_event,
                now,
                now,
            )
            workflow_id = int(row[0])
            _add_version(tx, workflow_id, 1, document, now)
            return workflow_id

        return self.get(ws, self._db.transact(work))

    def save(
        self, ws: int, workflow_id: int, name: str, start_event: str | None, document: bytes
    ) -> Saved:
        """A new version when ``document`` differs from the current one; else nothing changes."""
        now = self._clock()

        def work(tx: Cursor) -> bool:
            lock_workspace(
                tx, self._db.dialect.for_update, ws
            )  # names are checked under it, as in create
            current = _one(tx, ws, workflow_id, lock=self._db.dialect.for_update)
            stored = _document(tx, workflow_id, current.version)
            if _canonical(stored) == _canonical(document):
                return False
            _check_name_free(tx, ws, name, workflow_id)
            version = current.version + 1
            _add_version(tx, workflow_id, version, document, now)
            tx.execute(
                "UPDATE workflows SET name = ?, version = ?, start_event = ?, updated_us = ? "
                "WHERE workspace_id = ? AND id = ?",
                name,
                version,
                start_event,
                now,
                ws,
                workflow_id,
            )
            tx.execute(  # the oldest, but never one a run still going uses
                "DELETE FROM workflow_versions WHERE workflow_id = ? AND version <= ? "
                "AND version NOT IN (SELECT version FROM workflow_runs WHERE workflow_id = ? "
                "AND status IN ('running', 'waiting'))",
                workflow_id,
                version - KEEP_VERSIONS,
                workflow_id,
            )
            return True

        changed = self._db.transact(work)
        return Saved(self.get(ws, workflow_id), changed)

    def all(self, ws: int) -> list[Workflow]:
        with self._db.read() as tx:
            rows = tx.all(
                f"SELECT {_COLUMNS} FROM workflows WHERE workspace_id = ? ORDER BY id", ws
            )
        return [_workflow(row) for row in rows]

    def get(self, ws: int, workflow_id: int) -> Workflow:
        with self._db.read() as tx:
            return _one(tx, ws, workflow_id)

    def named(self, ws: int, name: str) -> Workflow | None:
        with self._db.read() as tx:
            row = tx.one(
                f"SELECT {_COLUMNS} FROM workflows WHERE workspace_id = ? AND name = ?", ws, name
            )
        return None if row is None else _workflow(row)

    def version(self, ws: int, workflow_id: int, version: int | None = None) -> WorkflowVersion:
        """The current version's document, or ``version``'s; WorkflowNotFound when it is gone."""
        with self._db.snapshot() as tx:
            workflow = _one(tx, ws, workflow_id)
            wanted = workflow.version if version is None else version
            row = tx.one(
                "SELECT document, created_us FROM workflow_versions "
                "WHERE workflow_id = ? AND version = ?",
                workflow_id,
                wanted,
            )
        if row is None:
            oldest = max(1, workflow.version - KEEP_VERSIONS + 1)
            raise WorkflowNotFound(
                f"workflow {workflow_id} has no version {wanted}: it keeps versions {oldest} to "
                f"{workflow.version} (the latest {KEEP_VERSIONS})"
            )
        return WorkflowVersion(workflow, wanted, _bytes(row[0]), int(row[1]))

    def set_enabled(self, ws: int, workflow_id: int, enabled: bool) -> Workflow:
        def work(tx: Cursor) -> None:
            _one(tx, ws, workflow_id)
            tx.execute(
                "UPDATE workflows SET enabled = ?, updated_us = ? WHERE workspace_id = ? AND id = ?",
                enabled,
                self._clock(),
                ws,
                workflow_id,
            )

        self._db.transact(work)
        return self.get(ws, workflow_id)

    def delete(self, ws: int, workflow_id: int) -> None:
        def work(tx: Cursor) -> None:
            # Locked first: a version saved meanwhile would otherwise outlive the delete of the
            # versions and refuse the delete of the workflow (its foreign key).
            _one(tx, ws, workflow_id, lock=self._db.dialect.for_update)
            forget_workflow_runs(tx, self._db.dialect, workflow_id)
            forget_position(tx, workflow_id)
            tx.execute("DELETE FROM workflow_versions WHERE workflow_id = ?", workflow_id)
            tx.execute("DELETE FROM workflows WHERE workspace_id = ? AND id = ?", ws, workflow_id)

        self._db.transact(work)


def _one(tx: Cursor, ws: int, workflow_id: int, lock: str = "") -> Workflow:
    row = tx.one(
        f"SELECT {_COLUMNS} FROM workflows WHERE workspace_id = ? AND id = ?{lock}",
        ws,
        workflow_id,
    )
    if row is None:
        raise WorkflowNotFound()
    return _workflow(row)


def _workflow(row: Sequence[Any]) -> Workflow:
    id_, workspace_id, name, enabled, version, start_event, created_us, updated_us = row
    return Workflow(
        int(id_),
        int(workspace_id),
        name,
        bool(enabled),
        int(version),
        start_event,
        int(created_us),
        int(updated_us),
    )


def _check_name_free(tx: Cursor, ws: int, name: str, workflow_id: int | None) -> None:
    row = tx.one("SELECT id FROM workflows WHERE workspace_id = ? AND name = ?", ws, name)
    if row is not None and int(row[0]) != workflow_id:
        raise WorkflowExists(f"workflow {int(row[0])} is already named {name!r}")


def _add_version(tx: Cursor, workflow_id: int, version: int, document: bytes, now: int) -> None:
    tx.execute(
        "INSERT INTO workflow_versions (workflow_id, version, document, created_us) "
        "VALUES (?, ?, ?, ?)",
        workflow_id,
        version,
        document.decode(),
        now,
    )


def _document(tx: Cursor, workflow_id: int, version: int) -> bytes:
    row = tx.one(
        "SELECT document FROM workflow_versions WHERE workflow_id = ? AND version = ?",
        workflow_id,
        version,
    )
    return _bytes(row[0])


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
