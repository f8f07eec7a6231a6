"""Workflows of the caller's workspace (full-scope keys): create, check, list, get (any kept
version), update (a new version), delete, enable and disable.

A workflow is created disabled unless ``enabled=true``; a document that equals the current
version leaves it as it is.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall.decoding import decode_json
from footfall.exceptions import InvalidWorkflow, WorkflowNotFound
from footfall.ingest.dates import from_us
from footfall.store.workflow_runs import Run, Step
from footfall.store.workflows import Workflow, WorkflowVersion
from footfall.web.asgi import read_body
from footfall.web.auth import full_key
from footfall.web.contacts import contact_id
from footfall.web.params import Id, limit, truth, whole_number
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services
from footfall.workflows.document import Document

__all__ = ["MAX_DOCUMENT_BYTES", "OPERATIONS"]

MAX_DOCUMENT_BYTES = 256 * 1024
MAX_RUNS_PAGE = 1000


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


class StepView(msgspec.Struct):
    block: str
    branch: str | None  # the branch it took (none: where the run stopped, waits or ended)
    at: str
    note: str | None


class RunView(msgspec.Struct, rename="camel", omit_defaults=True):
    id: int
    workflow_id: int
    version: int  # the workflow's version it runs on
    contact_id: int
    start_event_id: int | None  # None: started by a contact date
    status: str  # running, waiting, completed, stopped, failed
    block: str | None  # where it is (or ended)
    reason: str | None  # why it stopped or failed
    started: str
    updated: str
    ended: str | None
    path: list[StepView] | None = None  # one run's path, oldest first


class Stopped(msgspec.Struct):
    stopped: int


class RunCounts(msgspec.Struct):
    runs: dict[str, int]  # by status
    blocks: dict[str, dict[str, int]]  # block -> branch taken ("-": stopped there) -> runs


def run_view(run: Run, steps: list[Step] | None = None) -> RunView:
    return RunView(
        run.id,
        run.workflow_id,
        run.version,
        run.contact_id,
        run.event_id or None,
        run.status,
        run.block,
        run.reason,
        from_us(run.started_us),
        from_us(run.updated_us),
        None if run.ended_us is None else from_us(run.ended_us),
        None
        if steps is None
        else [StepView(s.block, s.branch, from_us(s.at_us), s.note) for s in steps],
    )


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


def _run_id(request: Request) -> int:
    return whole_number(request.path_params["run_id"], "the run id in the path", least=1)


def _page(request: Request) -> tuple[int, int | None]:
    size = limit(request.query_params, "limit", 100, MAX_RUNS_PAGE)
    before = request.query_params.get("before")
    return size, None if not before else whole_number(before, "before", least=1)


async def _shown_run(request: Request, ws: int, workflow_id: int, run_id: int) -> Response:
    """One run of the workflow with its path; 404 when the workflow has no such run."""
    found = await asyncio.to_thread(services(request).store.workflow_runs.run, ws, run_id)
    if found is None or found[0].workflow_id != workflow_id:
        raise WorkflowNotFound(f"workflow {workflow_id} has no run {run_id}")
    return json_reply(run_view(*found))


async def list_runs(request: Request) -> Response:
    """A workflow's runs, newest first (``before``: the last id of the previous page)."""
    key = await full_key(request)
    workflow_id = _id(request)
    found = services(request)
    await asyncio.to_thread(found.workflows.get, key.workspace_id, workflow_id)
    size, before = _page(request)
    runs = await asyncio.to_thread(
        found.store.workflow_runs.runs,
        key.workspace_id,
        workflow_id=workflow_id,
        limit=size,
        before=before,
    )
    return json_reply([run_view(run) for run in runs])


async def get_run(request: Request) -> Response:
    """One run with the path it took."""
    key = await full_key(request)
    workflow_id, run_id = _id(request), _run_id(request)
    return await _shown_run(request, key.workspace_id, workflow_id, run_id)


async def stop_run(request: Request) -> Response:
    """Stop one run (a run already over is left as it is)."""
    key = await full_key(request)
    workflow_id, run_id = _id(request), _run_id(request)
    runs = services(request).store.workflow_runs
    await asyncio.to_thread(
        runs.stop, key.workspace_id, [run_id], workflow_id, "stopped by the API"
    )
    return await _shown_run(request, key.workspace_id, workflow_id, run_id)


async def stop_runs(request: Request) -> Response:
    """Stop every run of a workflow that is still going."""
    key = await full_key(request)
    workflow_id = _id(request)
    found = services(request)
    await asyncio.to_thread(found.workflows.get, key.workspace_id, workflow_id)
    count = await asyncio.to_thread(
        found.store.workflow_runs.stop, key.workspace_id, None, workflow_id, "stopped by the API"
    )
    return json_reply(Stopped(count))


async def workflow_stats(request: Request) -> Response:
    """Runs by status, and how many runs passed each block by each branch."""
    key = await full_key(request)
    workflow_id = _id(request)
    found = services(request)
    await asyncio.to_thread(found.workflows.get, key.workspace_id, workflow_id)
    counts = await asyncio.to_thread(
        found.store.workflow_runs.counts, key.workspace_id, workflow_id
    )
    return json_reply(RunCounts(counts["runs"], counts["blocks"]))


async def contact_runs(request: Request) -> Response:
    """A contact's runs of every workflow, newest first."""
    key = await full_key(request)
    size, before = _page(request)
    runs = await asyncio.to_thread(
        services(request).store.workflow_runs.runs,
        key.workspace_id,
        contact_ids=[contact_id(request)],
        limit=size,
        before=before,
    )
    return json_reply([run_view(run) for run in runs])


_ID = Param("workflow_id", "path", "the workflow's id", Id, True)
_RUN = Param("run_id", "path", "the run's id", Id, True)
_PAGE = (
    Param("limit", "query", "runs", Annotated[int, msgspec.Meta(ge=1, le=1000)]),
    Param("before", "query", "the last id of the previous page", Id),
)
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
        "Start runs on new events (or contact dates)",
        enable_workflow,
        {200: Answer("the workflow", WorkflowSummary)},
        params=(_ID,),
    ),
    Operation(
        "GET",
        "/api/v1/workflows/{workflow_id}/runs",
        "A workflow's runs, newest first",
        list_runs,
        {200: Answer("runs", list[RunView])},
        params=(_ID, *_PAGE),
    ),
    Operation(
        "GET",
        "/api/v1/workflows/{workflow_id}/runs/{run_id}",
        "A run and the path it took",
        get_run,
        {200: Answer("the run with its path", RunView)},
        params=(_ID, _RUN),
    ),
    Operation(
        "POST",
        "/api/v1/workflows/{workflow_id}/runs/{run_id}/stop",
        "Stop a run",
        stop_run,
        {200: Answer("the run", RunView)},
        params=(_ID, _RUN),
    ),
    Operation(
        "POST",
        "/api/v1/workflows/{workflow_id}/stop",
        "Stop every run of a workflow",
        stop_runs,
        {200: Answer("how many runs were stopped", Stopped)},
        params=(_ID,),
    ),
    Operation(
        "GET",
        "/api/v1/workflows/{workflow_id}/stats",
        "Runs by status and block",
        workflow_stats,
        {200: Answer("counts", RunCounts)},
        params=(_ID,),
    ),
    Operation(
        "GET",
        "/api/v1/contact/{contact_id}/runs",
        "A contact's workflow runs, newest first",
        contact_runs,
        {200: Answer("runs", list[RunView])},
        params=(Param("contact_id", "path", "the contact's id", Id, True), *_PAGE),
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
