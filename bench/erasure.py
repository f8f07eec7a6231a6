"""Erasure benchmark: how long erasing one contact takes in a workspace of many events.

Run from the repository root (after scripts/bootstrap):

    .venv/bin/python bench/erasure.py                          # SQLite and PostgreSQL, 200k events
    .venv/bin/python bench/erasure.py --backend sqlite --events 50000

A fresh database per backend is filled through the store (as bench/history.py does, real clicks
from the YooChoose sample); one contact also gets an e-mail and a phone, and a share of other
contacts' events mention them (inside strings holding JSON, and the phone in another format).
Then the contact is erased ``--repeat`` times (a new one each time) and the time per erasure is
printed, with how many events of others went with it (all that named the person, no others).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import msgspec

from footfall.access import create_workspace
from footfall.ingest.events import parse_event
from footfall.store import Store, open_store
from harness import backend_env, drop_database, migrated_settings
from history import _contact_of, load

MENTIONS = 50  # events of others naming the person, per erasure


def person_events(workspace_id: int, n: int, key: str) -> tuple[list[bytes], str]:
    """The person's own linking event, and events of others that name them."""
    email, phone = f"erin{n}@example.com", f"+44 20 7946 {n:04d}"
    own = {
        "eventTypeKey": "linked",
        "params": [
            {"name": "externalCustomerId", "value": key},
            {"name": "email", "value": email},
            {"name": "phone", "value": phone.replace(" ", "")},
        ],
    }
    others = [
        {
            "eventTypeKey": "referral",
            "params": [
                {"name": "externalCustomerId", "value": f"other-{n}-{i}"},
                {"name": "profile", "value": json.dumps({"email": email, "tel": phone})},
            ],
        }
        for i in range(MENTIONS)
    ]
    return [msgspec.json.encode(b) for b in [own, *others]], email


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> str:
    env, database = backend_env(backend, workdir)
    try:
        settings = migrated_settings(env)
        store = open_store(settings)
        try:
            return measure(store, backend, args)
        finally:
            store.close()
    finally:
        if database:
            drop_database(database)


def count(store: Store, ws: int) -> int:
    with store.read() as tx:
        return int(tx.one("SELECT count(*) FROM events WHERE workspace_id = ?", ws)[0])


def measure(store: Store, backend: str, args: argparse.Namespace) -> str:
    create_workspace(store.access, "bench-erasure")
    ws = store.access.workspace_id("bench-erasure")
    assert ws is not None
    print(f"\n== {backend}: loading {args.events:,} events ==")
    loaded = load(store, ws, args.events, random.Random(1))
    times, gone = [], []
    for n in range(args.repeat):
        key = loaded.samples[n][0]
        contact = _contact_of(store, ws, key)
        bodies, _ = person_events(ws, n, key)
        now = time.time_ns() // 1000
        store.events.commit_batch(
            [parse_event(b, version=2, workspace_id=ws, received_us=now) for b in bodies]
        )
        before = count(store, ws)
        started = time.perf_counter()
        store.contacts.delete_contact(ws, contact, erase=True, now=now)
        times.append(time.perf_counter() - started)
        gone.append(before - count(store, ws))
    line = (
        f"{backend:8} {args.events:>9,} events: erasure median {sorted(times)[len(times) // 2]:.3f} s,"
        f" max {max(times):.3f} s over {len(times)}; events gone per erasure {sorted(set(gone))}"
    )
    print(line)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        lines = [run_backend(b, args, Path(tmp) / b) for b in backends]
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
