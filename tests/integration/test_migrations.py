"""The migrations build exactly the schema that footfall.store.schema describes, on both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from conftest import BACKENDS, create_postgres_database
from footfall.config import Settings
from footfall.store import migrate, open_store
from footfall.store.migrate import current_revision, head_revision, sqlalchemy_url, upgrade
from footfall.store.schema import include_object, metadata


@pytest.fixture(params=BACKENDS)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty databases of the backend under test (dropped afterwards)."""
    drops: list[Callable[[], None]] = []
    count = 0

    def make() -> str:
        nonlocal count
        count += 1
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'db{count}.db'}"
        url, drop = create_postgres_database()
        drops.append(drop)
        return url

    try:
        yield make
    finally:
        for drop in drops:
            drop()


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)


def snapshot(url: str) -> dict[str, Any]:
    """Everything SQLAlchemy's inspector can say about the application's tables."""
    engine = engine_for(url)
    try:
        inspector = sa.inspect(engine)
        tables: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            if table == "alembic_version":
                continue
            pk = inspector.get_pk_constraint(table)
            tables[table] = {
                "columns": [
                    {
                        "name": c["name"],
                        "type": str(c["type"].compile(dialect=engine.dialect)),
                        "nullable": c["nullable"],
                        "default": c.get("default"),
                        "autoincrement": c.get("autoincrement"),
                    }
                    for c in inspector.get_columns(table)
                ],
                "primary_key": (pk.get("name"), pk["constrained_columns"]),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u.get("name") or "", tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "foreign_keys": sorted(
                    (
                        fk.get("name") or "",
                        tuple(fk["constrained_columns"]),
                        fk["referred_table"],
                        tuple(fk["referred_columns"]),
                    )
                    for fk in inspector.get_foreign_keys(table)
                ),
            }
        return tables
    finally:
        engine.dispose()


def create_fresh(url: str) -> None:
    engine = engine_for(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def test_migrated_schema_equals_the_metadata(new_database: Callable[[], str]) -> None:
    migrated, fresh = new_database(), new_database()
    upgrade(migrated)
    create_fresh(fresh)
    expected = snapshot(fresh)
    assert set(expected) == set(metadata.tables)
    actual = snapshot(migrated)
    assert sorted(actual) == sorted(expected)
    for table in expected:
        assert actual[table] == expected[table], table


def test_metadata_declares_what_the_tests_compare(new_database: Callable[[], str]) -> None:
    """Guards the comparison itself: indexes, unique keys and foreign keys are really seen."""
    url = new_database()
    upgrade(url)
    tables = snapshot(url)
    indexes = tables["events"]["indexes"]
    assert (
        "ix_events_workspace_key",
        ("workspace_id", "key_value", "occurred_us"),
        False,
    ) in indexes
    # The feed's (txid, id) index only exists where txid varies: PostgreSQL.
    has_feed_index = ("ix_events_feed", ("txid", "id"), False) in indexes
    assert has_feed_index == url.startswith("postgresql")
    assert [u[1] for u in tables["workspaces"]["unique"]] == [("name",)]
    assert [u[1] for u in tables["api_keys"]["unique"]] == [("key_hash",)]
    assert tables["contact_identifiers"]["primary_key"][1] == ["workspace_id", "kind", "value"]
    referred = {(fk[1], fk[2]) for fk in tables["events"]["foreign_keys"]}
    assert referred == {(("workspace_id",), "workspaces"), (("contact_id",), "contacts")}
    nullable = {c["name"]: c["nullable"] for c in tables["events"]["columns"]}
    assert nullable["txid"] is True
    assert nullable["key_value"] is False


def test_autogenerate_finds_no_difference(new_database: Callable[[], str]) -> None:
    url = new_database()
    upgrade(url)
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": include_object(connection.dialect.name),
                },
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_autogenerate_would_notice_a_difference(new_database: Callable[[], str]) -> None:
    """The comparison is not vacuous: a column the migrations lack is reported."""
    url = new_database()
    upgrade(url)
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    sa.Table("events", changed, sa.Column("extra", sa.Integer), extend_existing=True)
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_object": include_object(connection.dialect.name),
                },
            )
            differences = compare_metadata(context, changed)
    finally:
        engine.dispose()
    assert [d[0] for d in differences] == ["add_column"]
    assert differences[0][3].name == "extra"


def test_upgrade_twice_is_a_no_op(new_database: Callable[[], str]) -> None:
    url = new_database()
    assert current_revision(url) is None
    upgrade(url)
    first = snapshot(url)
    upgrade(url)
    migrate(Settings(database_url=url))
    assert snapshot(url) == first
    assert current_revision(url) == head_revision()
    assert head_revision() is not None
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [v[0] for v in versions] == [head_revision()]


def test_upgrade_keeps_the_data(new_database: Callable[[], str], tmp_path: Path) -> None:
    url = new_database()
    settings = Settings(data_dir=tmp_path, database_url=url)
    migrate(settings)
    store = open_store(settings)
    try:
        workspace_id = store.access.create_workspace("kept", 1)
    finally:
        store.close()
    migrate(settings)
    store = open_store(settings)
    try:
        assert store.access.workspace_id("kept") == workspace_id
    finally:
        store.close()


def test_head_is_a_single_revision() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from footfall.store.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert heads == [head_revision()]
