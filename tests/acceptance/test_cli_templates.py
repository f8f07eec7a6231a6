"""``footfall templates`` on a fresh SQLite file and a fresh PostgreSQL database: apply (create,
replace, unchanged, all or nothing, errors with the part and the line), list, export (applies
back unchanged); what the API then shows is the same templates (the same service)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from test_cli import Database, last_json
from test_cli_workflows import db, write

__all__ = ["db"]  # the fixture, shared with the workflows' commands


def template(name: str, text: str = "Hi $!contact.firstName") -> dict[str, Any]:
    return {"name": name, "channel": "sms", "syntax": "velocity", "text": text}


def listed(db: Database, workspace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        db.ok("templates", "list", "--workspace", workspace, "--json").stdout
    )
    return found


def test_apply_list_export_and_apply_again(db: Database, tmp_path: Path) -> None:
    workspace = f"shop-{uuid.uuid4().hex[:8]}"
    last_json(db.ok("workspace", "create", workspace, "--json"))
    both = write(tmp_path / "both.json", [template("Welcome"), template("Cart")])
    out = db.ok("templates", "apply", "--workspace", workspace, both).stdout
    assert "'Welcome' created" in out and "'Cart' created" in out
    assert (
        db.ok("templates", "apply", "--workspace", workspace, both).stdout.count("unchanged") == 2
    )

    one = write(tmp_path / "one.json", template("Cart", "$data.get('products').size() items"))
    assert "'Cart' updated" in db.ok("templates", "apply", "--workspace", workspace, one).stdout
    assert [(t["name"], t["channel"]) for t in listed(db, workspace)] == [
        ("Welcome", "sms"),
        ("Cart", "sms"),
    ]
    exported = json.loads(db.ok("templates", "export", "--workspace", workspace, "Cart").stdout)
    assert exported["text"] == "$data.get('products').size() items"
    back = write(tmp_path / "back.json", exported)
    assert "unchanged" in db.ok("templates", "apply", "--workspace", workspace, back).stdout
    table = db.ok("templates", "list", "--workspace", workspace).stdout
    assert "Welcome" in table and "velocity" in table
    gone = db.run("templates", "export", "--workspace", workspace, "Nope")
    assert gone.returncode == 1 and "no template with id or name 'Nope'" in gone.stderr


def test_a_file_applies_whole_or_not_at_all(db: Database, tmp_path: Path) -> None:
    workspace = f"shop-{uuid.uuid4().hex[:8]}"
    last_json(db.ok("workspace", "create", workspace, "--json"))
    broken = template("Broken", "line one\n#foreach($p in $data)\nno end")
    path = write(tmp_path / "mixed.json", [template("Fine"), broken])
    refused = db.run("templates", "apply", "--workspace", workspace, path)
    assert refused.returncode == 1
    assert "template [1]: text, line 3: " in refused.stderr, refused.stderr
    twice = write(tmp_path / "twice.json", [template("Same"), template("Same")])
    refused = db.run("templates", "apply", "--workspace", workspace, twice)
    assert refused.returncode == 1 and "is also that of template [0]" in refused.stderr
    odd = write(tmp_path / "odd.json", {"name": "x", "channel": "sms", "text": "t", "extra": 1})
    refused = db.run("templates", "apply", "--workspace", workspace, odd)
    assert refused.returncode == 1 and "unknown field" in refused.stderr
    assert listed(db, workspace) == []
