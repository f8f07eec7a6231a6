"""Message templates: a workspace's templates by name, each part's source as it was given.

The store keeps what was checked (``messages.specs``); it compiles nothing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from footfall.clock import now_us
from footfall.exceptions import (
    ContactNotFound,
    EventNotFound,
    TemplateExists,
    TemplateNotFound,
    TooManyTemplates,
)
from footfall.store.core import Database
from footfall.store.cursor import Cursor
from footfall.store.sql import lock_workspace
from footfall.store.workflow_runs import (
    StartingEvent,
    contacts_channels,
    contacts_fields,
    starting_events,
)
from footfall.store.workspace_settings import read_timing

__all__ = ["PreviewData", "StoredTemplate", "TemplateStore", "TemplateValues"]

_COLUMNS = (
    "id, workspace_id, name, channel, syntax, subject, html, text, transactional, created_us, "
    "updated_us"
)


@dataclass(frozen=True, slots=True)
class TemplateValues:
    """What a template is: its name, channel, syntax and parts' sources."""

    name: str
    channel: str
    syntax: str
    subject: str | None
    html: str | None
    text: str | None
    transactional: bool


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    id: int
    workspace_id: int
    values: TemplateValues
    created_us: int
    updated_us: int


@dataclass(frozen=True, slots=True)
class PreviewData:
    """What a stored event and contact give a preview (None: not asked for)."""

    event: StartingEvent | None
    contact: dict[str, Any] | None  # its fields and channels
    time_zone: str  # the workspace's


class TemplateStore:
    def __init__(self, db: Database, clock: Callable[[], int] = now_us) -> None:
        self._db = db
        self._clock = clock

    def create(self, ws: int, values: TemplateValues, *, limit: int) -> StoredTemplate:
        """A new template; TemplateExists when the name is taken, TooManyTemplates beyond
        ``limit``."""
        now = self._clock()

        def work(tx: Cursor) -> int:
            lock_workspace(tx, self._db.dialect.for_update, ws)
            count = int(
                tx.one("SELECT count(*) FROM message_templates WHERE workspace_id = ?", ws)[0]
            )
            if count >= limit:
                raise TooManyTemplates(
                    f"the workspace has {count} message templates, as many as it may; "
                    "delete one first"
                )
            _check_name_free(tx, ws, values.name, None)
            row = tx.one(
                f"INSERT INTO message_templates ({_COLUMNS.removeprefix('id, ')}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                ws,
                *_values(values),
                now,
                now,
            )
            return int(row[0])

        return self.get(ws, self._db.transact(work))

    def update(self, ws: int, template_id: int, values: TemplateValues) -> StoredTemplate:
        def work(tx: Cursor) -> None:
            lock_workspace(tx, self._db.dialect.for_update, ws)
            _one(tx, ws, template_id)
            _check_name_free(tx, ws, values.name, template_id)
            tx.execute(
                "UPDATE message_templates SET name = ?, channel = ?, syntax = ?, subject = ?, "
                "html = ?, text = ?, transactional = ?, updated_us = ? "
                "WHERE workspace_id = ? AND id = ?",
                *_values(values),
                self._clock(),
                ws,
                template_id,
            )

        self._db.transact(work)
        return self.get(ws, template_id)

    def all(self, ws: int) -> list[StoredTemplate]:
        with self._db.read() as tx:
            rows = tx.all(
                f"SELECT {_COLUMNS} FROM message_templates WHERE workspace_id = ? ORDER BY id", ws
            )
        return [_template(row) for row in rows]

    def get(self, ws: int, template_id: int) -> StoredTemplate:
        with self._db.read() as tx:
            return _one(tx, ws, template_id)

    def named(self, ws: int, name: str) -> StoredTemplate | None:
        with self._db.read() as tx:
            row = tx.one(
                f"SELECT {_COLUMNS} FROM message_templates WHERE workspace_id = ? AND name = ?",
                ws,
                name,
            )
        return None if row is None else _template(row)

    def preview_data(self, ws: int, event_id: int | None, contact_id: int | None) -> PreviewData:
        """The workspace's event and contact (the event's contact when none is named):
        EventNotFound or ContactNotFound when the workspace has no such one."""
        with self._db.snapshot() as tx:
            event = None
            if event_id is not None:
                row = tx.one(
                    "SELECT contact_id FROM events WHERE workspace_id = ? AND id = ?", ws, event_id
                )
                if row is None:
                    raise EventNotFound(f"the workspace has no event {event_id}")
                event = starting_events(tx, [event_id])[event_id]
                contact_id = contact_id if contact_id is not None else row[0]
            contact = None
            if contact_id is not None:
                if (
                    tx.one(
                        "SELECT id FROM contacts WHERE workspace_id = ? AND id = ?", ws, contact_id
                    )
                    is None
                ):
                    raise ContactNotFound(f"the workspace has no contact {contact_id}")
                fields = contacts_fields(tx, [contact_id])[contact_id]
                contact = {**fields, **contacts_channels(tx, [contact_id])[contact_id]}
            zone = read_timing(tx, [ws])[ws].time_zone
        return PreviewData(event, contact, zone)

    def delete(self, ws: int, template_id: int) -> None:
        def work(tx: Cursor) -> None:
            _one(tx, ws, template_id)
            tx.execute(
                "DELETE FROM message_templates WHERE workspace_id = ? AND id = ?", ws, template_id
            )

        self._db.transact(work)


def _values(values: TemplateValues) -> tuple[Any, ...]:
    return (
        values.name,
        values.channel,
        values.syntax,
        values.subject,
        values.html,
        values.text,
        values.transactional,
    )


def _one(tx: Cursor, ws: int, template_id: int) -> StoredTemplate:
    row = tx.one(
        f"SELECT {_COLUMNS} FROM message_templates WHERE workspace_id = ? AND id = ?",
        ws,
        template_id,
    )
    if row is None:
        raise TemplateNotFound()
    return _template(row)


def _template(row: Sequence[Any]) -> StoredTemplate:
    id_, ws, name, channel, syntax, subject, html, text, transactional, created, updated = row
    values = TemplateValues(name, channel, syntax, subject, html, text, bool(transactional))
    return StoredTemplate(int(id_), int(ws), values, int(created), int(updated))


def _check_name_free(tx: Cursor, ws: int, name: str, template_id: int | None) -> None:
    row = tx.one("SELECT id FROM message_templates WHERE workspace_id = ? AND name = ?", ws, name)
    if row is not None and int(row[0]) != template_id:
        raise TemplateExists(f"message template {int(row[0])} is already named {name!r}")
