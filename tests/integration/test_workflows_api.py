"""The workflow API on the shared servers, on SQLite and PostgreSQL: create, check, list, get
(current and earlier versions), update (a version per change, none for an equal document),
enable, disable, delete; refusals naming the field; scopes, workspaces apart, and the bounds."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import httpx
import pytest

from conftest import LiveServer, Workspace
from footfall.store import Store
from footfall.store.workflows import KEEP_VERSIONS

FLOWS = "/api/v1/workflows"


def document(name: str = "Abandoned browse", hours: str = "2h") -> dict[str, Any]:
    return {
        "name": name,
        "start": {"event": "productViewed", "repeat": "oncePerContact"},
        "stop": {"events": ["cartUpdated"]},
        "blocks": [
            {"id": "wait", "type": "timer", "delay": hours},
            {
                "id": "call",
                "type": "http",
                "url": "https://shop.example/browse/{{ contact.id }}",
                "body": {"product": "{{ event.params.productKey }}"},
            },
            {"id": "done", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "wait"},
            {"from": "wait", "to": "call"},
            {"from": "call", "to": "done"},
        ],
    }


def created(api: httpx.Client, body: dict[str, Any], **params: str) -> dict[str, Any]:
    answer = api.post(FLOWS, json=body, params=params)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_create_get_list_and_the_document_as_given(api: httpx.Client) -> None:
    source = document()
    made = created(api, source)
    assert (made["name"], made["enabled"], made["version"]) == ("Abandoned browse", False, 1)
    assert made["startEvent"] == "productViewed"
    assert made["definition"] == source and made["shownVersion"] == 1

    got = api.get(f"{FLOWS}/{made['id']}")
    assert got.status_code == 200
    assert got.json()["definition"] == source
    assert list(got.json()["definition"]) == list(source)  # its key order too

    listed = api.get(FLOWS).json()
    assert [(w["id"], w["name"], w["version"]) for w in listed] == [
        (made["id"], "Abandoned browse", 1)
    ]
    assert "definition" not in listed[0]


def test_each_change_is_a_version_and_earlier_ones_stay(api: httpx.Client) -> None:
    made = created(api, document())
    url = f"{FLOWS}/{made['id']}"
    same = api.put(url, json=document())
    assert same.status_code == 200
    assert (same.json()["version"], same.json()["changed"]) == (1, False)

    reordered = dict(reversed(list(document().items())))
    assert api.put(url, json=reordered).json()["changed"] is False

    changed = api.put(url, json=document(hours="5h"))
    assert (changed.json()["version"], changed.json()["changed"]) == (2, True)
    assert changed.json()["definition"]["blocks"][0]["delay"] == "5h"

    first = api.get(url, params={"version": 1})
    assert first.json()["definition"] == document()
    assert (first.json()["shownVersion"], first.json()["version"]) == (1, 2)
    missing = api.get(url, params={"version": 3})
    assert missing.status_code == 404 and "no version 3" in missing.text

    renamed = api.put(url, json=document(name="Browse reminder", hours="5h"))
    assert (renamed.json()["name"], renamed.json()["version"]) == ("Browse reminder", 3)


def test_an_invalid_document_changes_nothing_and_names_the_field(api: httpx.Client) -> None:
    made = created(api, document())
    url = f"{FLOWS}/{made['id']}"
    broken = document(hours="2 hours")
    for answer in (api.post(FLOWS, json=broken), api.put(url, json=broken)):
        assert answer.status_code == 400
        assert "blocks[0].delay" in answer.text and "duration" in answer.text
    assert api.get(url).json()["version"] == 1
    assert len(api.get(FLOWS).json()) == 1

    bad_edge = document()
    bad_edge["edges"][1]["to"] = "nowhere"
    answer = api.post(FLOWS, json=bad_edge)
    assert answer.status_code == 400 and 'edges[1].to: no block "nowhere"' in answer.text

    for body, words in (
        (b"{", "malformed JSON"),
        (b"[]", "JSON object"),
        (b'{"name": "x"}', "blocks"),
    ):
        answer = api.post(FLOWS, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400 and words in answer.text, answer.text


def test_check_stores_nothing(api: httpx.Client) -> None:
    answer = api.post(f"{FLOWS}/check", json=document())
    assert answer.status_code == 200
    assert answer.json() == {"valid": True, "name": "Abandoned browse", "blocks": 3}
    bad = api.post(f"{FLOWS}/check", json=document(hours="0s"))
    assert bad.status_code == 400 and "blocks[0].delay" in bad.text
    assert api.get(FLOWS).json() == []


def runnable(name: str = "Runnable") -> dict[str, Any]:
    """A workflow without action blocks, which this version can enable."""
    return {
        "name": name,
        "start": {"event": "productViewed"},
        "blocks": [{"id": "wait", "type": "timer", "delay": "1h"}, {"id": "done", "type": "end"}],
        "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
    }


def test_enable_disable_delete(api: httpx.Client) -> None:
    made = created(api, runnable(), enabled="true")
    assert made["enabled"] is True
    url = f"{FLOWS}/{made['id']}"
    assert api.post(f"{url}/disable").json()["enabled"] is False
    assert api.get(url).json()["enabled"] is False
    assert api.post(f"{url}/enable").json()["enabled"] is True
    assert api.delete(url).status_code == 204
    for answer in (api.get(url), api.put(url, json=runnable()), api.delete(url)):
        assert answer.status_code == 404
    assert api.post(f"{url}/enable").status_code == 404


def test_names_are_unique_in_a_workspace(
    api: httpx.Client, server: LiveServer, other_workspace: Workspace
) -> None:
    first = created(api, document("One"))
    created(api, document("Two"))
    taken = api.post(FLOWS, json=document("One"))
    assert taken.status_code == 409 and "already named 'One'" in taken.text
    second = next(w for w in api.get(FLOWS).json() if w["name"] == "Two")
    clash = api.put(f"{FLOWS}/{second['id']}", json=document("One", hours="9h"))
    assert clash.status_code == 409
    with server.client(other_workspace.full_key) as other:
        assert other.post(FLOWS, json=document("One")).status_code == 201
        assert other.get(f"{FLOWS}/{first['id']}").status_code == 404
        assert other.delete(f"{FLOWS}/{first['id']}").status_code == 404
        assert [w["name"] for w in other.get(FLOWS).json()] == ["One"]
    assert api.get(f"{FLOWS}/{first['id']}").status_code == 200


def test_events_keys_cannot_manage_workflows(server: LiveServer, workspace: Workspace) -> None:
    with server.client(workspace.events_key) as client:
        assert client.get(FLOWS).status_code == 403
        assert client.post(FLOWS, json=document()).status_code == 403
    with server.client() as anonymous:
        assert anonymous.get(FLOWS).status_code == 401


@pytest.mark.parametrize("given", ["0", "abc", "99999999999999999999", "-1"])
def test_bad_ids_are_refused(api: httpx.Client, given: str) -> None:
    answer = api.get(f"{FLOWS}/{given}")
    assert answer.status_code == 400 and "workflow id" in answer.text


def test_the_workspace_cap_holds_under_concurrent_creations(
    make_server: Any, store: Store, workspace: Workspace
) -> None:
    live = make_server(workflows_max=3)
    answers: list[int] = []

    def create(index: int) -> None:
        with live.client(workspace.full_key) as client:
            answers.append(client.post(FLOWS, json=document(f"flow {index}")).status_code)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201, 201, 201, 409, 409, 409]
    assert len(store.workflows.all(workspace.id)) == 3


def test_block_limit_is_a_setting(make_server: Any, workspace: Workspace) -> None:
    live = make_server(workflow_max_blocks=2)
    with live.client(workspace.full_key) as client:
        answer = client.post(FLOWS, json=document())
    assert answer.status_code == 400
    assert "at most 2 blocks (FOOTFALL_WORKFLOW_MAX_BLOCKS)" in answer.text


def test_old_versions_are_pruned_beyond_the_kept_number(api: httpx.Client) -> None:
    made = created(api, document())
    url = f"{FLOWS}/{made['id']}"
    for hours in range(3, KEEP_VERSIONS + 3):  # version 1 waits 2h; version v waits v+1 h
        assert api.put(url, json=document(hours=f"{hours}h")).json()["changed"] is True
    latest = KEEP_VERSIONS + 1
    assert api.get(url).json()["version"] == latest
    assert api.get(url, params={"version": latest - KEEP_VERSIONS}).status_code == 404
    oldest = latest - KEEP_VERSIONS + 1
    kept = api.get(url, params={"version": oldest})
    assert kept.status_code == 200
    assert kept.json()["definition"]["blocks"][0]["delay"] == f"{oldest + 1}h"


def test_unicode_and_big_documents_round_trip(api: httpx.Client) -> None:
    source = document(name="Кошик 🛒")
    source["description"] = "ü" * 2000
    source["blocks"][1]["body"] = {
        "items": [{"n": i, "t": "{{ event.params.x }}"} for i in range(500)]
    }
    made = created(api, copy.deepcopy(source))
    assert api.get(f"{FLOWS}/{made['id']}").json()["definition"] == source
    assert json.loads(json.dumps(source)) == source


def test_concurrent_renames_deletes_and_creations_never_fail_the_server(
    server: LiveServer, workspace: Workspace
) -> None:
    """Races found by an attack on PostgreSQL (500s before: a unique-name race past the check,
    and a version saved between a delete's two statements); each answer is now 2xx, 404 or 409."""
    with server.client(workspace.full_key) as api:
        ids = [created(api, document(f"race {i}"))["id"] for i in range(2)]
        doomed = created(api, document("doomed"))["id"]
    answers: list[int] = []

    def rename(workflow_id: int) -> None:
        with server.client(workspace.full_key) as client:
            for round_ in range(4):
                body = document("taken", hours=f"{round_ + 3}h")
                answers.append(client.put(f"{FLOWS}/{workflow_id}", json=body).status_code)

    def create() -> None:
        with server.client(workspace.full_key) as client:
            answers.append(client.post(FLOWS, json=document("taken")).status_code)

    def edit_doomed() -> None:
        with server.client(workspace.full_key) as client:
            for round_ in range(4):
                body = document("doomed", hours=f"{round_ + 3}h")
                answers.append(client.put(f"{FLOWS}/{doomed}", json=body).status_code)

    def delete_doomed() -> None:
        with server.client(workspace.full_key) as client:
            answers.append(client.delete(f"{FLOWS}/{doomed}").status_code)

    threads = [threading.Thread(target=rename, args=(i,)) for i in ids]
    threads += [threading.Thread(target=create), threading.Thread(target=edit_doomed)]
    threads += [threading.Thread(target=delete_doomed)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(answers) <= {200, 201, 204, 404, 409}, answers
    with server.client(workspace.full_key) as api:
        names = [w["name"] for w in api.get(FLOWS).json()]
        assert names.count("taken") == 1
        assert "doomed" not in names


def test_documents_are_bounded_in_bytes_and_versions_start_at_one(api: httpx.Client) -> None:
    big = document()
    big["description"] = "x" * 2000
    big["blocks"][1]["body"] = {"pad": ["y" * 1000] * 300}
    answer = api.post(FLOWS, json=big)
    assert answer.status_code == 413
    answer = api.post(f"{FLOWS}/check", json=big)
    assert answer.status_code == 413
    made = created(api, document())
    zero = api.get(f"{FLOWS}/{made['id']}", params={"version": "0"})
    assert zero.status_code == 400 and "from 1" in zero.text
