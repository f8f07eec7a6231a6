"""``footfall workflows``: a workspace's workflows from JSON files, through the same
WorkflowService as /api/v1/workflows (so the same checks, and the same versions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from footfall.cli.common import load_settings, migrated_store, read_json, when, workspace_id
from footfall.exceptions import FootfallError, InvalidWorkflow, WorkflowNotFound

if TYPE_CHECKING:
    from footfall.store.workflows import Workflow
    from footfall.workflows.service import WorkflowService

__all__ = ["workflows"]

T = TypeVar("T")
MAX_FILE_BYTES = 4 * 1024 * 1024


def _run(workspace_name: str, work: Callable[[WorkflowService, int], T]) -> T:
    """What ``work`` returns, given the service over the migrated store and the workspace's id."""
    from footfall.workflows.service import WorkflowService

    settings = load_settings()
    with migrated_store(settings) as store:
        ws = workspace_id(store, workspace_name)
        return work(WorkflowService(store.workflows, settings), ws)


def _documents(path: str) -> list[Any]:
    """The documents of a file: one JSON object, or an array of them."""
    found = read_json(path, MAX_FILE_BYTES)
    documents = found if isinstance(found, list) else [found]
    if not documents:
        raise click.ClickException(f"{path}: no workflow in it (an empty array)")
    return documents


def _where(index: int, count: int) -> str:
    return f"workflow [{index}]: " if count > 1 else ""


def _check_all(service: WorkflowService, ws: int, documents: list[Any]) -> None:
    """Every document checked before any is stored, names unique in the file and the
    workspace's cap kept: a file applies whole or not at all (but for a workflow another client
    creates meanwhile)."""
    names: dict[str, int] = {}
    for index, document in enumerate(documents):
        try:
            name = service.check(document).name
        except InvalidWorkflow as exc:
            raise click.ClickException(f"{_where(index, len(documents))}{exc}") from exc
        if name in names:
            raise click.ClickException(
                f"workflow [{index}]: the name {name!r} is also that of workflow [{names[name]}]"
            )
        names[name] = index
    known = {workflow.name for workflow in service.all(ws)}
    total = len(known | set(names))
    if total > service.max_workflows:
        raise click.ClickException(
            f"the workspace would have {total} workflows; it may have "
            f"{service.max_workflows} (FOOTFALL_WORKFLOWS_MAX): nothing was applied"
        )


def _find(service: WorkflowService, ws: int, given: str) -> Workflow:
    """The workflow with id ``given`` (digits) or named ``given``."""
    if given.isascii() and given.isdigit() and len(given) <= 18:
        try:
            return service.get(ws, int(given))
        except WorkflowNotFound:
            pass
    found = service.named(ws, given)
    if found is None:
        raise click.ClickException(f"no workflow with id or name {given!r}")
    return found


_workspace = click.option(
    "--workspace", "workspace_name", required=True, help="The workspace's name."
)
_which = click.argument("workflow", metavar="ID_OR_NAME")


@click.group()
def workflows() -> None:
    """Manage workflows: apply documents from files, list, export, enable, disable, delete;
    print the ready recipes.

    A file holds one workflow document or a JSON array of them; the README describes the format."""


@workflows.command("apply")
@_workspace
@click.argument("path", metavar="FILE")
@click.option(
    "--enable/--disable",
    "enable",
    default=None,
    help="Also enable (or disable) each workflow; without either, a new one starts disabled.",
)
def apply(workspace_name: str, path: str, enable: bool | None) -> None:
    """Create each workflow of FILE (- reads standard input) or save it as a new version of the
    workflow of the same name; an unchanged document changes nothing."""
    documents = _documents(path)

    def work(service: WorkflowService, ws: int) -> None:
        _check_all(service, ws, documents)
        for document in documents:
            saved, created = service.apply(ws, document, enable=enable)
            workflow = saved.workflow
            state = "enabled" if workflow.enabled else "disabled"
            if created:
                done = "created"
            elif saved.changed:
                done = f"updated to version {workflow.version}"
            else:
                done = f"unchanged at version {workflow.version}"
            click.echo(f"workflow {workflow.id} {workflow.name!r} {done} ({state})")

    _run(workspace_name, work)


