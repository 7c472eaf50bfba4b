"""Server nodes checkpoint SQLite's write-ahead log from a thread of their own (tre.db.wal)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from tre.db.database import WAL_AUTOCHECKPOINT_PAGES, Database
from tre.db.wal import BACKSTOP_PAGES
from tre.services.bootstrap import initialise, open_node
from tre.settings import Settings


def _on_disk_hash(path: Path) -> str:
    """The audit head's hash in the database file itself, ignoring the write-ahead log."""
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return str(conn.execute("SELECT hash FROM audit_head WHERE id = 1").fetchone()[0])
    except sqlite3.OperationalError:  # the schema itself is still only in the log
        return ""
    finally:
        conn.close()


def _autocheckpoint(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_a_server_database_copies_its_log_into_the_file_from_a_thread(sqlite_url: str) -> None:
    db = Database(sqlite_url, background_checkpoints=True)
    db.migrate()
    assert db.sqlite_path is not None
    try:
        assert db.checkpointer is None  # started by the first write, not by opening
        with db.transaction() as session:
            session.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": "f" * 64})
        checkpointer = db.checkpointer
        assert checkpointer is not None
        assert checkpointer.running
        deadline = time.monotonic() + 30
        while _on_disk_hash(db.sqlite_path) != "f" * 64 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _on_disk_hash(db.sqlite_path) == "f" * 64  # in the file, not only in the log
        assert checkpointer.checkpoints >= 1
        assert _autocheckpoint(db) == BACKSTOP_PAGES  # the writers' own, as a backstop
    finally:
        db.dispose()
    assert not checkpointer.running
    db.dispose()  # idempotent


def test_dispose_runs_a_last_checkpoint(sqlite_url: str) -> None:
    db = Database(sqlite_url, background_checkpoints=True)
    db.migrate()
    assert db.sqlite_path is not None
    with db.driver_transaction() as work:
        work.connection.execute("UPDATE audit_head SET hash = ? WHERE id = 1", ("e" * 64,))
    checkpointer = db.checkpointer
    assert checkpointer is not None
    db.dispose()
    assert not checkpointer.running
    assert _on_disk_hash(db.sqlite_path) == "e" * 64


def test_one_shot_processes_keep_sqlites_own_checkpoints(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    try:
        with db.transaction() as session:
            session.execute(text("UPDATE audit_head SET hash = hash WHERE id = 1"))
        assert db.checkpointer is None
        assert _autocheckpoint(db) == WAL_AUTOCHECKPOINT_PAGES
    finally:
        db.dispose()


def test_server_nodes_ask_for_the_checkpointer_and_cli_nodes_do_not(settings: Settings) -> None:
    initialise(settings).dispose()
    server, cli = open_node(settings, server=True), open_node(settings)
    try:
        assert server.db.checkpointer is None
        for node in (server, cli):
            with node.db.driver_transaction():
                pass
        assert server.db.checkpointer is not None
        assert cli.db.checkpointer is None
    finally:
        server.close()
        cli.close()
