"""Transactions: writers serialise, readers never hold writers off (SQLite)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from tre.db.database import Database
from tre.errors import StorageError


def test_reader_does_not_block_a_writer_and_writers_serialise(sqlite_url: str) -> None:
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
    with db.transaction() as session:
        session.execute(text("SELECT 1"))  # the session begins (IMMEDIATE) on first use
        blocker = sqlite3.connect(path, isolation_level=None, timeout=0.2)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            blocker.execute("BEGIN IMMEDIATE")  # our write transaction holds the lock
        blocker.close()
    db.dispose()


def test_locked_database_is_a_storage_error(sqlite_url: str) -> None:
    db = Database(sqlite_url, busy_timeout_s=0.2)
    db.migrate()
    holder = sqlite3.connect(db.sqlite_path or "", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked by another process"), \
                db.transaction() as session:
            session.execute(text("SELECT 1"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        db.dispose()
