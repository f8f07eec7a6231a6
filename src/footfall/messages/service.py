"""Message templates as the API manages them: each document checked (its parts compiled) before
it is stored, and previews rendered from a stored event, a contact or sample data.

Blocking (it runs the store's transactions): the web layer calls it in a thread.
"""

from __future__ import annotations

from typing import Any

import msgspec

from footfall.exceptions import PreviewFailed
from footfall.ingest.dates import from_us
from footfall.messages.specs import TemplateSpec, check_spec
from footfall.messages.templates import RenderData, RenderFailed
from footfall.store.message_templates import (
    StoredTemplate,
    TemplateStore,
    TemplateValues,
)
from footfall.zones import zone_for

__all__ = ["MAX_TEMPLATES", "Sample", "TemplateService", "spec_of"]

MAX_TEMPLATES = 500  # per workspace


class Sample(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """What a preview renders from: a stored event and contact, and sample data for what is not
    stored (``event``: ``type``, ``keyValue``, ``params``; ``contact``: fields and channels)."""

    event_id: int | None = None
    contact_id: int | None = None
    event: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None


def spec_of(template: StoredTemplate) -> TemplateSpec:
    v = template.values
    return TemplateSpec(
        name=v.name,
        channel=v.channel,  # type: ignore[arg-type]  # checked when it was stored
        syntax=v.syntax,  # type: ignore[arg-type]
        subject=v.subject,
        html=v.html,
        text=v.text,
        transactional=v.transactional,
    )


def _values(spec: TemplateSpec) -> TemplateValues:
    return TemplateValues(
        spec.name.strip(),
        spec.channel,
        spec.syntax,
        spec.subject,
        spec.html,
        spec.text,
        spec.transactional,
    )


class TemplateService:
    def __init__(self, store: TemplateStore, max_templates: int = MAX_TEMPLATES) -> None:
        self.store = store
        self.max_templates = max_templates

    def create(self, ws: int, spec: TemplateSpec) -> StoredTemplate:
        check_spec(spec)
        return self.store.create(ws, _values(spec), limit=self.max_templates)

    def update(self, ws: int, template_id: int, spec: TemplateSpec) -> StoredTemplate:
        self.store.get(ws, template_id)  # 404 before checking the document
        check_spec(spec)
        return self.store.update(ws, template_id, _values(spec))

    def apply(self, ws: int, spec: TemplateSpec) -> tuple[StoredTemplate, str]:
        """Create the template named in ``spec`` or replace the one of that name: the template
        and what was done ("created", "updated" or "unchanged")."""
        check_spec(spec)
        values = _values(spec)
        existing = self.store.named(ws, values.name)
        if existing is None:
            return self.store.create(ws, values, limit=self.max_templates), "created"
        if existing.values == values:
            return existing, "unchanged"
        return self.store.update(ws, existing.id, values), "updated"

    def named(self, ws: int, name: str) -> StoredTemplate | None:
        return self.store.named(ws, name)

    def all(self, ws: int) -> list[StoredTemplate]:
        return self.store.all(ws)

    def get(self, ws: int, template_id: int) -> StoredTemplate:
        return self.store.get(ws, template_id)

    def delete(self, ws: int, template_id: int) -> None:
        self.store.delete(ws, template_id)

    def preview(self, ws: int, template_id: int, sample: Sample) -> dict[str, str]:
        """Each part rendered from ``sample``; PreviewFailed with the reason when a part cannot
        be (a filter given what it cannot take, a bound passed)."""
        compiled = check_spec(spec_of(self.store.get(ws, template_id)))
        found = self.store.preview_data(ws, sample.event_id, sample.contact_id)
        event = None
        if found.event is not None:
            e = found.event
            event = {
                "id": e.id,
                "type": e.event_type_key,
                "keyValue": e.key_value,
                "occurred": from_us(e.occurred_us),
                "params": e.params,
            }
        elif sample.event is not None:
            event = sample.event
        contact = found.contact if found.contact is not None else (sample.contact or {})
        zone = contact.get("timeZone") if isinstance(contact.get("timeZone"), str) else None
        data = RenderData(event, contact, {}, zone_for(zone, found.time_zone).key)
        try:
            return compiled.render(data)
        except RenderFailed as exc:
            raise PreviewFailed(str(exc)) from None
