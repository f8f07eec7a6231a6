"""``footfall webhooks``: a workspace's webhook subscriptions, managed as the API under
/api/v1/webhooks manages them, through the same WebhookService (so the same checks: the document,
the guard on where the URL leads, and the GET that must answer 2xx unless --no-verify)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from footfall.cli import webhook_views as views
from footfall.cli.common import load_settings, migrated_store, workspace_id
from footfall.exceptions import InvalidWebhook, TargetUnreachable, WebhookNotFound

if TYPE_CHECKING:
    from footfall.records import WebhookSpec
    from footfall.store.webhooks import Attempt, Pending, Webhook
    from footfall.webhooks.service import WebhookService

__all__ = ["STREAMS", "webhooks"]

T = TypeVar("T")
Work = Callable[["WebhookService", int], Awaitable[T]]

# footfall.webhooks.specs.STREAMS, which cannot be imported here without loading more than
# --help needs (a test keeps them equal)
STREAMS = ("events", "identity")
MAX_ATTEMPTS_PAGE = 1000
# The option that sets each field of the subscription's document, named in its errors.
OPTIONS = {
    "url": "--url",
    "eventTypes": "--event-type",
    "streams": "--stream",
    "batchSize": "--batch-size",
    "basicAuth": "--basic-user/--basic-password",
    "basicAuth.username": "--basic-user",
    "basicAuth.password": "--basic-password",
}


def _refusal(exc: InvalidWebhook) -> str:
    option = OPTIONS.get(exc.field or "")
    message = str(exc) if option is None else f"{option}: {exc}"
    if isinstance(exc, TargetUnreachable):
        message += " (--no-verify skips this check)"
    return message


def _run(workspace_name: str, work: Work[T], webhook_id: int | None = None) -> T:
    """What ``work`` returns, given a WebhookService over the migrated store and the workspace's
    id, on an event loop of its own; the service is closed after. Refusals become messages."""
    from footfall.webhooks.service import WebhookService

    settings = load_settings()
    with migrated_store(settings) as store:
        ws = workspace_id(store, workspace_name)
        service = WebhookService(store.webhooks, settings)

        async def run() -> T:
            try:
                return await work(service, ws)
            finally:
                await service.close()

        try:
            return asyncio.run(run())
        except InvalidWebhook as exc:
            raise click.ClickException(_refusal(exc)) from exc
        except WebhookNotFound as exc:
            raise click.ClickException(
                f"no webhook {webhook_id} in workspace {workspace_name!r}"
            ) from exc


# -- the subscription's document from options ------------------------------------------------------


def _basic(user: str | None, password: str | None) -> dict[str, str] | None:
    if user is None and password is None:
        return None
    if user is None or password is None:
        raise click.UsageError("--basic-user and --basic-password go together")
    return {"username": user, "password": password}


def _document(
    url: str,
    event_types: tuple[str, ...],
    streams: tuple[str, ...],
    batch_size: int | None,
    basic: dict[str, str] | None,
) -> dict[str, Any]:
    document: dict[str, Any] = {"url": url, "eventTypes": list(event_types)}
    if streams:
        document["streams"] = list(streams)
    if batch_size is not None:
        document["batchSize"] = batch_size
    if basic is not None:
        document["basicAuth"] = basic
    return document


def _current(spec: WebhookSpec) -> dict[str, Any]:
    """The document that describes ``spec`` as it is."""
    basic = None
    if spec.basic_username is not None:
        basic = {"username": spec.basic_username, "password": spec.basic_password or ""}
    return _document(spec.url, spec.event_types, spec.streams, spec.batch_size, basic)


# -- the commands ----------------------------------------------------------------------------------

_workspace = click.option(
    "--workspace", "workspace_name", required=True, help="The workspace's name."
)
_id = click.argument("webhook_id", metavar="ID", type=click.IntRange(1, 2**63 - 1))


def _spec_options(creating: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options of a subscription's fields; updating, each one not given keeps its value."""
    types_help = (
        "Deliver only events of this type; repeatable (without any: every type)."
        if creating
        else "Replace the event types with these; repeatable."
    )
    streams_help = (
        "events (the default) and/or identity (merges and erasures); repeatable."
        if creating
        else "Replace the streams with these; repeatable."
    )
    options = [
        click.option(
            "--url",
            required=creating,
            help="Where deliveries are POSTed (http or https; no credentials in it).",
        ),
        click.option("--event-type", "event_types", multiple=True, help=types_help),
        click.option(
            "--stream", "streams", multiple=True, type=click.Choice(STREAMS), help=streams_help
        ),
        click.option("--batch-size", type=int, help="Items per delivery, 1 to 1000 (default 100)."),
        click.option("--basic-user", help="HTTP Basic username sent with each delivery."),
        click.option("--basic-password", help="HTTP Basic password (never shown again)."),
        click.option(
            "--no-verify",
            "no_verify",
            is_flag=True,
            help="Skip the check that the URL answers a GET with a 2xx.",
        ),
    ]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@click.group()
