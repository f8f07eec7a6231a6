"""Erasure (``erase=true``) leaves no personal data in the database; a plain delete only marks the
contact; export returns everything stored about a contact."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from conftest import Workspace
from footfall.store import Store, erasure, identity
from footfall.store.schema import ERASED_IDS_KEPT, contact_references, metadata


def personal(tag: str) -> dict[str, str]:
    """Values unique to one test, so a scan of the whole database can look for them."""
    return {
        "external": f"crm-{tag}",
        "email": f"ann.{tag}@example.com",
        "phone": "+38050" + str(int(tag[:6], 16) % 10_000_000).zfill(7),
        "first": f"Ann{tag}",
        "last": f"Smith{tag}",
        "town": f"Town{tag}",
        "field": f"secret-{tag}",
        "push": f"push-{tag}",
        "cookie": f"cookie-{tag}",
    }


def event(api: httpx.Client, type_key: str, *, key: str | None = None, **params: Any) -> None:
    body: dict[str, Any] = {
        "eventTypeKey": type_key,
        "params": [{"name": n, "value": v} for n, v in params.items()],
    }
    if key is not None:
        body["keyValue"] = key
    response = api.post("/api/v2/event", json=body)
    assert response.status_code == 200, response.text


def build_a_rich_contact(api: httpx.Client, values: dict[str, str]) -> int:
    """A contact with every kind of record: document, channels, events, an order, past events,
    a merged anonymous visitor, a merged contact, an identity warning, a keyless event."""
    response = api.post(
        "/api/v1/contact",
        json={
            "externalCustomerId": values["external"],
            "firstName": values["first"],
            "lastName": values["last"],
            "channels": [
                {"type": "email", "value": values["email"]},
                {"type": "webpush", "value": values["push"]},
            ],
            "address": {"town": values["town"]},
            "fields": [{"id": 1, "value": values["field"]}],
        },
    )
    assert response.status_code == 200, response.text
    contact: int = response.json()["id"]
    event(api, "PageView", webId=values["cookie"], pageUrl=f"https://shop/{values['first']}")
    event(api, "PageView", webId=values["cookie"], email=values["email"])
    event(api, "CartUpdated", phone=values["phone"], note=values["last"])
    event(api, "Linked", phone=values["phone"], email=values["email"])
    event(api, "Custom", key=values["email"], comment=f"about {values['first']}")
    event(api, "Conflict", externalCustomerId=f"rival-{uuid.uuid4().hex}", email=values["email"])
    past = {
        "events": [
            {
                "eventTypeKey": "OldOrder",
                "occurred": "2023-01-01T10:00",
                "params": [{"name": "email", "value": values["email"]}],
            }
        ]
    }
    assert api.post("/api/v2/past_events", json=past).status_code == 200
    order = {
        "externalOrderId": f"o-{values['external']}",
        "externalCustomerId": values["external"],
        "totalCost": 10,
        "status": "DELIVERED",
        "date": "2024-01-01T00:00:00Z",
        "currency": "UAH",
        "email": values["email"],
        "firstName": values["first"],
    }
    assert api.post("/api/v1/orders", json={"orders": [order]}).json() == {"failedOrders": []}
    return contact


def dump_workspace(store: Store, workspace_id: int) -> str:
    """Every row of every table that belongs to the workspace, as text."""
    parts = []
    with store.read() as tx:
        for table in metadata.sorted_tables:
            columns = [c.name for c in table.columns]
            if "workspace_id" in columns:
                found = tx.all(f"SELECT * FROM {table.name} WHERE workspace_id = ?", workspace_id)
            elif "contact_id" in columns:
                found = tx.all(
                    f"SELECT * FROM {table.name} WHERE contact_id IN "
                    "(SELECT id FROM contacts WHERE workspace_id = ?)",
                    workspace_id,
                )
            else:
                continue
            parts.append(f"{table.name}: {msgspec.json.encode(found, enc_hook=str).decode()}")
    return "\n".join(parts)


def test_erasure_leaves_no_personal_data_in_the_database(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    values = personal(uuid.uuid4().hex[:12])
    contact = build_a_rich_contact(api, values)
    bystander = personal(uuid.uuid4().hex[:12])
    event(api, "PageView", email=bystander["email"], note=bystander["first"])
    before = dump_workspace(store, workspace.id)
    assert all(value in before for value in values.values())
    assert api.get("/api/v1/identity/warnings").json(), "the rich contact has a warning"

    response = api.delete(f"/api/v1/contact/{contact}", params={"erase": "true"})
    assert response.status_code == 200
    assert response.text == f"Contact with id='{contact}' has been deleted"

    after = dump_workspace(store, workspace.id)
    leftovers = {name: value for name, value in values.items() if value in after}
    assert leftovers == {}, f"personal data left behind: {leftovers}"
    assert bystander["email"] in after and bystander["first"] in after
    with store.read() as tx:
        for table, column in contact_references():
            count = tx.one(f"SELECT count(*) FROM {table} WHERE {column} = ?", contact)[0]
            assert count == 0, f"{table}.{column} still points at the erased contact"
    assert api.get(f"/api/v1/contact/{contact}").status_code == 404
    assert api.get(f"/api/v1/contact/{contact}/export").status_code == 404
    # The contact's identifiers are free again: an event with its email makes a new contact.
    event(api, "PageView", email=values["email"])
    [found] = api.get("/api/v1/contacts", params={"email": values["email"]}).json()
    assert found["id"] != contact


def test_erasure_by_external_id(api: httpx.Client, store: Store, workspace: Workspace) -> None:
    values = personal(uuid.uuid4().hex[:12])
    contact = build_a_rich_contact(api, values)
    response = api.delete(
        "/api/v1/contact", params={"externalCustomerId": values["external"], "erase": "true"}
    )
    assert response.status_code == 200, response.text
    assert response.text == f"Contact with id='{contact}' has been deleted"
    after = dump_workspace(store, workspace.id)
    assert not [value for value in values.values() if value in after]
    missing = api.delete(
        "/api/v1/contact", params={"externalCustomerId": values["external"], "erase": "true"}
    )
    assert missing.status_code == 404


def test_a_plain_delete_only_marks_the_contact_deleted(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    values = personal(uuid.uuid4().hex[:12])
    contact = build_a_rich_contact(api, values)
    events_before = len(api.get(f"/api/v1/contact/{contact}/events").json())
    response = api.delete(f"/api/v1/contact/{contact}")
    assert response.status_code == 200
    assert api.get(f"/api/v1/contact/{contact}").status_code == 404
    assert api.get("/api/v1/contacts", params={"email": values["email"]}).json() == []
    with store.read() as tx:
        deleted = tx.one("SELECT deleted_us FROM contacts WHERE id = ?", contact)[0]
        stored = tx.one("SELECT count(*) FROM events WHERE contact_id = ?", contact)[0]
    assert deleted is not None
    assert stored == events_before > 0
    # Still erasable afterwards, and restorable by an upsert before that.
    restored = api.post("/api/v1/contact", json={"externalCustomerId": values["external"]})
    assert restored.json() == {"id": contact}
    assert api.get(f"/api/v1/contact/{contact}").status_code == 200
    assert api.delete(f"/api/v1/contact/{contact}", params={"erase": "true"}).status_code == 200
    assert not [v for v in values.values() if v in dump_workspace(store, workspace.id)]


def test_export_holds_everything_stored_about_the_contact(
    api: httpx.Client, workspace: Workspace
) -> None:
    values = personal(uuid.uuid4().hex[:12])
    contact = build_a_rich_contact(api, values)
    response = api.get(f"/api/v1/contact/{contact}/export")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    exported = response.json()
    assert exported["contact"]["id"] == contact
    records = exported["records"]
    text = msgspec.json.encode(records).decode()
    assert all(value in text for value in values.values())
    types = sorted(e["event_type_key"] for e in records["events"])
    assert types == sorted(
        [
            "PageView",
            "PageView",
            "CartUpdated",
            "Linked",
            "Custom",
            "Conflict",
            "OldOrder",
            "orderDELIVERED",
        ]
    )
    assert {o["external_order_id"] for o in records["orders"]} == {f"o-{values['external']}"}
    assert len(records["contact_merges"]) == 2  # the visitor and the phone-only contact
    assert len(records["identity_warnings"]) == 1
    kinds = {i["kind"] for i in records["contact_identifiers"]}
    assert kinds == {"externalCustomerId", "email", "pushToken", "phone", "anonymousId"}
    assert all(r["workspace_id"] == workspace.id for r in records["contacts"])


def test_a_key_of_another_workspace_cannot_erase_or_export(
    api: httpx.Client, server: Any, other_workspace: Workspace
) -> None:
    values = personal(uuid.uuid4().hex[:12])
    contact = build_a_rich_contact(api, values)
    with server.client(other_workspace.full_key) as intruder:
        assert intruder.get(f"/api/v1/contact/{contact}/export").status_code == 404
        assert intruder.delete(f"/api/v1/contact/{contact}?erase=true").status_code == 404
        assert intruder.get(f"/api/v1/contact/{contact}/events").status_code == 404
        assert intruder.get("/api/v1/identity/merges").json() == []
    assert api.get(f"/api/v1/contact/{contact}").status_code == 200


def test_every_table_with_a_contact_column_is_reached_by_erasure() -> None:
    """A table that stores a contact id without a foreign key would escape erasure (unless it is
    declared to keep ids of erased contacts on purpose, as the identity feed does)."""
    references = set(contact_references()) | ERASED_IDS_KEPT
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith("contact_id") or column.name in ("survivor_id", "merged_id"):
                assert (table.name, column.name) in references, f"{table.name}.{column.name}"


def test_erased_values_are_gone_from_the_sqlite_files_too(
    api: httpx.Client, store: Store, backend: str, server: Any
) -> None:
    """Deleted rows must not linger in free pages or in the write-ahead log."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL keeps dead rows until VACUUM; see the README")
    values = personal(uuid.uuid4().hex[:12])
    contact = build_a_rich_contact(api, values)
    assert api.delete(f"/api/v1/contact/{contact}", params={"erase": "true"}).status_code == 200
    # The suite's own Store on this file (the ``store`` fixture) may hold a read snapshot from
    # an earlier test, which the server's checkpoint must wait for: let it go, then checkpoint.
    # Under load a checkpoint may wait past the server's 3 s for readers: scrub until done.
    store.db.close()
    path = Path(server.settings.database_url.removeprefix("sqlite:///"))
    deadline = time.monotonic() + 20
    while True:
        store.db.scrub()
        files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
        content = b"".join(p.read_bytes() for p in files)
        found = [name for name, value in values.items() if value.encode() in content]
        if not found or time.monotonic() > deadline:
            break
    assert found == [], f"{found} still in {[p.name for p in files]}"


