"""A thin wrapper over a DB-API cursor that speaks '?' placeholders on every backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class Cursor:
    """What every operation of the store runs its statements on: SQL is written once, with
    ``?`` placeholders, and the dialect's ``translate`` gives the driver its own spelling."""

    def __init__(self, cursor: Any, translate: Callable[[str], str]) -> None:
        self._cursor = cursor
        self._sql = translate

    def execute(self, sql: str, *params: Any) -> Cursor:
        self._cursor.execute(self._sql(sql), params)
        return self

    def count(self, sql: str, *params: Any) -> int:
        """Run a statement; how many rows it changed."""
        self._cursor.execute(self._sql(sql), params)
        return int(self._cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """The statement once per row; one row is a plain execute (psycopg's executemany
        enters pipeline mode, which costs twice the CPU of a single statement)."""
        if len(rows) == 1:
            self._cursor.execute(self._sql(sql), rows[0])
        elif rows:
            self._cursor.executemany(self._sql(sql), rows)

    def one(self, sql: str, *params: Any) -> Any:
        self._cursor.execute(self._sql(sql), params)
        return self._cursor.fetchone()

    def all(self, sql: str, *params: Any) -> list[Any]:
        self._cursor.execute(self._sql(sql), params)
        return list(self._cursor.fetchall())

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk insert; backends with a faster path (COPY) override it."""
        places = ", ".join("?" * len(columns))
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({places})", rows)


class CopyCursor(Cursor):
    """PostgreSQL: bulk inserts with COPY."""

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
