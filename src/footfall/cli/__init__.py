"""The command line: ``footfall serve|worker|migrate|workspace create|list|settings|key create|
events replay-failed`` here, ``footfall webhooks …`` in ``cli.webhooks``; ``cli.common`` holds what they
share.

Each command imports what it needs when it runs: ``footfall --help`` loads neither the store,
the web layer nor jsonschema (tests/acceptance/test_cli.py checks it). Every command that
touches the database says which one on stderr first.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from footfall.cli import templates, webhooks, workflows
from footfall.cli.common import (
    load_settings,
    migrate_database,
    migrated_store,
    when,
    workspace_id,
)
from footfall.exceptions import FootfallError

if TYPE_CHECKING:
    from footfall import access
    from footfall.store.rows import KeyRecord

# access.SCOPES and access.MAX_GRACE_SECONDS, which cannot be imported here without the store
# (a test keeps them equal)
SCOPES = ("events", "full")
MAX_GRACE_SECONDS = 7 * 86_400


def _print_key(issued: access.IssuedKey, as_json: bool) -> None:
    if as_json:
        shown = {"workspace": issued.workspace, "api_key": issued.api_key, "scope": issued.scope}
        click.echo(json.dumps(shown | {"id": issued.key_id}))
    else:
        click.echo(f"workspace: {issued.workspace}")
        click.echo(f"api key {issued.key_id} ({issued.scope}): {issued.api_key}")
        click.echo("Keep the key now: only its hash is stored.")


@click.group()
@click.version_option(package_name="footfall", prog_name="footfall")
def main() -> None:
    """Footfall: behavioural events in, durably stored, tied to contacts."""


main.add_command(webhooks.webhooks)
main.add_command(workflows.workflows)
main.add_command(templates.templates)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Service processes."
)
@click.option(
    "--no-worker",
    "no_worker",
    is_flag=True,
    help="Leave background jobs to `footfall worker` processes.",
)
def serve(host: str, port: int, workers: int, no_worker: bool) -> None:
    """Migrate the database, then serve the HTTP API (and run the background jobs, once per
    deployment, unless --no-worker)."""
    from footfall import serving

    settings = load_settings()
    try:
        sock = serving.listen(host, port)  # first: an address in use stops us before anything
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    with sock:
        migrate_database(settings)
        click.echo(f"footfall: listening on {serving.url(sock)}", err=True)
        background, limit = not no_worker, settings.max_connections
        if not serving.run(sock, workers, background=background, max_connections=limit):
            raise click.ClickException("the service did not start (see the log above)")


@main.command()
def worker() -> None:
    """Migrate the database, then run the background jobs until SIGTERM or SIGINT."""
    from footfall import logs
    from footfall.background.worker import run_worker

    settings = load_settings()
    migrate_database(settings)
    logs.configure(settings.log_level)
    run_worker(settings)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def status(as_json: bool) -> None:
    """What the background work has yet to do: each feed consumer's lag, the webhook backlog."""
    from footfall.background.status import read_status

    with migrated_store() as store:
        found = read_status(store)
    if as_json:
        consumers = {
            name: {"behind": lag.behind, "oldestSeconds": lag.oldest_seconds}
            for name, lag in found.consumers.items()
        }
        figures = {
            "consumers": consumers,
            "deliveriesDue": found.deliveries_due,
            "itemsWaiting": found.items_waiting,
        }
        click.echo(json.dumps(figures))
        return
    for name, lag in found.consumers.items():
        age = "caught up" if lag.oldest_seconds is None else f"oldest {lag.oldest_seconds:.1f} s"
        click.echo(f"consumer {name}: {lag.behind} behind, {age}")
    click.echo(f"webhook deliveries due: {found.deliveries_due}")
    click.echo(f"webhook items waiting: {found.items_waiting}")


@main.command()
def migrate() -> None:
    """Apply schema migrations (safe to run from several processes at once)."""
    migrate_database(load_settings())
    click.echo("database is up to date")


@main.group()
def workspace() -> None:
    """Manage workspaces."""


