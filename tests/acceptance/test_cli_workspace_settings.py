"""``footfall workspace settings`` run as the real command on a fresh SQLite file and a fresh
PostgreSQL database: show, set, change one, clear, refusals naming the option; and the API of a
running server sees what the command set, and the command what the API set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_cli import Database, last_json, start_serve, stop

from conftest import BACKENDS, NO_TLS_HERE, basic, create_postgres_database

SETTINGS = "/api/v1/workspace/settings"


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")} | {
        "FOOTFALL_DATA_DIR": str(data_dir),
    }
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{data_dir / 'footfall.db'}", env, data_dir)
        return
    url, drop = create_postgres_database()
    try:
        yield Database("postgres", url, env | {"FOOTFALL_DATABASE_URL": url}, data_dir)
    finally:
        drop()


def created(db: Database) -> tuple[str, str]:
    """A new workspace's name and full key."""
    name = f"shop-{uuid.uuid4().hex[:8]}"
    return name, str(last_json(db.ok("workspace", "create", name, "--json"))["api_key"])


def test_show_set_change_one_and_clear(db: Database) -> None:
    name, _key = created(db)
    shown = last_json(db.ok("workspace", "settings", name, "--json"))
    assert shown == {"workspace": name, "timeZone": "UTC", "allowedHours": None}
    text = db.ok("workspace", "settings", name).stdout
    assert text.splitlines() == [f"workspace: {name}", "time zone: UTC", "allowed hours: any time"]

    both = db.ok(
        "workspace",
        "settings",
        name,
        "--time-zone",
        "Europe/Kyiv",
        "--allowed-hours",
        "09:00-21:00",
    ).stdout
    assert "time zone: Europe/Kyiv" in both and "allowed hours: 09:00-21:00" in both

    zone = last_json(db.ok("workspace", "settings", name, "--time-zone", "Asia/Tokyo", "--json"))
    assert zone["timeZone"] == "Asia/Tokyo"
    assert zone["allowedHours"] == {"from": "09:00", "to": "21:00"}

    night = last_json(
        db.ok("workspace", "settings", name, "--allowed-hours", "22:00-06:00", "--json")
    )
    assert night == {
        "workspace": name,
        "timeZone": "Asia/Tokyo",
        "allowedHours": {"from": "22:00", "to": "06:00"},
    }
    cleared = last_json(db.ok("workspace", "settings", name, "--any-time", "--json"))
    assert cleared == {"workspace": name, "timeZone": "Asia/Tokyo", "allowedHours": None}
    rows = db.rows(
        f"SELECT time_zone, allowed_from, allowed_to FROM workspaces WHERE name = '{name}'"
    )
    assert rows == [("Asia/Tokyo", None, None)]


REFUSALS = [
    (["--time-zone", "Mars/Olympus"], "--time-zone"),
    (["--time-zone", "localtime"], "--time-zone"),
    (["--time-zone", "/etc/localtime"], "--time-zone"),
    (["--time-zone", ""], "--time-zone"),
    (["--allowed-hours", "9-21"], "--allowed-hours"),
    (["--allowed-hours", "09:00"], "--allowed-hours"),
    (["--allowed-hours", "09:00-09:00"], "--allowed-hours"),
    (["--allowed-hours", "09:00-21:00", "--any-time"], "not both"),
]


def test_refusals_name_the_option_and_change_nothing(db: Database) -> None:
    name, _key = created(db)
    db.ok("workspace", "settings", name, "--time-zone", "Europe/Kyiv")
    for args, says in REFUSALS:
        result = db.run("workspace", "settings", name, *args)
        assert result.returncode != 0, args
        assert says in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    shown = last_json(db.ok("workspace", "settings", name, "--json"))
    assert (shown["timeZone"], shown["allowedHours"]) == ("Europe/Kyiv", None)


def test_an_unknown_workspace_is_refused(db: Database) -> None:
    db.ok("migrate")
    result = db.run("workspace", "settings", "no-such-shop", "--time-zone", "UTC")
    assert result.returncode == 1
    assert "no-such-shop" in result.stderr and "Traceback" not in result.stderr


def test_the_api_and_the_command_see_the_same_settings(db: Database, tmp_path: Path) -> None:
    name, key = created(db)
    served = start_serve(db, tmp_path / "serve.log")
    try:
        db.ok(
            "workspace",
            "settings",
            name,
            "--time-zone",
            "Europe/Kyiv",
            "--allowed-hours",
            "08:00-20:00",
        )
        with httpx.Client(
            base_url=served.url, headers=basic(key), timeout=30, verify=NO_TLS_HERE
        ) as api:
            assert api.get(SETTINGS).json() == {
                "timeZone": "Europe/Kyiv",
                "allowedHours": {"from": "08:00", "to": "20:00"},
            }
            changed = api.put(SETTINGS, json={"timeZone": "America/New_York", "allowedHours": None})
            assert changed.status_code == 200, changed.text
    finally:
        stop(served.process)
    shown = last_json(db.ok("workspace", "settings", name, "--json"))
    assert (shown["timeZone"], shown["allowedHours"]) == ("America/New_York", None)
