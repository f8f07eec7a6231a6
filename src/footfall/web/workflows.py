"""Workflows of the caller's workspace (full-scope keys): create, check, list, get (any kept
version), update (a new version), delete, enable and disable.

A workflow is created disabled unless ``enabled=true``; a document that equals the current
version leaves it as it is.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall.decoding import decode_json
from footfall.exceptions import InvalidWorkflow
from footfall.ingest.dates import from_us
from footfall.store.workflows import Workflow, WorkflowVersion
from footfall.web.asgi import read_body
from footfall.web.auth import full_key
from footfall.web.params import Id, truth, whole_number
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services
from footfall.workflows.document import Document

__all__ = ["MAX_DOCUMENT_BYTES", "OPERATIONS"]

MAX_DOCUMENT_BYTES = 256 * 1024


class WorkflowSummary(msgspec.Struct, rename="camel"):
    id: int
    name: str
    enabled: bool
    version: int  # the current version; each change of the document adds one
    start_event: str | None  # the event type that starts it (None: a contact date does)
    created: str
    updated: str


class WorkflowView(WorkflowSummary):
    definition: msgspec.Raw  # the document of ``version``, as it was given
    shown_version: int  # the version whose definition this is (``?version=``, else the current)
    changed: bool = True  # for PUT: whether the document differed from the current version


class Checked(msgspec.Struct, rename="camel"):
    valid: bool
    name: str
    blocks: int


def summary(workflow: Workflow) -> WorkflowSummary:
    return WorkflowSummary(
        workflow.id,
        workflow.name,
        workflow.enabled,
        workflow.version,
        workflow.start_event,
        from_us(workflow.created_us),
        from_us(workflow.updated_us),
    )


def view(found: WorkflowVersion, changed: bool = True) -> WorkflowView:
    workflow = found.workflow
    return WorkflowView(
        workflow.id,
        workflow.name,
        workflow.enabled,
        workflow.version,
        workflow.start_event,
        from_us(workflow.created_us),
        from_us(workflow.updated_us),
        msgspec.Raw(found.document),
        found.version,
        changed,
    )


_any = msgspec.json.Decoder()


def _invalid(exc: msgspec.ValidationError) -> InvalidWorkflow:
    return InvalidWorkflow(f"invalid workflow: {exc}")


async def _document(request: Request) -> Any:
    """The JSON document of the body, at most MAX_DOCUMENT_BYTES (413 beyond): what checking a
    document costs grows with its size, and no workflow needs more."""
    headers = dict(request.scope["headers"])
    body = await read_body(request.receive, headers, MAX_DOCUMENT_BYTES)
    return decode_json(body, _any, _invalid, "body")


def _id(request: Request) -> int:
    return whole_number(request.path_params["workflow_id"], "the workflow id in the path", least=1)


async def create_workflow(request: Request) -> Response:
    """Check and store a workflow document as version 1 (disabled unless ``enabled=true``)."""
    key = await full_key(request)
    document = await _document(request)
    enabled = bool(truth(request.query_params, "enabled", False))
    service = services(request).workflows
    workflow = await asyncio.to_thread(service.create, key.workspace_id, document, enabled=enabled)
    found = await asyncio.to_thread(service.version, key.workspace_id, workflow.id)
    services(request).log.info("workflow created", action="workflow.created", workflow=workflow.id)
    return json_reply(view(found), status=201)


async def check_workflow(request: Request) -> Response:
    """Check a document without storing it: 200 when valid, else 400 naming the field."""
    await full_key(request)
    document = await _document(request)
    definition = await asyncio.to_thread(services(request).workflows.check, document)
    return json_reply(Checked(True, definition.name, len(definition.document.blocks)))


async def list_workflows(request: Request) -> Response:
    key = await full_key(request)
    found = await asyncio.to_thread(services(request).workflows.all, key.workspace_id)
    return json_reply([summary(workflow) for workflow in found])


async def get_workflow(request: Request) -> Response:
    key = await full_key(request)
    given = request.query_params.get("version")
    version = None if not given else whole_number(given, "version", least=1)
    service = services(request).workflows
    found = await asyncio.to_thread(service.version, key.workspace_id, _id(request), version)
    return json_reply(view(found))


async def update_workflow(request: Request) -> Response:
    """Store the document as the workflow's next version (runs in flight keep theirs)."""
    key = await full_key(request)
    document = await _document(request)
    service = services(request).workflows
    workflow_id = _id(request)
    saved = await asyncio.to_thread(service.update, key.workspace_id, workflow_id, document)
    found = await asyncio.to_thread(service.version, key.workspace_id, workflow_id)
    return json_reply(view(found, saved.changed))


async def delete_workflow(request: Request) -> Response:
    key = await full_key(request)
    await asyncio.to_thread(services(request).workflows.delete, key.workspace_id, _id(request))
    return Response(status_code=204)


async def enable_workflow(request: Request) -> Response:
    """Start runs on the events that come from now on."""
    key = await full_key(request)
    workflow = await asyncio.to_thread(
        services(request).workflows.enable, key.workspace_id, _id(request)
    )
    return json_reply(summary(workflow))


async def disable_workflow(request: Request) -> Response:
    """Start no new runs."""
    key = await full_key(request)
    workflow = await asyncio.to_thread(
        services(request).workflows.disable, key.workspace_id, _id(request)
    )
    return json_reply(summary(workflow))


_ID = Param("workflow_id", "path", "the workflow's id", Id, True)
_SHOWN = {200: Answer("the workflow with its definition", WorkflowView)}

OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/workflows",
        "Create a workflow from its document",
        create_workflow,
        {201: Answer("the workflow, disabled unless enabled=true", WorkflowView)},
        request=Document,
        params=(Param("enabled", "query", "enable it at once (default false)", bool),),
        errors=(409,),
    ),
    Operation(
        "POST",
        "/api/v1/workflows/check",
        "Check a workflow document without storing it",
        check_workflow,
        {200: Answer("the document is valid", Checked)},
        request=Document,
    ),
    Operation(
        "GET",
        "/api/v1/workflows",
        "The workspace's workflows",
        list_workflows,
        {200: Answer("the workflows", list[WorkflowSummary])},
    ),
    Operation(
        "GET",
        "/api/v1/workflows/{workflow_id}",
        "A workflow and its document",
        get_workflow,
        _SHOWN,
        params=(_ID, Param("version", "query", "an earlier version (default: the current)", int)),
    ),
    Operation(
        "PUT",
        "/api/v1/workflows/{workflow_id}",
        "Save a workflow's document as its next version",
        update_workflow,
        _SHOWN,
        request=Document,
        params=(_ID,),
        errors=(409,),
    ),
    Operation(
        "DELETE",
        "/api/v1/workflows/{workflow_id}",
        "Delete a workflow and its versions",
        delete_workflow,
        {204: Answer("deleted", media_type=None)},
        params=(_ID,),
    ),
    Operation(
        "POST",
        "/api/v1/workflows/{workflow_id}/enable",
        "Start runs on new events",
        enable_workflow,
        {200: Answer("the workflow", WorkflowSummary)},
        params=(_ID,),
    ),
    Operation(
        "POST",
        "/api/v1/workflows/{workflow_id}/disable",
        "Start no new runs",
        disable_workflow,
        {200: Answer("the workflow", WorkflowSummary)},
        params=(_ID,),
    ),
]
