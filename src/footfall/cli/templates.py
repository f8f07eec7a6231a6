"""``footfall templates``: a workspace's message templates from JSON files, through the same
TemplateService as /api/v1/templates (so the same checks)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from footfall.cli.common import load_settings, migrated_store, read_json, when, workspace_id
from footfall.exceptions import FootfallError, InvalidTemplate, TemplateNotFound

if TYPE_CHECKING:
    from footfall.messages.service import TemplateService
    from footfall.messages.specs import TemplateSpec
    from footfall.store.message_templates import StoredTemplate

__all__ = ["templates"]

T = TypeVar("T")
MAX_FILE_BYTES = 16 * 1024 * 1024


def _run(workspace_name: str, work: Callable[[TemplateService, int], T]) -> T:
    from footfall.messages.service import TemplateService

    settings = load_settings()
    with migrated_store(settings) as store:
        ws = workspace_id(store, workspace_name)
        return work(TemplateService(store.templates), ws)


def _specs(path: str) -> list[TemplateSpec]:
    """The templates of a file (one JSON object or an array of them), each checked: a file
    applies whole or not at all."""
    import msgspec

    from footfall.messages.specs import TemplateSpec, check_spec

    found = read_json(path, MAX_FILE_BYTES)
    documents = found if isinstance(found, list) else [found]
    if not documents:
        raise click.ClickException(f"{path}: no template in it (an empty array)")
    specs: list[TemplateSpec] = []
    names: dict[str, int] = {}
    for index, document in enumerate(documents):
        where = f"template [{index}]: " if len(documents) > 1 else ""
        try:
            spec = msgspec.convert(document, TemplateSpec)
            check_spec(spec)
        except msgspec.ValidationError as exc:
            raise click.ClickException(f"{where}invalid template: {exc}") from exc
        except InvalidTemplate as exc:
            raise click.ClickException(f"{where}{exc}") from exc
        name = spec.name.strip()
        if name in names:
            raise click.ClickException(
                f"template [{index}]: the name {name!r} is also that of template [{names[name]}]"
            )
        names[name] = index
        specs.append(spec)
    return specs


_workspace = click.option(
    "--workspace", "workspace_name", required=True, help="The workspace's name."
)


@click.group()
def templates() -> None:
    """Manage message templates: apply them from files, list, export.

    A file holds one template or a JSON array of them; the README describes the format."""


@templates.command("apply")
@_workspace
@click.argument("path", metavar="FILE")
def apply(workspace_name: str, path: str) -> None:
    """Create each template of FILE (- reads standard input), or replace the template of the
    same name; every part is checked first, and nothing is stored if one is refused."""
    specs = _specs(path)

    def work(service: TemplateService, ws: int) -> None:
        for spec in specs:
            try:
                template, done = service.apply(ws, spec)
            except FootfallError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"template {template.id} {template.values.name!r} {done}")

    _run(workspace_name, work)


@templates.command("list")
@_workspace
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_(workspace_name: str, as_json: bool) -> None:
    """The workspace's templates."""
    found = _run(workspace_name, lambda service, ws: service.all(ws))
    if as_json:
        click.echo(json.dumps([_summary(t) for t in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("no templates")
        return
    click.echo(f"{'ID':>6}  {'CHANNEL':9}  {'SYNTAX':8}  {'UPDATED':24}  NAME")
    for t in found:
        v = t.values
        click.echo(f"{t.id:>6}  {v.channel:9}  {v.syntax:8}  {when(t.updated_us):24}  {v.name}")


def _summary(template: StoredTemplate) -> dict[str, Any]:
    v = template.values
    return {
        "id": template.id,
        "name": v.name,
        "channel": v.channel,
        "syntax": v.syntax,
        "updated": when(template.updated_us),
    }


@templates.command("export")
@_workspace
@click.argument("template", metavar="ID_OR_NAME")
def export(workspace_name: str, template: str) -> None:
    """Print a template's document, ready to apply."""
    import msgspec

    from footfall.messages.service import spec_of

    def work(service: TemplateService, ws: int) -> StoredTemplate:
        if template.isascii() and template.isdigit() and len(template) <= 18:
            try:
                return service.get(ws, int(template))
            except TemplateNotFound:
                pass
        found = service.named(ws, template)
        if found is None:
            raise click.ClickException(f"no template with id or name {template!r}")
        return found

    document = msgspec.to_builtins(spec_of(_run(workspace_name, work)))
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))