@workspace.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print {workspace, api_key, scope, id}.")
def workspace_create(name: str, as_json: bool) -> None:
    """Create a workspace and its first full-access API key."""
    from footfall import access

    with migrated_store() as store:
        _print_key(access.create_workspace(store.access, name), as_json)


@workspace.command("list")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {workspaces: [{workspace, created, active_keys}]}.",
)
def workspace_list(as_json: bool) -> None:
    """List the workspaces: name, creation time (UTC) and number of keys that work."""
    from footfall.clock import now_us
    from footfall.ingest.dates import from_us

    with migrated_store() as store:
        listed = store.access.list_workspaces(now_us())
    rows = [
        {"workspace": w.name, "created": from_us(w.created_us), "active_keys": w.active_keys}
        for w in listed
    ]
    if as_json:
        click.echo(json.dumps({"workspaces": rows}))
        return
    if not rows:
        click.echo("no workspaces yet: footfall workspace create NAME")
        return
    width = max(len("WORKSPACE"), *(len(w.name) for w in listed))
    click.echo(f"{'WORKSPACE':<{width}}  {'CREATED':<24}  ACTIVE KEYS")
    for row in rows:
        click.echo(f"{row['workspace']:<{width}}  {row['created']:<24}  {row['active_keys']}")


@workspace.command("settings")
@click.argument("name")
@click.option("--time-zone", default=None, help="An IANA time zone, e.g. Europe/Kyiv.")
@click.option("--allowed-hours", default=None, metavar="HH:MM-HH:MM", help="When actions may run.")
@click.option("--any-time", is_flag=True, help="Clear the allowed hours: actions run any time.")
@click.option("--json", "as_json", is_flag=True, help="Print {workspace, timeZone, allowedHours}.")
def workspace_settings(
    name: str, time_zone: str | None, allowed_hours: str | None, any_time: bool, as_json: bool
) -> None:
    """Show a workspace's time zone and allowed hours for workflows, after changing those given.

    Timers fall due in a contact's time zone when it has one, else in the workspace's; actions
    due outside the allowed hours wait for the next window.
    """
    from footfall.store.workspace_settings import UNCHANGED, Unchanged
    from footfall.workspace_timing import check_time_zone, parse_hours_range

    if allowed_hours is not None and any_time:
        raise click.UsageError("give --allowed-hours or --any-time, not both")
    try:
        zone = UNCHANGED if time_zone is None else check_time_zone(time_zone, "--time-zone")
        hours = None if allowed_hours is None else parse_hours_range(allowed_hours)
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    allowed: tuple[str, str] | Unchanged | None = None if any_time else (hours or UNCHANGED)
    with migrated_store() as store:
        ws = workspace_id(store, name)
        timing = store.workspace_settings.update(ws, time_zone=zone, allowed=allowed)
    _print_settings(name, timing.time_zone, timing.allowed, as_json)


def _print_settings(
    name: str, time_zone: str, allowed: tuple[str, str] | None, as_json: bool
) -> None:
    if as_json:
        window = None if allowed is None else {"from": allowed[0], "to": allowed[1]}
        click.echo(json.dumps({"workspace": name, "timeZone": time_zone, "allowedHours": window}))
        return
    click.echo(f"workspace: {name}")
    click.echo(f"time zone: {time_zone}")
    click.echo(f"allowed hours: {'any time' if allowed is None else '-'.join(allowed)}")


@main.group()
def key() -> None:
    """Manage API keys."""


