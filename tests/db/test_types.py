"""UTCDateTime's one-step SQLite conversion stores and reads exactly what SQLAlchemy's would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime, Dialect, create_engine

from tre.db.types import UTCDateTime

SAMPLES = [
    datetime(2026, 11, 22, 21, 55, 11, 123456, tzinfo=UTC),
    datetime(2026, 11, 22, 21, 55, 11, tzinfo=UTC),  # no microseconds: still written
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2))),  # stored in UTC
    datetime(1, 1, 1, 2, 0, 0, 1, tzinfo=timezone(timedelta(hours=1))),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


@pytest.fixture(scope="module")
def sqlite() -> Iterator[Dialect]:
    engine = create_engine("sqlite://")
    yield engine.dialect
    engine.dispose()


@pytest.mark.parametrize("value", SAMPLES, ids=str)
def test_the_sqlite_text_is_sqlalchemys_and_reads_back(sqlite: Dialect, value: datetime) -> None:
    ours = UTCDateTime()
    bind = ours.bind_processor(sqlite)
    read = ours.result_processor(sqlite, None)
    theirs = DateTime().dialect_impl(sqlite)
    their_bind = theirs.bind_processor(sqlite)
    their_read = theirs.result_processor(sqlite, None)
    assert bind is not None
    assert read is not None
    assert their_bind is not None
    assert their_read is not None
    stored = bind(value)
    assert stored == their_bind(value.astimezone(UTC).replace(tzinfo=None))
    assert read(stored) == value
    assert read(stored).tzinfo is UTC
    theirs_read = their_read(stored)
    assert theirs_read is not None
    assert read(stored) == theirs_read.replace(tzinfo=UTC)


def test_none_passes_and_a_naive_datetime_is_refused(sqlite: Dialect) -> None:
    bind = UTCDateTime().bind_processor(sqlite)
    read = UTCDateTime().result_processor(sqlite, None)
    assert bind(None) is None
    assert read(None) is None
    with pytest.raises(ValueError, match="use an aware UTC datetime"):
        bind(datetime(2026, 1, 1))
