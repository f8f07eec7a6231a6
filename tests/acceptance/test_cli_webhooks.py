"""``footfall webhooks`` run as the real command, on a fresh SQLite file and a fresh PostgreSQL
database, with a real receiver on loopback (FOOTFALL_WEBHOOK_ALLOW_HOSTS=127.0.0.1, so 127.0.0.2
stays refused)."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_cli import FOOTFALL, Database, last_json, start_serve, stop

from conftest import BACKENDS, NO_TLS_HERE, basic, create_postgres_database
from receiver import Receiver, verify

PASSWORD = "s3cret-pass"


@pytest.fixture(params=BACKENDS)
def hooks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh database, and the CLI's environment: it may reach the receivers on 127.0.0.1."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")} | {
        "FOOTFALL_DATA_DIR": str(data_dir),
        "FOOTFALL_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "FOOTFALL_WEBHOOK_TIMEOUT": "3s",
    }
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{data_dir / 'footfall.db'}", env, data_dir)
        return
    url, drop = create_postgres_database()
    try:
        yield Database("postgres", url, env | {"FOOTFALL_DATABASE_URL": url}, data_dir)
    finally:
        drop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def sqlite_only(db: Database) -> None:
    """The command line's own checks do not depend on the backend: once is enough (the API
    tests check the store's answers on both)."""
    if db.backend != "sqlite":
        pytest.skip("a check of the command line itself, run on SQLite only")


def new_workspace(db: Database) -> tuple[str, str]:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    return name, str(last_json(db.ok("workspace", "create", name, "--json"))["api_key"])


def fields(text: str) -> dict[str, str]:
    """``show``'s ``name: value`` lines."""
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def refused(db: Database, *args: str) -> str:
    result = db.run(*args)
    assert result.returncode != 0, (args, result.stdout)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def wait_for_posts(receiver: Receiver, items: int) -> None:
    def enough(requests: list[Any]) -> bool:
        ok = [r for r in requests if r.method == "POST" and r.answered == 200]
        return sum(len(r.json()) for r in ok) >= items

    receiver.wait_for(enough, timeout=20)


def test_a_subscription_from_creation_to_deletion(
    hooks: Database, receiver: Receiver, tmp_path: Path
) -> None:
    name, key = new_workspace(hooks)
    made = hooks.ok(
        "webhooks", "create", "--workspace", name, "--url", receiver.url,
        "--event-type", "ordered", "--batch-size", "5",
    )  # fmt: skip
    assert "footfall: database" in made.stderr
    found = re.search(r"webhook (\d+) created", made.stdout)
    secret = re.search(r"secret: (whsec_\S+)", made.stdout)
    assert found and secret, made.stdout
    hook_id, secret_text = found[1], secret[1]
    assert "shown only once" in made.stdout
    assert [r.method for r in receiver.requests] == ["GET"]  # the URL was checked

    listed = hooks.ok("webhooks", "list", "--workspace", name).stdout
    header, *rows = listed.splitlines()
    assert header.split() == [
        "ID", "STATUS", "URL", "STREAMS", "EVENT", "TYPES", "PENDING", "DEAD-LETTERED"
    ]  # fmt: skip
    assert [row.split() for row in rows] == [
        [hook_id, "active", receiver.url, "events", "ordered", "0", "0"]
    ]
    shown = fields(hooks.ok("webhooks", "show", "--workspace", name, hook_id).stdout)
    assert shown["url"] == receiver.url and shown["batch size"] == "5"
    assert (shown["status"], shown["event types"], shown["basic auth"]) == (
        "active",
        "ordered",
        "-",
    )
    assert secret_text not in listed + str(shown)

    updated = hooks.ok(
        "webhooks", "update", "--workspace", name, hook_id, "--batch-size", "1",
        "--stream", "identity", "--stream", "events", "--basic-user", "hooker",
        "--basic-password", PASSWORD,
    ).stdout  # fmt: skip
    shown = fields(updated)
    assert (shown["url"], shown["event types"]) == (receiver.url, "ordered")  # kept
    assert (shown["batch size"], shown["streams"]) == ("1", "events,identity")
    assert shown["basic auth"] == "hooker (password not shown)"
    assert PASSWORD not in updated and secret_text not in updated

    assert "disabled" in hooks.ok("webhooks", "disable", "--workspace", name, hook_id).stdout
    as_json = json.loads(hooks.ok("webhooks", "list", "--workspace", name, "--json").stdout)
    assert [(h["id"], h["status"]) for h in as_json] == [(int(hook_id), "disabled")]
    assert "enabled" in hooks.ok("webhooks", "enable", "--workspace", name, hook_id).stdout
    shown_json = json.loads(
        hooks.ok("webhooks", "show", "--workspace", name, hook_id, "--json").stdout
    )
    assert shown_json["status"] == "active" and shown_json["basicAuth"] == {"username": "hooker"}
    assert shown_json["eventTypes"] == ["ordered"] and shown_json["batchSize"] == 1

    assert (
        "no delivery attempts"
        in hooks.ok("webhooks", "deliveries", "--workspace", name, hook_id).stdout
    )
    served = start_serve(hooks, tmp_path / "serve.log")
    try:
        for n, kind in enumerate(["ordered", "visited", "ordered"]):
            event = {"eventTypeKey": kind, "keyValue": f"k{n}@example.com", "params": []}
            sent = httpx.post(
                f"{served.url}/api/v2/event", json=event, headers=basic(key), verify=NO_TLS_HERE
            )
            assert sent.status_code == 200, sent.text
        wait_for_posts(receiver, 2)
        deadline = time.monotonic() + 10
        while len(attempts := json.loads(hooks.ok(
            "webhooks", "deliveries", "--workspace", name, hook_id, "--json"
        ).stdout)) < 2:  # fmt: skip
            assert time.monotonic() < deadline, attempts
            time.sleep(0.2)
    finally:
        stop(served.process)
    posts = receiver.posts()
    # Signed with the secret printed at creation (update kept it), one item each (batch size 1).
    assert [item["keyValue"] for p in posts for item in verify(secret_text, p)] == [
        "k0@example.com", "k2@example.com"
    ]  # fmt: skip
    token = base64.b64encode(f"hooker:{PASSWORD}".encode()).decode()
    assert {p.headers["authorization"] for p in posts} == {f"Basic {token}"}
    assert [(a["statusCode"], a["items"]) for a in attempts] == [(200, 1), (200, 1)]
    text = hooks.ok("webhooks", "deliveries", "--workspace", name, hook_id, "--limit", "1").stdout
    header, *rows = text.splitlines()
    assert header.split()[:3] == ["AT", "MESSAGE", "ID"] and len(rows) == 1
    assert rows[0].split()[1:3] == [attempts[0]["messageId"], "200"]

    cleared = hooks.ok(
        "webhooks", "update", "--workspace", name, hook_id, "--all-event-types",
        "--no-basic-auth", "--no-verify",
    ).stdout  # fmt: skip
    assert fields(cleared)["event types"] == "all" and fields(cleared)["basic auth"] == "-"

    deleted = hooks.ok("webhooks", "delete", "--workspace", name, hook_id)
    assert f"webhook {hook_id} deleted" in deleted.stdout
    assert f"no webhook {hook_id} in workspace" in refused(
        hooks, "webhooks", "show", "--workspace", name, hook_id
    )
    assert "no webhooks yet" in hooks.ok("webhooks", "list", "--workspace", name).stdout
    assert json.loads(hooks.ok("webhooks", "list", "--workspace", name, "--json").stdout) == []


