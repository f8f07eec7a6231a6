"""Transactions the database aborts to break a deadlock are run again, not reported as an outage."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from conftest import Workspace
from footfall.store import Store
from footfall.store.cursor import Cursor


def test_a_deadlocked_transaction_is_run_again(
    store: Store, workspace: Workspace, other_workspace: Workspace, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time: it cannot deadlock")
    first, second = workspace.id, other_workspace.id
    both_locked = threading.Barrier(2, timeout=10)
    attempts: list[str] = []
    results: dict[str, Any] = {}

    def crossing(name: str, mine: int, theirs: int) -> None:
        def work(tx: Cursor) -> str:
            attempts.append(name)
            tx.execute("UPDATE workspaces SET created_us = created_us WHERE id = ?", mine)
            if attempts.count(name) == 1:
                both_locked.wait()  # each holds one row and now asks for the other's
            tx.execute("UPDATE workspaces SET created_us = created_us WHERE id = ?", theirs)
            return name

        try:
            results[name] = store.transact(work)
        except Exception as exc:  # reported below
            results[name] = exc

    threads = [
        threading.Thread(target=crossing, args=("a", first, second)),
        threading.Thread(target=crossing, args=("b", second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {"a": "a", "b": "b"}
    assert len(attempts) == 3  # the deadlock victim ran twice
