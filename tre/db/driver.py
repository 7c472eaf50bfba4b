"""A transaction on a pooled driver connection, for services whose statements are all prepared.

An ORM ``Session`` costs ~0.2 ms a transaction before any statement runs (session and
transaction objects, the engine's connection wrapper, events, the pool's bookkeeping), as much
as the statements of a whole request. Services that touch the database only through
:class:`tre.db.prepared.Prepared` statements can run in a :class:`DriverTransaction` instead:
the same pool, the same connection set-up (SQLite pragmas), the same BEGIN (IMMEDIATE on SQLite,
so a writer takes the write lock up front), committed on success and rolled back on any error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.orm import Session


class DriverTransaction:
    """One transaction on one driver connection; built by ``Database.driver_transaction``."""

    __slots__ = ("_before_commit", "connection", "dialect", "info")

    def __init__(self, dialect: Dialect, connection: Any) -> None:
        self.dialect = dialect
        self.connection = connection
        """The driver's own connection (sqlite3 or psycopg)."""
        self.info: dict[str, Any] = {}
        """Per-transaction state, as ``Session.info`` (the audit log keeps its pending events)."""
        self._before_commit: list[Callable[[DriverTransaction], None]] = []

    def before_commit(self, hook: Callable[[DriverTransaction], None]) -> None:
        """Run ``hook`` once, just before this transaction commits (never if it rolls back)."""
        if hook not in self._before_commit:
            self._before_commit.append(hook)

    def commit(self) -> None:
        """Run the before-commit hooks, then commit."""
        for hook in self._before_commit:
            hook(self)
        self.connection.commit()


Transaction = Session | DriverTransaction
"""What a store's prepared statements run in: an ORM session or a driver transaction."""