def test_a_url_outside_the_allow_list_is_refused(hooks: Database) -> None:
    sqlite_only(hooks)
    name, _ = new_workspace(hooks)
    with Receiver(host="127.0.0.2") as outside:
        for verify_flag in ([], ["--no-verify"]):
            says = refused(
                hooks, "webhooks", "create", "--workspace", name, "--url", outside.url, *verify_flag
            )
            assert "--url:" in says and "FOOTFALL_WEBHOOK_ALLOW_HOSTS" in says, says
        assert outside.requests == []  # refused before connecting
    assert "no webhooks yet" in hooks.ok("webhooks", "list", "--workspace", name).stdout


def test_the_url_must_answer_unless_no_verify(hooks: Database, receiver: Receiver) -> None:
    sqlite_only(hooks)
    name, _ = new_workspace(hooks)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    says = refused(hooks, "webhooks", "create", "--workspace", name, "--url", closed)
    assert "did not answer" in says and "--no-verify" in says
    receiver.status(404)
    says = refused(hooks, "webhooks", "create", "--workspace", name, "--url", receiver.url)
    assert "404" in says
    made = last_json(
        hooks.ok(
            "webhooks", "create", "--workspace", name, "--url", closed, "--no-verify", "--json"
        )
    )
    assert made["secret"].startswith("whsec_") and made["workspace"] == name
    listed = json.loads(hooks.ok("webhooks", "list", "--workspace", name, "--json").stdout)
    assert [(h["id"], h["url"]) for h in listed] == [(made["id"], closed)]
    assert "secret" not in listed[0]


INVALID = [
    (["--url", "ftp://127.0.0.1/hook"], "--url: webhook URL must use http or https"),
    (["--url", "http://u:p@127.0.0.1/hook"], "--url: webhook URL must not contain"),
    (["--batch-size", "0"], "--batch-size: batchSize must be an integer from 1 to 1000"),
    (["--batch-size", "1001"], "--batch-size"),
    (["--batch-size", "ten"], "--batch-size"),
    (["--stream", "audit"], "--stream"),
    (["--event-type", ""], "--event-type: eventTypes"),
    (["--basic-user", "u"], "--basic-user and --basic-password go together"),
    (["--basic-user", "a:b", "--basic-password", "p"], "--basic-user: basicAuth.username"),
]


