"""What an operator sees: JSON log lines with an action, latency and commit metrics, health."""

from __future__ import annotations

import json
import re

import httpx
from test_durability import Database, Servers, create_workspace, database, servers

from conftest import NO_TLS_HERE, basic

__all__ = ["database", "servers"]  # fixtures used by this module


def test_logs_are_json_lines_with_an_action_and_metrics_show_latency(
    database: Database, servers: Servers
) -> None:
    key = create_workspace(database, "ops")
    url, _ = servers.start()
    good = {"eventTypeKey": "opsProbe", "keyValue": "k", "params": []}
    bad = {"eventTypeKey": "productViewed", "keyValue": "k", "params": []}
    assert (
        httpx.post(
            f"{url}/api/v2/event", json=good, headers=basic(key), verify=NO_TLS_HERE
        ).status_code
        == 200
    )
    assert (
        httpx.post(
            f"{url}/api/v2/event", json=bad, headers=basic(key), verify=NO_TLS_HERE
        ).status_code
        == 400
    )

    metrics = httpx.get(f"{url}/metrics", verify=NO_TLS_HERE).text
    count = re.search(r'footfall_request_seconds_count\{route="v2/event"\} (\d+)', metrics)
    assert count is not None and int(count.group(1)) >= 1
    assert re.search(r"footfall_commit_batches_total (\d+)", metrics)
    assert 'footfall_events_rejected_total{reason="invalid",route="v2/event"} 1.0' in metrics
    assert httpx.get(f"{url}/health", verify=NO_TLS_HERE).json() == {"status": "ok"}

    servers.stop_all()
    lines = [line for line in servers.log.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    actions = [record.get("action") for record in records]
    assert "service.started" in actions
    rejected = next(r for r in records if r.get("action") == "event.rejected")
    assert rejected["reason"] == "invalid"
    assert rejected["route"] == "v2/event"
    assert "product" in rejected["error"]
    assert all("timestamp" in record and "level" in record for record in records)
