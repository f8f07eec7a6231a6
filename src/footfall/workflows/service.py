"""Workflows as the API and the CLI manage them: each document checked, then stored as a version.

Blocking (it runs the store's transactions): the web layer calls it in a thread.
"""

from __future__ import annotations

from typing import Any

import msgspec

from footfall.config import Settings
from footfall.store.workflows import Saved, Workflow, WorkflowStore, WorkflowVersion
from footfall.workflows.definitions import Definition, Limits, parse_definition

__all__ = ["WorkflowService"]


class WorkflowService:
    def __init__(self, store: WorkflowStore, settings: Settings) -> None:
        self.store = store
        self.limits = Limits(max_blocks=settings.workflow_max_blocks)
        self.max_workflows = settings.workflows_max

    def check(self, document: Any) -> Definition:
        """The definition ``document`` describes; InvalidWorkflow pointing at the problem."""
        return parse_definition(document, self.limits)

    def create(self, ws: int, document: Any, *, enabled: bool = False) -> Workflow:
        definition = self.check(document)
        workflow = self.store.create(
            ws,
            definition.name,
            definition.start_event,
            _encoded(definition),
            limit=self.max_workflows,
        )
        return self.store.set_enabled(ws, workflow.id, True) if enabled else workflow

    def update(self, ws: int, workflow_id: int, document: Any) -> Saved:
        """A new version when the document changed (runs in flight keep theirs)."""
        self.store.get(ws, workflow_id)  # 404 before checking the document
        definition = self.check(document)
        return self.store.save(
            ws, workflow_id, definition.name, definition.start_event, _encoded(definition)
        )

    def apply(self, ws: int, document: Any, *, enable: bool | None = None) -> tuple[Saved, bool]:
        """Create the workflow named in ``document`` or save it as its new version: (what was
        saved, whether it was created). ``enable`` True or False sets its state as well."""
        definition = self.check(document)
        existing = self.store.named(ws, definition.name)
        enabled = enable if enable is not None else existing is not None and existing.enabled
        if existing is None:
            created = self.store.create(
                ws,
                definition.name,
                definition.start_event,
                _encoded(definition),
                limit=self.max_workflows,
            )
            saved, fresh = Saved(created, True), True
        else:
            saved = self.store.save(
                ws, existing.id, definition.name, definition.start_event, _encoded(definition)
            )
            fresh = False
        if saved.workflow.enabled != enabled:
            state = self.store.set_enabled(ws, saved.workflow.id, enabled)
            saved = Saved(state, saved.changed)
        return saved, fresh

    def all(self, ws: int) -> list[Workflow]:
        return self.store.all(ws)

    def get(self, ws: int, workflow_id: int) -> Workflow:
        return self.store.get(ws, workflow_id)

    def named(self, ws: int, name: str) -> Workflow | None:
        return self.store.named(ws, name)

    def version(self, ws: int, workflow_id: int, version: int | None = None) -> WorkflowVersion:
        return self.store.version(ws, workflow_id, version)

    def enable(self, ws: int, workflow_id: int) -> Workflow:
        return self.store.set_enabled(ws, workflow_id, True)

    def disable(self, ws: int, workflow_id: int) -> Workflow:
        return self.store.set_enabled(ws, workflow_id, False)

    def delete(self, ws: int, workflow_id: int) -> None:
        self.store.delete(ws, workflow_id)


def _encoded(definition: Definition) -> bytes:
    return msgspec.json.encode(definition.source)
