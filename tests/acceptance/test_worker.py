"""The real ``footfall worker`` in a subprocess: it runs the background jobs (failed events older
than the retention are pruned) and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BACKENDS, migrated_database
from footfall.config import Settings
from footfall.store import Store, open_store

FOOTFALL = Path(sys.executable).parent / "footfall"


@pytest.fixture(params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Store]]:
    """The environment that points the CLI at a fresh database, and a store on it."""
    with migrated_database(request.param, tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
        env |= {"FOOTFALL_DATABASE_URL": url, "FOOTFALL_DATA_DIR": str(tmp_path)}
        store = open_store(Settings(database_url=url))
        try:
            yield env, store
        finally:
            store.close()


def plant_an_old_failure(store: Store) -> None:
    workspace = store.access.create_workspace("w", 1)
    store.transact(
        lambda tx: tx.execute(
            "INSERT INTO failed_events (workspace_id, event_type_key, route, reason, error, raw, "
            "raw_bytes, received_us, attempts) VALUES (?, 't', 'v2/event', 'params', 'e', '{}', "
            "2, 1, 0)",
            workspace,
        )
    )


def count(store: Store, sql: str) -> int:
    with store.read() as tx:
        return int(tx.one(sql)[0])


def test_worker_runs_the_jobs_and_stops_on_sigterm(
    database: tuple[dict[str, str], Store], tmp_path: Path
) -> None:
    env, store = database
    plant_an_old_failure(store)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([str(FOOTFALL), "worker"], env=env, stderr=out, stdout=out)
    try:
        deadline = time.monotonic() + 20
        while count(store, "SELECT count(*) FROM failed_events") > 0:
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"nothing pruned: {log.read_text()}"
            time.sleep(0.05)
        assert count(store, "SELECT count(*) FROM leases WHERE name = 'job:prune-failed-events'")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    output = log.read_text()
    assert '"action": "runner.started"' in output
    assert '"action": "runner.stopped"' in output