def uk_phone(tag: str) -> tuple[str, str]:
    """A London number unique to the test: (E.164, as people write it)."""
    local = str(int(tag[:8], 16) % 100_000_000).zfill(8)
    return f"+4420{local}", f"+44 20 {local[:4]} {local[4:]}"


def dump_everything(store: Store) -> str:
    """Every row and column of every table, whatever workspace it belongs to, as text."""
    parts = []
    with store.read() as tx:
        for table in metadata.sorted_tables:
            found = tx.all(f"SELECT * FROM {table.name}")
            parts.append(f"{table.name}: {msgspec.json.encode(found, enc_hook=str).decode()}")
    return "\n".join(parts)


def test_erasure_finds_the_person_in_any_form_in_anyone_s_events(
    api: httpx.Client, store: Store, backend: str, server: Any
) -> None:
    """eSputnik's usual strings holding JSON (v1 and v2, live, past and refused events), phones
    in another format, and events of no contact keyed by such a phone: all go, and a scan of
    every table (and the SQLite files) finds none of the forms."""
    tag = uuid.uuid4().hex[:12]
    email, e164, written = f"Erin.{tag}@Example.com", *uk_phone(tag)
    national = e164.removeprefix("+44")
    response = api.post(
        "/api/v1/contact",
        json={"channels": [{"type": "email", "value": email}, {"type": "sms", "value": e164}]},
    )
    assert response.status_code == 200, response.text
    erin = response.json()["id"]
    profile = json.dumps({"email": email, "phone": written})
    nested = json.dumps({"order": {"customer": profile}})
    other = f"bob.{tag}@example.com"
    event(api, "Referral", email=other, profile=profile)
    event(api, "Referral", email=other, deep=nested)
    event(api, "CallBack", email=other, note=f"call her on {written} today")
    event(api, "CallBack", email=other, note=f"or 0{national[:2]} {national[2:6]}-{national[6:]}")
    event(api, "Anonymous", key=written, what="no locator at all")
    v1_params = [{"name": "profile", "value": profile}, {"name": "email", "value": other}]
    v1 = {"eventTypeKey": "Referral", "params": v1_params}
    assert api.post("/api/v1/event", json=v1).status_code == 200
    past = {
        "events": [
            {
                "eventTypeKey": "Referral",
                "occurred": "2024-01-01T10:00",
                "params": [{"name": "email", "value": other}, {"name": "p", "value": profile}],
            }
        ]
    }
    assert api.post("/api/v2/past_events", json=past).json()["successCount"] == 1
    refused = {"eventTypeKey": "pageViewed", "params": [{"name": "who", "value": profile}]}
    assert api.post("/api/v2/event", json=refused).status_code == 400
    kept = f"kept-{tag}"
    event(api, "Referral", email=other, note=kept, near=f"+44 20 {int(national[2:]) + 1}")
    forms = {"email": email, "lower": email.lower(), "e164": e164, "written": written}
    assert all(form in dump_everything(store) for form in forms.values())

    assert api.delete(f"/api/v1/contact/{erin}", params={"erase": "true"}).status_code == 200

    after = dump_everything(store)
    assert {name: form for name, form in forms.items() if form in after} == {}
    assert national not in after, "the national number is still stored somewhere"
    assert kept in after, "an event that only names someone else must stay"
    if backend == "sqlite":
        store.db.close()
        store.db.scrub()
        path = Path(server.settings.database_url.removeprefix("sqlite:///"))
        content = b"".join(
            p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )
        assert [name for name, form in forms.items() if form.encode() in content] == []


