"""The command line: ``footfall serve|worker|migrate|workspace create|list|key create|events
replay-failed``.

Each command imports what it needs when it runs: ``footfall --help`` loads neither the store,
the web layer nor jsonschema (tests/acceptance/test_cli.py checks it). Every command that
touches the database says which one on stderr first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from footfall.config import Settings
from footfall.exceptions import FootfallError

if TYPE_CHECKING:
    from footfall import access
    from footfall.store import Store

# access.SCOPES, which cannot be imported here without the store (a test keeps them equal)
SCOPES = ("events", "full")


def _settings() -> Settings:
    """The settings, once the database they name is printed."""
    try:
        settings = Settings.from_env()
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"footfall: database {settings.database_label()}", err=True)
    return settings


def _migrate(settings: Settings) -> None:
    from footfall.store import migrate

    try:
        migrate(settings)
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _store(settings: Settings | None = None) -> Iterator[Store]:
    """The migrated store; a FootfallError inside becomes a message and exit status 1."""
    from footfall.store import open_store

    settings = settings or _settings()
    _migrate(settings)
    store = open_store(settings)
    try:
        yield store
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


def _print_key(issued: access.IssuedKey, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"workspace": issued.workspace, "api_key": issued.api_key}))
    else:
        click.echo(f"workspace: {issued.workspace}")
        click.echo(f"api key ({issued.scope}): {issued.api_key}")
        click.echo("Keep the key now: only its hash is stored.")


@click.group()
@click.version_option(package_name="footfall", prog_name="footfall")
def main() -> None:
    """Footfall: behavioural events in, durably stored, tied to contacts."""


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

    settings = _settings()
    try:
        sock = serving.listen(host, port)  # first: an address in use stops us before anything
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    with sock:
        _migrate(settings)
        click.echo(f"footfall: listening on {serving.url(sock)}", err=True)
        if not serving.run(sock, workers, background=not no_worker):
            raise click.ClickException("the service did not start (see the log above)")


@main.command()
def worker() -> None:
    """Migrate the database, then run the background jobs until SIGTERM or SIGINT."""
    from footfall import logs
    from footfall.background.worker import run_worker

    settings = _settings()
    _migrate(settings)
    logs.configure(settings.log_level)
    run_worker(settings)


@main.command()
def migrate() -> None:
    """Apply schema migrations (safe to run from several processes at once)."""
    _migrate(_settings())
    click.echo("database is up to date")


@main.group()
def workspace() -> None:
    """Manage workspaces."""


@workspace.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print {workspace, api_key} as JSON.")
def workspace_create(name: str, as_json: bool) -> None:
    """Create a workspace and its first full-access API key."""
    from footfall import access

    with _store() as store:
        _print_key(access.create_workspace(store.access, name), as_json)


@workspace.command("list")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {workspaces: [{workspace, created, active_keys}]}.",
)
def workspace_list(as_json: bool) -> None:
    """List the workspaces: name, creation time (UTC) and number of keys not revoked."""
    from footfall.ingest.dates import from_us

    with _store() as store:
        listed = store.access.list_workspaces()
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


@main.group()
def key() -> None:
    """Manage API keys."""


@key.command("create")
@click.argument("workspace_name", metavar="WORKSPACE")
@click.option("--scope", type=click.Choice(SCOPES), default="events", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print {workspace, api_key} as JSON.")
def key_create(workspace_name: str, scope: str, as_json: bool) -> None:
    """Create another API key for a workspace."""
    from footfall import access

    with _store() as store:
        _print_key(access.create_key(store.access, workspace_name, scope), as_json)


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
    settings = _settings()
    with _store(settings) as store:
        workspace_id = None
        if workspace_name is not None:
            workspace_id = store.access.workspace_id(workspace_name)
            if workspace_id is None:
                raise click.ClickException(f"no workspace named {workspace_name!r}")
        selection = ReplaySelection(type_key, workspace_id=workspace_id, since_us=since_us)
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
