"""The Alembic migrations build exactly the tables the code declares, on both backends."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from tre.audit.checkpoints import PUBLIC_KEY, load_public_key
from tre.audit.verify import verify
from tre.db.database import SCHEMA_HEAD, Database, alembic_config
from tre.db.schema import AuditHeadRow, Base
from tre.domain.roles import Role
from tre.errors import StorageError
from tre.services import users
from tre.services.node import Node


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


def _audit_indexes(db: Database) -> set[str]:
    return {str(ix["name"]) for ix in inspect(db.engine).get_indexes("audit_events")}


def test_the_audit_append_path_migration_keeps_the_trail_both_ways(any_node: Node) -> None:
    """0004 (seq as SQLite's rowid, no index on action) down and up: every event, still verified."""
    db = any_node.db
    for name in ("ana", "ben", "cyd"):
        users.add_user(any_node, "host:test", name, [Role.RESEARCHER])
    audit_dir = any_node.checkpoints.audit_dir
    key = load_public_key(audit_dir.parent / "keys" / PUBLIC_KEY)
    before = verify(db, audit_dir, key)
    assert before.ok
    assert before.events == 3
    assert "ix_audit_events_action" not in _audit_indexes(db)
    cfg = alembic_config(db.engine)

    command.downgrade(cfg, "0003")
    assert "ix_audit_events_action" in _audit_indexes(db)
    command.upgrade(cfg, "head")

    after = verify(db, audit_dir, key)
    assert after.as_json() == before.as_json()
    assert "ix_audit_events_action" not in _audit_indexes(db)
    if db.is_sqlite:  # seq is the rowid: no index of its own beside the table
        with db.engine.connect() as conn:
            autoindexes: int = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'audit_events' "
                "AND name LIKE 'sqlite_autoindex%'").scalar_one()
            rowid_is_seq: int = conn.exec_driver_sql(
                "SELECT count(*) FROM audit_events WHERE rowid = seq").scalar_one()
        assert (autoindexes, rowid_is_seq) == (1, 3)  # the one left is UNIQUE (id)
