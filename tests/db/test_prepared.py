"""Statements run on the driver read and write exactly what SQLAlchemy does, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select

from tre.db.database import Database
from tre.db.prepared import Prepared
from tre.db.schema import ApplicationRow, UserRow
from tre.errors import StorageError

APPS = cast(Table, ApplicationRow.__table__)
USERS = cast(Table, UserRow.__table__)
WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)

ADD_APP = Prepared(insert(APPS), columns=APPS.c.keys())
GET_APP = Prepared(select(APPS).where(APPS.c.id == bindparam("app_id")))
ADD_USER = Prepared(insert(USERS), columns=USERS.c.keys())


def application(app_id: str) -> dict[str, Any]:
    return {
        "id": app_id, "project": "lung-ai", "kind": "new", "amends_permit": None,
        "title": "Nodule détection", "purpose": "scientific_research", "description": "",
        "applicant": "alice", "organisation": "Uni X",
        "members": [{"user": "alice", "role": "lead"}], "datasets": [{"dataset": "lung-ct",
                                                                        "version": None}],
        "compute": {"cpus": 4.0, "memory_gb": 16, "gpus": 1, "hours": 200},
        "period_start": WHEN, "period_end": WHEN, "status": "submitted", "created_at": WHEN,
        "updated_at": WHEN, "decided_by": None, "decision_reason": None, "conditions": ["ok"],
    }


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    with database.transaction() as session:
        ADD_USER.execute(session, {"name": "alice", "display_name": "Alice",
                                   "created_at": WHEN})
    yield database
    database.dispose()


def test_rows_written_either_way_read_the_same_either_way(db: Database) -> None:
    with db.transaction() as session:
        ADD_APP.execute(session, application("app-driver"))
        session.execute(insert(APPS), application("app-sqlalchemy"))
    with db.reading() as session:
        for app_id in ("app-driver", "app-sqlalchemy"):
            by_sqlalchemy = session.execute(
                select(APPS).where(APPS.c.id == app_id)).one()._asdict()
            by_driver = GET_APP.first(session, {"app_id": app_id})._asdict()
            assert by_driver == by_sqlalchemy == application(app_id)
        assert GET_APP.first(session, {"app_id": "nope"}) is None


def test_driver_errors_are_storage_errors(db: Database) -> None:
    with pytest.raises(StorageError, match="database error on "), db.transaction() as session:
        ADD_USER.execute(session, {"name": "alice", "display_name": "", "created_at": WHEN})
    with db.reading() as session:
        assert [r.name for r in session.execute(select(USERS.c.name))] == ["alice"]
