"""Transactions: writers serialise, readers never hold writers off (SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from tre.db.database import WAL_AUTOCHECKPOINT_PAGES, Database
from tre.errors import StorageError


@contextmanager
def writing(db: Database, kind: str) -> Iterator[None]:
    """Inside a write transaction of ``kind`` (an ORM session, or a driver transaction)."""
    if kind == "session":
        with db.transaction() as session:
            session.execute(text("SELECT 1"))  # the session begins (IMMEDIATE) on first use
            yield
    else:
        with db.driver_transaction():
            yield


KINDS = pytest.mark.parametrize("kind", ["session", "driver"])


@KINDS
def test_reader_does_not_block_a_writer_and_writers_serialise(sqlite_url: str,
                                                              kind: str) -> None:
    db = Database(sqlite_url, busy_timeout_s=0.2)
    db.migrate()
    path = db.sqlite_path
    assert path is not None
    with db.reading() as session:
        session.execute(text("SELECT count(*) FROM users")).scalar_one()
        other = sqlite3.connect(path, isolation_level=None, timeout=0.2)
        other.execute("BEGIN IMMEDIATE")  # a writer gets in while we read
        other.execute("INSERT INTO users (name, display_name, created_at) "
                      "VALUES ('zed', '', '2026-01-01 00:00:00')")
        other.execute("COMMIT")
        other.close()
    with writing(db, kind):
        blocker = sqlite3.connect(path, isolation_level=None, timeout=0.2)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            blocker.execute("BEGIN IMMEDIATE")  # our write transaction holds the lock
        blocker.close()
    db.dispose()


@KINDS
def test_locked_database_is_a_storage_error(sqlite_url: str, kind: str) -> None:
    db = Database(sqlite_url, busy_timeout_s=0.2)
    db.migrate()
    holder = sqlite3.connect(db.sqlite_path or "", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked by another process"), writing(db, kind):
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with writing(db, kind):  # nothing was left half begun
        pass
    db.dispose()


def test_sqlite_connections_use_wal_with_normal_sync_and_large_checkpoints(
        sqlite_url: str) -> None:
    db = Database(sqlite_url, busy_timeout_s=0.25)
    db.migrate()
    pragmas = ("journal_mode", "synchronous", "wal_autocheckpoint", "foreign_keys",
               "busy_timeout")
    expected = ["wal", 1, WAL_AUTOCHECKPOINT_PAGES, 1, 250]  # synchronous 1: NORMAL
    with db.transaction() as session:
        assert [session.execute(text(f"PRAGMA {p}")).scalar_one() for p in pragmas] == expected
    with db.driver_transaction() as tx:
        assert [tx.connection.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas] == expected
    db.dispose()
