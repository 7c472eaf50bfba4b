"""Hot statements compiled once per dialect and run on the driver's cursor, without SQLAlchemy.

SQLAlchemy costs ~10x the statement itself here (cache keys, execution contexts, result
objects: ~0.1 ms a statement against ~10 us for SQLite). The few statements every request
runs are compiled by SQLAlchemy once per dialect, and their parameters and results converted
by the same type processors SQLAlchemy would use, so rows read or written either way are
identical. They run inside the caller's transaction: an ORM session's (its connection, its
BEGIN) or a :class:`tre.db.driver.DriverTransaction`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Dialect, event
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from tre.db.driver import DriverTransaction, Transaction

_Processor = Callable[[Any], Any] | None


class _Compiled(NamedTuple):
    sql: str
    order: tuple[tuple[str, _Processor], ...] | None  # positional parameters; None: named
    binds: Mapping[str, _Processor]
    fixed: Mapping[str, Any]  # values the statement carries (``id == 1``)
    columns: tuple[str, ...]
    results: tuple[_Processor, ...]


class Prepared:
    """One statement, compiled for each dialect it meets (thread-safe: compiled is immutable).

    ``columns`` lists the inserted columns of an INSERT (every key its parameters carry).
    """

    def __init__(self, statement: ClauseElement, *, columns: Iterable[str] | None = None) -> None:
        self._statement = statement
        self._columns = None if columns is None else list(columns)
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is not None:
            return found
        compiled = self._statement.compile(dialect=dialect, column_keys=self._columns)
        assert isinstance(compiled, SQLCompiler)
        binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                 for name, bind in compiled.binds.items()}
        selected = list(getattr(self._statement, "selected_columns", ()))
        columns = tuple(str(c.key) for c in selected)
        results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None)
                        for c in selected)
        fixed = {name: bind.effective_value for name, bind in compiled.binds.items()
                 if not bind.required}
        order = tuple((name, binds[name]) for name in compiled.positiontup) \
            if compiled.positional and compiled.positiontup else None
        found = _Compiled(compiled.string, order, binds, fixed, columns, results)
        self._by_dialect[dialect.name] = found
        return found

    def _parameters(self, compiled: _Compiled, values: Mapping[str, Any]) -> Any:
        if compiled.fixed:
            values = {**compiled.fixed, **values}
        if compiled.order is not None:  # converted straight into the driver's order
            return [values[name] if process is None else process(values[name])
                    for name, process in compiled.order]
        binds = compiled.binds
        return {name: (value if (process := binds.get(name)) is None else process(value))
                for name, value in values.items()}

    def execute(self, session: Transaction, values: Mapping[str, Any] | None = None) -> int:
        """Run with ``values``; the number of rows changed."""
        compiled, cursor = self._run(session)
        try:
            cursor.execute(compiled.sql, self._parameters(compiled, values or {}))
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def execute_many(self, session: Transaction, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per mapping in ``rows`` (one driver call)."""
        compiled, cursor = self._run(session)
        try:
            cursor.executemany(compiled.sql, [self._parameters(compiled, r) for r in rows])
        finally:
            cursor.close()

    def rows(self, session: Transaction, values: Mapping[str, Any] | None = None) -> list[Any]:
        """The result rows, each with its columns as attributes (converted like SQLAlchemy)."""
        compiled, cursor = self._run(session)
        try:
            cursor.execute(compiled.sql, self._parameters(compiled, values or {}))
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        row_type = _row_type(compiled.columns)
        processors = compiled.results
        if not any(processors):
            return [row_type._make(raw) for raw in fetched]
        return [row_type._make(value if process is None else process(value)
                               for process, value in zip(processors, raw, strict=True))
                for raw in fetched]

    def first(self, session: Transaction, values: Mapping[str, Any] | None = None) -> Any:
        """The first result row, or None."""
        found = self.rows(session, values)
        return found[0] if found else None

    def _run(self, session: Transaction) -> tuple[_Compiled, Any]:
        if isinstance(session, DriverTransaction):
            return self._compiled(session.dialect), session.connection.cursor()
        driver: tuple[Dialect, Any] | None = session.info.get(_DRIVER_KEY)
        if driver is None:
            connection = session.connection()  # begins the session's transaction if need be
            driver = (connection.dialect, connection.connection.driver_connection)
            session.info[_DRIVER_KEY] = driver
        dialect, driver_connection = driver
        return self._compiled(dialect), driver_connection.cursor()


_DRIVER_KEY = "tre.db.driver"


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, _transaction: Any) -> None:
    """The transaction's connection goes back to the pool with it: look it up again next time."""
    session.info.pop(_DRIVER_KEY, None)


_ROW_TYPES: dict[tuple[str, ...], Any] = {}


def _row_type(columns: tuple[str, ...]) -> Any:
    found = _ROW_TYPES.get(columns)
    if found is None:
        found = _ROW_TYPES[columns] = namedtuple("Row", columns)
    return found