@key.command("create")
@click.argument("workspace_name", metavar="WORKSPACE")
@click.option("--scope", type=click.Choice(SCOPES), default="events", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print {workspace, api_key, scope, id}.")
def key_create(workspace_name: str, scope: str, as_json: bool) -> None:
    """Create another API key for a workspace."""
    from footfall import access

    with migrated_store() as store:
        _print_key(access.create_key(store.access, workspace_name, scope), as_json)


def _key_line(record: KeyRecord, now: int) -> str:
    state = "active"
    if record.revoked_us is not None:
        state = "revoked" if record.revoked_us <= now else "retiring"
    return (
        f"{record.key_id:>6}  {record.prefix}…  {record.scope:<6}  {state:<8}  "
        f"created {when(record.created_us)}  last used {when(record.last_used_us)}"
        + ("" if record.revoked_us is None else f"  until {when(record.revoked_us)}")
    )


def _key_json(record: KeyRecord) -> dict[str, object]:
    """As ``GET /api/v1/keys`` lists it (without importing the web layer: the CLI starts faster)."""
    from footfall.ingest.dates import from_us

    return {
        "id": record.key_id,
        "workspace": record.workspace,
        "scope": record.scope,
        "prefix": record.prefix,
        "created": from_us(record.created_us),
        "lastUsed": None if record.last_used_us is None else from_us(record.last_used_us),
        "revoked": None if record.revoked_us is None else from_us(record.revoked_us),
    }


@key.command("list")
@click.option("--workspace", "workspace_name", required=True, help="The workspace's name.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of keys.")
def key_list(workspace_name: str, as_json: bool) -> None:
    """List a workspace's keys, newest first, revoked ones included (never their secrets)."""
    from footfall import access
    from footfall.clock import now_us

    with migrated_store() as store:
        records = access.all_keys(store.access, workspace_id(store, workspace_name))
    if as_json:
        click.echo(json.dumps([_key_json(r) for r in records]))
        return
    now = now_us()
    for record in records:
        click.echo(_key_line(record, now))


@key.command("revoke")
@click.argument("key_id", type=click.IntRange(1, 2**63 - 1))
def key_revoke(key_id: int) -> None:
    """Revoke a key and its bearer tokens: refused at once by new processes, and by running
    ones within FOOTFALL_KEY_CACHE_SECONDS."""
    from footfall import access

    with migrated_store() as store:
        record = access.revoke_key(store.access, key_id)
    click.echo(f"key {record.key_id} ({record.prefix}…, {record.workspace}) revoked")


@key.command("rotate")
@click.argument("key_id", type=click.IntRange(1, 2**63 - 1))
@click.option(
    "--grace",
    type=click.IntRange(0, MAX_GRACE_SECONDS),
    default=0,
    show_default=True,
    help="Seconds the old key keeps working.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {workspace, api_key, scope, id}.")
def key_rotate(key_id: int, grace: int, as_json: bool) -> None:
    """Issue a new key with the same workspace and scope, and revoke the old one after --grace
    seconds (at once by default)."""
    from footfall import access

    with migrated_store() as store:
        issued = access.rotate_key(store.access, key_id, grace_seconds=grace)
    _print_key(issued, as_json)


@main.group()
def events() -> None:
    """Work with stored and failed events."""


@events.command("replay-failed")
@click.option("--type", "type_key", required=True, help="The event type whose failures to replay.")
@click.option("--since", default=None, help="Only failures received since (ISO 8601).")
@click.option("--workspace", "workspace_name", default=None, help="Only this workspace.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome of each as JSON.")
def replay_failed_events(
    type_key: str, since: str | None, workspace_name: str | None, as_json: bool
) -> None:
    """Re-submit failed events of a type under its current rules; each is accepted once."""
    from footfall.clock import now_us
    from footfall.eventtypes.replay import replay_failed
    from footfall.ingest.dates import parse_iso, to_us
    from footfall.store.registry import ReplaySelection

    since_us = None
    if since is not None:
        moment = parse_iso(since)
        if moment is None:
            raise click.BadParameter(f"not an ISO 8601 date: {since!r}", param_hint="--since")
        since_us = to_us(moment)
    settings = load_settings()
    with migrated_store(settings) as store:
        ws = None if workspace_name is None else workspace_id(store, workspace_name)
        selection = ReplaySelection(type_key, workspace_id=ws, since_us=since_us)
        results = replay_failed(store.types, selection, now_us(), settings.past_events_max_age_days)
    accepted = sum(1 for r in results if r.accepted)
    if as_json:
        outcome = [{"id": r.id, "accepted": r.accepted, "error": r.error} for r in results]
        click.echo(
            json.dumps(
                {"replayed": accepted, "failed": len(results) - accepted, "results": outcome}
            )
        )
        return
    for result in results:
        if not result.accepted:
            click.echo(f"failed event {result.id} still refused: {result.error}", err=True)
    click.echo(f"replayed {accepted} of {len(results)} failed events of type {type_key!r}")