@workflows.command("check")
@click.argument("path", metavar="FILE")
def check(path: str) -> None:
    """Check the documents of FILE without storing anything (no database needed)."""
    from footfall.config import Settings
    from footfall.workflows.definitions import Limits, parse_definition

    documents = _documents(path)
    try:
        limits = Limits(max_blocks=Settings.from_env().workflow_max_blocks)
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    for index, document in enumerate(documents):
        try:
            definition = parse_definition(document, limits)
        except InvalidWorkflow as exc:
            raise click.ClickException(f"{_where(index, len(documents))}{exc}") from exc
        click.echo(f"{definition.name!r}: valid, {len(definition.document.blocks)} blocks")


@workflows.command("list")
@_workspace
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_(workspace_name: str, as_json: bool) -> None:
    """The workspace's workflows."""
    found = _run(workspace_name, lambda service, ws: service.all(ws))
    if as_json:
        click.echo(json.dumps([_summary(workflow) for workflow in found], indent=2))
        return
    if not found:
        click.echo("no workflows")
        return
    click.echo(f"{'ID':>6}  {'STATE':8}  {'VERSION':>7}  {'START':24}  {'UPDATED':24}  NAME")
    for workflow in found:
        state = "enabled" if workflow.enabled else "disabled"
        start = workflow.start_event or "(contact date)"
        click.echo(
            f"{workflow.id:>6}  {state:8}  {workflow.version:>7}  {start[:24]:24}  "
            f"{when(workflow.updated_us):24}  {workflow.name}"
        )


def _summary(workflow: Workflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "enabled": workflow.enabled,
        "version": workflow.version,
        "startEvent": workflow.start_event,
        "updated": when(workflow.updated_us),
    }


@workflows.command("export")
@_workspace
@_which
@click.option("--version", "version", type=click.IntRange(1, 2**31 - 1), help="An earlier version.")
def export(workspace_name: str, workflow: str, version: int | None) -> None:
    """Print a workflow's document (the current version, or --version's), ready to apply."""

    def work(service: WorkflowService, ws: int) -> bytes:
        found = _find(service, ws, workflow)
        try:
            return service.version(ws, found.id, version).document
        except WorkflowNotFound as exc:
            raise click.ClickException(str(exc)) from exc

    document = _run(workspace_name, work)
    click.echo(json.dumps(json.loads(document), indent=2, ensure_ascii=False))


def _set(workspace_name: str, workflow: str, enabled: bool) -> None:
    def work(service: WorkflowService, ws: int) -> Workflow:
        found = _find(service, ws, workflow)
        return service.enable(ws, found.id) if enabled else service.disable(ws, found.id)

    changed = _run(workspace_name, work)
    click.echo(f"workflow {changed.id} {changed.name!r} {'enabled' if enabled else 'disabled'}")


@workflows.command("enable")
@_workspace
@_which
def enable(workspace_name: str, workflow: str) -> None:
    """Start runs on the events that come from now on."""
    _set(workspace_name, workflow, True)


@workflows.command("disable")
@_workspace
@_which
def disable(workspace_name: str, workflow: str) -> None:
    """Start no new runs."""
    _set(workspace_name, workflow, False)


@workflows.command("delete")
@_workspace
@_which
def delete(workspace_name: str, workflow: str) -> None:
    """Delete a workflow and its versions."""

    def work(service: WorkflowService, ws: int) -> Workflow:
        found = _find(service, ws, workflow)
        service.delete(ws, found.id)
        return found

    gone = _run(workspace_name, work)
    click.echo(f"workflow {gone.id} {gone.name!r} deleted")


@workflows.command("recipes")
@click.argument("name", required=False)
@click.option(
    "--url", metavar="URL", help="Where its HTTP block sends, instead of the placeholder."
)
def recipes(name: str | None, url: str | None) -> None:
    """List the ready workflows for a shop, or print the one named NAME, ready to apply.

    \b
      footfall workflows recipes abandoned-cart --url https://… > cart.json
      footfall workflows apply --workspace shop cart.json

    Its description says what it does and what to change. No database needed."""
    from footfall.workflows import recipes as shipped

    if name is None:
        if url is not None:
            raise click.UsageError("--url goes with a recipe's NAME")
        width = max(len(known) for known in shipped.names())
        for known, summary in shipped.describe():
            click.echo(f"{known:{width}}  {summary}")
        return
    try:
        text = shipped.load(name, url=url)
        if url is not None:
            _check_recipe(text)
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(text, nl=False)


def _check_recipe(text: str) -> None:
    """InvalidWorkflow when the recipe with its new URL is not a valid document."""
    from footfall.workflows.definitions import parse_definition

    parse_definition(json.loads(text))
