"""Several `footfall serve` processes share one database: nothing that matters lives in one process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from test_durability import Database, Servers, create_workspace, database, servers

from conftest import NO_TLS_HERE, basic

__all__ = ["database", "servers"]  # fixtures used by this module

PEOPLE = 20
EVENTS = 400


def test_two_processes_share_contacts_counts_and_tokens(
    database: Database, servers: Servers
) -> None:
    key = create_workspace(database, "shared")
    urls = [servers.start()[0], servers.start()[0]]
    token = httpx.post(
        f"{urls[0]}/api/v1/auth/token", headers=basic(key), verify=NO_TLS_HERE
    ).json()

    def send(n: int) -> int:
        body = {
            "eventTypeKey": "sharedProbe",
            "keyValue": f"k-{n}",
            "params": [{"name": "email", "value": f"Person{n % PEOPLE}@Example.com"}],
        }
        # Alternate processes, and use the token issued by the first on the second as well.
        headers = {"Authorization": f"Bearer {token}"} if n % 3 == 0 else basic(key)
        return httpx.post(
            f"{urls[n % 2]}/api/v2/event", json=body, headers=headers, verify=NO_TLS_HERE
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(EVENTS)))
    assert statuses == [200] * EVENTS

    rows = database.rows
    (workspace_id,) = rows("SELECT id FROM workspaces WHERE name = 'shared'")[0]
    assert rows("SELECT count(*) FROM events WHERE workspace_id = ?", workspace_id) == [(EVENTS,)]
    contacts = rows(
        "SELECT count(DISTINCT contact_id) FROM events WHERE workspace_id = ?", workspace_id
    )
    assert contacts == [(PEOPLE,)]
    assert rows("SELECT count(*) FROM contacts WHERE workspace_id = ?", workspace_id) == [(PEOPLE,)]
    counted = rows(
        "SELECT SUM(event_count) FROM event_type_counts WHERE workspace_id = ? AND key = ?",
        workspace_id,
        "sharedProbe",
    )
    assert counted == [(EVENTS,)]
    # Each process reports the same history.
    listed = [
        httpx.get(f"{url}/api/v1/event-types", headers=basic(key), verify=NO_TLS_HERE).json()
        for url in urls
    ]
    assert listed[0] == listed[1]
    assert listed[0][0]["count"] == EVENTS
    for url in urls:
        events = httpx.get(
            f"{url}/api/v1/events", params={"limit": 1000}, headers=basic(key), verify=NO_TLS_HERE
        )
        assert {e["keyValue"] for e in events.json()} == {f"k-{n}" for n in range(EVENTS)}
