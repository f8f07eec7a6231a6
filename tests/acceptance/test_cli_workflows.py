"""``footfall workflows`` run as the real command on a fresh SQLite file and a fresh PostgreSQL
database: apply (create, a new version, unchanged, all or nothing), list, export (applies back
unchanged), enable, disable, delete, check; and what the API then shows."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli import Database, last_json

from conftest import BACKENDS, create_postgres_database


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


def flow(name: str, delay: str = "1h") -> dict[str, Any]:
    return {
        "name": name,
        "start": {
            "event": "searchRequest",
            "when": {"param": "isFound", "op": "equals", "value": 0},
        },
        "blocks": [
            {"id": "wait", "type": "timer", "delay": delay},
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
    }


def write(path: Path, content: Any) -> str:
    path.write_text(json.dumps(content))
    return str(path)


def listed(db: Database, workspace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        db.ok("workflows", "list", "--workspace", workspace, "--json").stdout
    )
    return found


def test_apply_list_export_and_apply_again(db: Database, tmp_path: Path) -> None:
    workspace = f"shop-{uuid.uuid4().hex[:8]}"
    last_json(db.ok("workspace", "create", workspace, "--json"))
    both = write(tmp_path / "both.json", [flow("No results"), flow("Second")])

    out = db.ok("workflows", "apply", "--workspace", workspace, both).stdout
    assert "'No results' created (disabled)" in out and "'Second' created (disabled)" in out
    again = db.ok("workflows", "apply", "--workspace", workspace, both).stdout
    assert again.count("unchanged at version 1") == 2

    one = write(tmp_path / "one.json", flow("No results", delay="2h"))
    out = db.ok("workflows", "apply", "--workspace", workspace, one, "--enable").stdout
    assert "updated to version 2 (enabled)" in out
    state = {w["name"]: (w["version"], w["enabled"]) for w in listed(db, workspace)}
    assert state == {"No results": (2, True), "Second": (1, False)}

    exported = db.ok("workflows", "export", "--workspace", workspace, "No results").stdout
    assert json.loads(exported) == flow("No results", delay="2h")
    first = db.ok("workflows", "export", "--workspace", workspace, "No results", "--version", "1")
    assert json.loads(first.stdout) == flow("No results")
    back = write(tmp_path / "back.json", json.loads(exported))
    out = db.ok("workflows", "apply", "--workspace", workspace, back).stdout
    assert "unchanged at version 2 (enabled)" in out

    table = db.ok("workflows", "list", "--workspace", workspace).stdout
    assert "No results" in table and "searchRequest" in table and "enabled" in table

    second_id = str(next(w["id"] for w in listed(db, workspace) if w["name"] == "Second"))
    assert "enabled" in db.ok("workflows", "enable", "--workspace", workspace, second_id).stdout
    assert "disabled" in db.ok("workflows", "disable", "--workspace", workspace, "Second").stdout
    assert "deleted" in db.ok("workflows", "delete", "--workspace", workspace, "Second").stdout
    assert [w["name"] for w in listed(db, workspace)] == ["No results"]
    gone = db.run("workflows", "export", "--workspace", workspace, "Second")
    assert gone.returncode == 1 and "no workflow with id or name 'Second'" in gone.stderr


def test_a_file_applies_whole_or_not_at_all(db: Database, tmp_path: Path) -> None:
    workspace = f"shop-{uuid.uuid4().hex[:8]}"
    db.ok("workspace", "create", workspace)
    broken = flow("Broken")
    broken["edges"][1]["on"] = "later"
    mixed = write(tmp_path / "mixed.json", [flow("Fine"), broken])
    result = db.run("workflows", "apply", "--workspace", workspace, mixed)
    assert result.returncode == 1
    assert "workflow [1]: edges[1].on" in result.stderr and "its branches: next" in result.stderr
    assert listed(db, workspace) == []


def test_check_and_bad_files(db: Database, tmp_path: Path) -> None:
    if db.backend != "sqlite":
        pytest.skip("the command line's own checks: once is enough")
    good = write(tmp_path / "good.json", flow("Good"))
    assert "'Good': valid, 2 blocks" in db.ok("workflows", "check", good).stdout
    bad = write(tmp_path / "bad.json", flow("Bad", delay="soon"))
    result = db.run("workflows", "check", bad)
    assert result.returncode == 1 and "blocks[0].delay" in result.stderr
    (tmp_path / "torn.json").write_text('{"name": ')
    torn = db.run("workflows", "check", str(tmp_path / "torn.json"))
    assert torn.returncode == 1 and "malformed JSON" in torn.stderr
    missing = db.run("workflows", "check", str(tmp_path / "absent.json"))
    assert missing.returncode == 1 and "No such file" in missing.stderr
    nobody = db.run("workflows", "apply", "--workspace", "nobody", good)
    assert nobody.returncode == 1 and "no workspace named 'nobody'" in nobody.stderr


def test_apply_keeps_the_cap_and_names_of_a_whole_file(db: Database, tmp_path: Path) -> None:
    if db.backend != "sqlite":
        pytest.skip("the command line's own checks: once is enough")
    workspace = f"shop-{uuid.uuid4().hex[:8]}"
    db.ok("workspace", "create", workspace)
    env = db.env | {"FOOTFALL_WORKFLOWS_MAX": "3"}
    four = write(tmp_path / "four.json", [flow(f"flow {i}") for i in range(4)])
    result = db.run("workflows", "apply", "--workspace", workspace, four, env=env)
    assert result.returncode == 1 and "nothing was applied" in result.stderr
    assert listed(db, workspace) == []
    twice = write(tmp_path / "twice.json", [flow("same"), flow("same", delay="2h")])
    result = db.run("workflows", "apply", "--workspace", workspace, twice)
    assert result.returncode == 1 and "also that of workflow [0]" in result.stderr
    empty = write(tmp_path / "empty.json", [])
    result = db.run("workflows", "apply", "--workspace", workspace, empty)
    assert result.returncode == 1 and "no workflow in it" in result.stderr
    for odd in ("\u00b2", "\u0661"):  # a superscript two, an Arabic-Indic one
        result = db.run("workflows", "export", "--workspace", workspace, odd)
        assert result.returncode == 1 and f"no workflow with id or name {odd!r}" in result.stderr
    db.ok("workflows", "apply", "--workspace", workspace, write(tmp_path / "one.json", flow("x")))
    huge = db.run("workflows", "export", "--workspace", workspace, "x", "--version", "9" * 20)
    assert huge.returncode == 2 and "Traceback" not in huge.stderr


RECIPES = [
    "abandoned-cart",
    "abandoned-browse",
    "no-results-search",
    "wishlist-reminder",
    "order-follow-up",
    "win-back",
]


def test_recipes_list_print_and_apply(db: Database, tmp_path: Path) -> None:
    if db.backend != "sqlite":
        pytest.skip("the recipes are files of the package: one backend is enough")
    listing = db.ok("workflows", "recipes").stdout.splitlines()
    assert [line.split()[0] for line in listing] == RECIPES
    assert all(line.rstrip().endswith(".") for line in listing)

    workspace = f"shop-{uuid.uuid4().hex[:8]}"
    db.ok("workspace", "create", workspace)
    for name in RECIPES:
        printed = tmp_path / f"{name}.json"
        printed.write_text(db.ok("workflows", "recipes", name).stdout)
        assert json.loads(printed.read_text())["description"]
        out = db.ok("workflows", "apply", "--workspace", workspace, str(printed)).stdout
        assert "created (disabled)" in out
    assert len(listed(db, workspace)) == 6

    hook = "https://crm.example/hooks/cart"
    pointed = db.ok("workflows", "recipes", "abandoned-cart", "--url", hook).stdout
    cart = write(tmp_path / "cart.json", json.loads(pointed))
    out = db.ok("workflows", "apply", "--workspace", workspace, cart).stdout
    assert "'Abandoned cart' updated to version 2 (disabled)" in out
    exported = db.ok("workflows", "export", "--workspace", workspace, "Abandoned cart").stdout
    assert [b["url"] for b in json.loads(exported)["blocks"] if b["type"] == "http"] == [hook]


def test_recipes_refuse_unknown_names_and_bad_urls(db: Database) -> None:
    if db.backend != "sqlite":
        pytest.skip("the command line's own checks: once is enough")
    unknown = db.run("workflows", "recipes", "cart")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert "no recipe named 'cart'; the recipes are: abandoned-cart, " in unknown.stderr
    bad = db.run("workflows", "recipes", "win-back", "--url", "ftp://files.example/")
    assert bad.returncode == 1 and "blocks[1].url must start with http" in bad.stderr
    alone = db.run("workflows", "recipes", "--url", "https://crm.example/")
    assert alone.returncode == 2 and "--url goes with a recipe's NAME" in alone.stderr
