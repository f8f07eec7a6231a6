"""Small SQL-writing helpers shared by every capability: optional WHERE clauses, IN lists, JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def loads(value: Any) -> Any:
    """A JSON column as Python: PostgreSQL's JSONB arrives decoded, SQLite's JSON as text."""
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def dumps(value: Any) -> str | None:
    """Python as JSON text for a JSON column; None stays NULL."""
    return None if value is None else _encoder.encode(value).decode()


def lock_workspace(tx: Any, for_update: str, ws: int) -> None:
    """The workspace row, locked until the transaction ends (``for_update``: the dialect's
    clause): what is checked across its rows (a count, a free name) is checked by one
    transaction at a time."""
    tx.one(f"SELECT id FROM workspaces WHERE id = ?{for_update}", ws)


def marks(values: Sequence[Any]) -> str:
    """``?, ?, ?`` for ``values``."""
    return ", ".join("?" * len(values))


def in_clause(column: str, values: Sequence[Any], arrays: bool = False) -> tuple[str, list[Any]]:
    """``column IN (…)``; one array parameter where the backend has arrays (one plan, any size)."""
    if arrays:
        return f"{column} = ANY(?)", [list(values)]
    return f"{column} IN ({marks(values)})", list(values)


class Where:
    """A WHERE clause built from conditions, some of them optional, with their arguments."""

    def __init__(self, condition: str, *args: Any) -> None:
        self.conditions = [condition]
        self.args: list[Any] = list(args)

    def add(self, condition: str, *args: Any) -> Where:
        self.conditions.append(condition)
        self.args.extend(args)
        return self

    def equals(self, column: str, value: Any) -> Where:
        """``column = value``, only when a value is given (not None)."""
        if value is not None:
            self.add(f"{column} = ?", value)
        return self

    def at_least(self, column: str, value: Any) -> Where:
        if value is not None:
            self.add(f"{column} >= ?", value)
        return self

    def at_most(self, column: str, value: Any) -> Where:
        if value is not None:
            self.add(f"{column} <= ?", value)
        return self

    def below(self, column: str, value: Any) -> Where:
        if value is not None:
            self.add(f"{column} < ?", value)
        return self

    def among(self, column: str, values: Sequence[Any] | None, arrays: bool = False) -> Where:
        """``column IN (values)``, only when values are given."""
        if values:
            condition, args = in_clause(column, values, arrays)
            self.add(condition, *args)
        return self

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)
