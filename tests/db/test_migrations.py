"""The Alembic migrations build exactly the tables the code declares, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from tre.db.database import SCHEMA_HEAD, Database, alembic_config
from tre.db.schema import AuditHeadRow, Base
from tre.errors import StorageError


def test_migrated_schema_matches_models(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()  # idempotent
    db.check_ready()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        head = conn.execute(select(AuditHeadRow.seq, AuditHeadRow.hash)).one()
    db.dispose()
    assert diff == []
    assert tuple(head) == (0, "0" * 64)


def test_unmigrated_database_is_refused_with_the_fix(database_url: str) -> None:
    db = Database(database_url)
    if db.is_sqlite:
        assert db.sqlite_path is not None
        db.sqlite_path.parent.mkdir(parents=True)
        db.sqlite_path.touch()
    try:
        with pytest.raises(StorageError, match="run `tre init` to migrate it"):
            db.check_ready()
    finally:
        db.dispose()


def test_schema_head_constant_is_alembics_head(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    head = ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()
    db.dispose()
    assert head == SCHEMA_HEAD