def test_invalid_options_are_refused_naming_them(hooks: Database) -> None:
    sqlite_only(hooks)
    name, _ = new_workspace(hooks)
    for args, says in INVALID:
        url = [] if "--url" in args else ["--url", "http://127.0.0.1:9/hook"]
        create = ("webhooks", "create", "--workspace", name, *url, *args, "--no-verify")
        message = refused(hooks, *create)
        assert says in message, (args, message)
    assert "no webhooks yet" in hooks.ok("webhooks", "list", "--workspace", name).stdout


COMMANDS = [
    ["show"],
    ["update", "--batch-size", "3", "--no-verify"],
    ["delete"],
    ["enable"],
    ["disable"],
    ["replay"],
    ["deliveries"],
]


def test_an_unknown_id_or_workspace_is_refused_by_every_command(hooks: Database) -> None:
    sqlite_only(hooks)
    name, _ = new_workspace(hooks)
    other, _ = new_workspace(hooks)
    theirs = last_json(
        hooks.ok(
            "webhooks", "create", "--workspace", other, "--url", "http://127.0.0.1:9/hook",
            "--no-verify", "--json",
        )
    )["id"]  # fmt: skip
    for command, *rest in COMMANDS:
        for hook_id in ("999999", str(theirs)):  # never made; another workspace's
            says = refused(hooks, "webhooks", command, "--workspace", name, hook_id, *rest)
            assert f"no webhook {hook_id} in workspace '{name}'" in says, (command, says)
    for args in (["list"], ["show", "1"], ["create", "--url", "http://127.0.0.1:9/hook"]):
        says = refused(hooks, "webhooks", *args, "--workspace", "no-such-shop")
        assert "no workspace named 'no-such-shop'" in says
    assert "ID" in refused(hooks, "webhooks", "show", "--workspace", name, "x")
    assert "--workspace" in refused(hooks, "webhooks", "list")
    shown = json.loads(hooks.ok("webhooks", "list", "--workspace", other, "--json").stdout)
    assert [(h["id"], h["status"], h["batchSize"]) for h in shown] == [(theirs, "active", 100)]


def test_update_refuses_contradictory_options(hooks: Database) -> None:
    sqlite_only(hooks)
    name, _ = new_workspace(hooks)
    made = last_json(
        hooks.ok(
            "webhooks", "create", "--workspace", name, "--url", "http://127.0.0.1:9/hook",
            "--no-verify", "--json",
        )
    )  # fmt: skip
    hook_id = str(made["id"])
    for args, says in [
        (["--event-type", "a", "--all-event-types"], "exclude each other"),
        (["--basic-user", "u", "--no-basic-auth"], "exclude each other"),
        (["--basic-user", "u"], "--basic-user and --basic-password go together"),
    ]:
        message = refused(hooks, "webhooks", "update", "--workspace", name, hook_id, *args)
        assert says in message, message


def test_the_streams_of_the_command_line_are_those_of_the_specs() -> None:
    from footfall.cli import webhooks
    from footfall.webhooks import specs

    assert webhooks.STREAMS == specs.STREAMS


def test_status_shows_consumer_lag_and_the_backlog(
    hooks: Database, receiver: Receiver, tmp_path: Path
) -> None:
    name, key = new_workspace(hooks)
    hooks.ok("webhooks", "create", "--workspace", name, "--url", receiver.url)
    receiver.down()  # what the worker fans out waits
    log = tmp_path / "status.log"
    server = start_serve(hooks, log, 30, "--no-worker")  # nobody consumes the feed
    try:
        with httpx.Client(
            base_url=server.url, headers=basic(key), timeout=10, verify=NO_TLS_HERE
        ) as api:
            for n in range(3):
                event = {"eventTypeKey": "visited", "keyValue": f"k{n}"}
                assert api.post("/api/v2/event", json=event).status_code == 200
        time.sleep(0.3)
        before = last_json(hooks.ok("status", "--json"))
        assert before["consumers"]["webhooks:events"]["behind"] == 3
        assert before["consumers"]["webhooks:events"]["oldestSeconds"] > 0
        assert before["itemsWaiting"] == 0
        with log.open("ab") as out:
            worker = subprocess.Popen(
                [str(FOOTFALL), "worker"], env=hooks.env, stdout=out, stderr=out
            )
        try:
            deadline = time.monotonic() + 20
            while (after := last_json(hooks.ok("status", "--json")))["itemsWaiting"] < 3:
                assert time.monotonic() < deadline, after
                time.sleep(0.2)
        finally:
            stop(worker)
        assert after["consumers"]["webhooks:events"] == {"behind": 0, "oldestSeconds": None}
        text = hooks.ok("status").stdout
        assert "consumer webhooks:events: 0 behind, caught up" in text
        assert "webhook items waiting: 3" in text
    finally:
        stop(server.process)