def test_what_arrives_between_the_scan_and_the_erasure_goes_too(
    api: httpx.Client, store: Store, workspace: Workspace
) -> None:
    """SQLite reads the bodies before taking the write lock; the erasure then looks at the rows
    added since, and at everything again when the person's identifiers changed meanwhile."""
    tag = uuid.uuid4().hex[:12]
    email, e164, written = f"late.{tag}@example.com", *uk_phone(tag)
    response = api.post("/api/v1/contact", json={"channels": [{"type": "email", "value": email}]})
    contact = response.json()["id"]
    event(api, "Referral", email=f"a.{tag}@example.com", profile=json.dumps({"email": email}))
    ws, sql = workspace.id, store.dialect
    with store.read() as tx:
        ids = identity.family(tx, ws, contact)
        earlier = erasure.scan(tx, sql, ws, ids)
    assert len(earlier.naming["events"]) == 1
    event(api, "Referral", email=f"b.{tag}@example.com", profile=json.dumps({"email": email}))
    store.transact(lambda tx: erasure.erase(tx, sql, ws, ids, earlier))
    assert email not in dump_everything(store)

    response = api.post("/api/v1/contact", json={"channels": [{"type": "email", "value": email}]})
    contact = response.json()["id"]
    event(api, "Referral", email=f"c.{tag}@example.com", note=f"call {written}")
    with store.read() as tx:
        ids = identity.family(tx, ws, contact)
        earlier = erasure.scan(tx, sql, ws, ids)
    assert earlier.naming["events"] == []  # the phone is no identifier of hers yet
    event(api, "Linked", email=email, phone=e164)
    store.transact(lambda tx: erasure.erase(tx, sql, ws, identity.family(tx, ws, contact), earlier))
    after = dump_everything(store)
    assert email not in after and written not in after and e164 not in after