def webhooks() -> None:
    """Manage webhook subscriptions.

    The same subscriptions, with the same checks, as /api/v1/webhooks: each command names its
    workspace with --workspace."""


@webhooks.command("create")
@_workspace
@_spec_options(creating=True)
@click.option("--json", "as_json", is_flag=True, help="Print {id, workspace, secret}.")
def create(
    workspace_name: str,
    url: str,
    event_types: tuple[str, ...],
    streams: tuple[str, ...],
    batch_size: int | None,
    basic_user: str | None,
    basic_password: str | None,
    no_verify: bool,
    as_json: bool,
) -> None:
    """Subscribe a URL to the workspace's events (and identity changes); print its id and the
    secret that signs its deliveries, shown only this once."""
    basic = _basic(basic_user, basic_password)
    document = _document(url, event_types, streams, batch_size, basic)

    async def work(service: WebhookService, ws: int) -> Webhook:
        return await service.create(ws, document, verify=not no_verify)

    webhook = _run(workspace_name, work)
    if as_json:
        shown = {"id": webhook.id, "workspace": workspace_name, "secret": webhook.secret}
        click.echo(json.dumps(shown))
        return
    click.echo(f"webhook {webhook.id} created in workspace {workspace_name!r}")
    click.echo(f"secret: {webhook.secret}")
    click.echo("Keep the secret now: it verifies each delivery's signature and is shown only once.")


@webhooks.command("list")
@_workspace
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of subscriptions.")
def list_(workspace_name: str, as_json: bool) -> None:
    """List the workspace's subscriptions: id, status, URL, streams, event types, items waiting
    and items dead-lettered (never their secrets)."""

    async def work(service: WebhookService, ws: int) -> list[tuple[Webhook, Pending]]:
        return await service.listed(ws)

    listed = _run(workspace_name, work)
    if as_json:
        click.echo(json.dumps([views.webhook_json(h, p) for h, p in listed]))
    elif not listed:
        click.echo(
            f"no webhooks yet: footfall webhooks create --workspace {workspace_name} --url URL"
        )
    else:
        views.print_webhooks(listed)


@webhooks.command("show")
@_workspace
@_id
@click.option("--json", "as_json", is_flag=True, help="Print it as GET /api/v1/webhooks/ID does.")
def show(workspace_name: str, webhook_id: int, as_json: bool) -> None:
    """Show a subscription: its settings (not its secret nor its password) and its queue."""

    async def work(service: WebhookService, ws: int) -> tuple[Webhook, Pending]:
        return await service.get(ws, webhook_id), await service.pending(ws, webhook_id)

    webhook, waiting = _run(workspace_name, work, webhook_id)
    if as_json:
        click.echo(json.dumps(views.webhook_json(webhook, waiting)))
    else:
        views.print_webhook(webhook, waiting)


