"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored naive-UTC (SQLite keeps no time zone).

    On SQLite the value is converted in one step each way (:func:`_to_sqlite`,
    :func:`_from_sqlite`) to exactly the text SQLAlchemy's own DATETIME stores
    (``YYYY-MM-DD HH:MM:SS.ffffff``), instead of this decorator's step and then the dialect's:
    every request reads and writes several datetimes, and the two steps cost ~10 us each.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(_NAIVE)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return _to_sqlite
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            return _from_sqlite
        return super().result_processor(dialect, coltype)


_NAIVE = "naive datetime given to the database: use an aware UTC datetime"


def _to_sqlite(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text of ``value`` in UTC (without its offset)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(_NAIVE)
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _from_sqlite(value: str | None) -> datetime | None:
    """The aware UTC datetime of SQLite DATETIME text."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)