@webhooks.command("update")
@_workspace
@_id
@_spec_options(creating=False)
@click.option("--all-event-types", is_flag=True, help="Deliver events of every type again.")
@click.option("--no-basic-auth", is_flag=True, help="Stop sending HTTP Basic credentials.")
def update(
    workspace_name: str,
    webhook_id: int,
    url: str | None,
    event_types: tuple[str, ...],
    streams: tuple[str, ...],
    batch_size: int | None,
    basic_user: str | None,
    basic_password: str | None,
    no_verify: bool,
    all_event_types: bool,
    no_basic_auth: bool,
) -> None:
    """Change a subscription's settings: what is not given keeps its value; its secret, status
    and waiting items stay. The URL is checked again, unless --no-verify."""
    if all_event_types and event_types:
        raise click.UsageError("--event-type and --all-event-types exclude each other")
    if no_basic_auth and (basic_user is not None or basic_password is not None):
        raise click.UsageError(
            "--basic-user/--basic-password and --no-basic-auth exclude each other"
        )

    async def work(service: WebhookService, ws: int) -> tuple[Webhook, Pending]:
        document = _current((await service.get(ws, webhook_id)).spec)
        if url is not None:
            document["url"] = url
        if event_types or all_event_types:
            document["eventTypes"] = list(event_types)
        if streams:
            document["streams"] = list(streams)
        if batch_size is not None:
            document["batchSize"] = batch_size
        if no_basic_auth:
            document.pop("basicAuth", None)
        elif basic_user is not None or basic_password is not None:
            kept = document.get("basicAuth") or {}
            document["basicAuth"] = _basic(
                kept.get("username") if basic_user is None else basic_user,
                kept.get("password") if basic_password is None else basic_password,
            )
        webhook = await service.update(ws, webhook_id, document, verify=not no_verify)
        return webhook, await service.pending(ws, webhook_id)

    webhook, waiting = _run(workspace_name, work, webhook_id)
    click.echo(f"webhook {webhook.id} updated")
    views.print_webhook(webhook, waiting)


@webhooks.command("delete")
@_workspace
@_id
def delete(workspace_name: str, webhook_id: int) -> None:
    """Remove a subscription, with everything waiting for it and its delivery log."""

    async def work(service: WebhookService, ws: int) -> None:
        await service.delete(ws, webhook_id)

    _run(workspace_name, work, webhook_id)
    click.echo(f"webhook {webhook_id} deleted, with what waited for it and its delivery log")


@webhooks.command("enable")
@_workspace
@_id
def enable(workspace_name: str, webhook_id: int) -> None:
    """Deliver again: what waits is due at once (dead-lettered items stay: see replay)."""
    waiting = _switch(workspace_name, webhook_id, on=True)
    click.echo(f"webhook {webhook_id} enabled: {waiting.pending} items waiting")


@webhooks.command("disable")
@_workspace
@_id
def disable(workspace_name: str, webhook_id: int) -> None:
    """Stop delivering and queueing; what was waiting stays until it is enabled again."""
    waiting = _switch(workspace_name, webhook_id, on=False)
    click.echo(f"webhook {webhook_id} disabled: {waiting.pending} items wait until it is enabled")


def _switch(workspace_name: str, webhook_id: int, on: bool) -> Pending:
    """Enable or disable a subscription; what then waits for it."""

    async def work(service: WebhookService, ws: int) -> Pending:
        await (service.enable if on else service.disable)(ws, webhook_id)
        return await service.pending(ws, webhook_id)

    return _run(workspace_name, work, webhook_id)


@webhooks.command("replay")
@_workspace
@_id
def replay(workspace_name: str, webhook_id: int) -> None:
    """Send the dead-lettered items again, before newer ones, and make the subscription active."""

    async def work(service: WebhookService, ws: int) -> int:
        return await service.replay(ws, webhook_id)

    count = _run(workspace_name, work, webhook_id)
    click.echo(f"webhook {webhook_id} is active: {count} dead-lettered items back in line")


@webhooks.command("deliveries")
@_workspace
@_id
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_ATTEMPTS_PAGE),
    default=100,
    show_default=True,
    help="How many attempts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of attempts.")
def deliveries(workspace_name: str, webhook_id: int, limit: int, as_json: bool) -> None:
    """The latest delivery attempts, newest first: when, the message id (the same on each retry
    of a delivery), the status or error, the latency, the items and when it is tried again."""

    async def work(service: WebhookService, ws: int) -> list[Attempt]:
        return await service.attempts(ws, webhook_id, limit)

    attempts = _run(workspace_name, work, webhook_id)
    if as_json:
        click.echo(json.dumps([views.attempt_json(a) for a in attempts]))
    elif not attempts:
        click.echo(f"no delivery attempts for webhook {webhook_id} yet")
    else:
        views.print_attempts(attempts)
