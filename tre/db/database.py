"""Open, migrate and transact on tre's database; SQLite under $TRE_HOME or PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tre.db.driver import DriverTransaction
from tre.db.wal import BACKSTOP_PAGES, WalCheckpointer
from tre.errors import StorageError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SCHEMA_HEAD = "0004"
"""The newest migration; a test holds it equal to Alembic's head (checked without importing
Alembic, which would slow every command)."""


def alembic_config(engine: Engine) -> Any:
    """An Alembic config that migrates ``engine`` with tre's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


WAL_AUTOCHECKPOINT_PAGES = 10_000
"""Pages (4 KiB) the write-ahead log grows to before a commit copies it into the database.

SQLite's default, 1,000, made every ~80th commit of the application workflow stall on two
fsyncs and ~1,000 page writes, most of them the same hot pages (the audit head, index leaves)
over and over. Ten times fewer, larger checkpoints write each hot page once per ~700 commits:
half the commit time in total (docs/benchmarks.md), for a log of up to ~40 MiB on disk.
"""

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # Under WAL, NORMAL syncs at checkpoints, not at every commit: a commit survives a crash of
    # the process at once, and a power loss once the next checkpoint has run; the database is
    # never corrupted either way (docs/security-model.md, on what that means for the audit).
    "PRAGMA synchronous = NORMAL",
    f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}",
    "PRAGMA foreign_keys = ON",
)


def _sqlite_pragmas(busy_timeout_s: float, autocheckpoint_pages: int) -> Any:
    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Autocommit at the driver level so that we emit BEGIN IMMEDIATE ourselves: a writer
        # takes the write lock up front instead of failing on a lock upgrade under contention.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        for pragma in SQLITE_PRAGMAS:
            cur.execute(pragma)
        if autocheckpoint_pages != WAL_AUTOCHECKPOINT_PAGES:
            cur.execute(f"PRAGMA wal_autocheckpoint = {int(autocheckpoint_pages)}")
        cur.close()

    return on_connect


READ_ONLY = "tre_read_only"


def _begin(conn: Any) -> None:
    # Writers take SQLite's write lock up front (no failed lock upgrade under contention);
    # readers begin deferred, so a long read never holds writers off.
    read_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def describe_operational_error(url: str, exc: BaseException) -> str:
    """A message naming what went wrong with the database and what to do."""
    text = str(getattr(exc, "orig", exc))
    if "locked" in text or "busy" in text:
        return (
            f"the database {url} is locked by another process: wait for it to finish "
            "(or raise TRE_DB_BUSY_TIMEOUT_S) and try again"
        )
    return f"cannot use the database {url}: {text}"


class Database:
    """A connection pool plus the session factory; create once and pass in.

    ``background_checkpoints``: on SQLite, copy the write-ahead log into the database from a
    thread of its own (:mod:`tre.db.wal`), started with the first write; for server nodes.
    """

    def __init__(self, url: str, *, busy_timeout_s: float = 10.0,
                 background_checkpoints: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.sqlite_path: Path | None = None
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            self.sqlite_path = Path(parsed.database) if parsed.database else None
            kwargs["connect_args"] = {"timeout": busy_timeout_s, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(url, **kwargs)
        self._busy_timeout_s = busy_timeout_s
        self._wants_checkpointer = self.is_sqlite and background_checkpoints \
            and self.sqlite_path is not None
        self._checkpointer: WalCheckpointer | None = None
        self._checkpointer_lock = threading.Lock()
        if self.is_sqlite:
            pages = BACKSTOP_PAGES if self._wants_checkpointer else WAL_AUTOCHECKPOINT_PAGES
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_s, pages))
            event.listen(self.engine, "begin", _begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_engine = self.engine.execution_options(**{READ_ONLY: True})
        """The same pool, for reads: deferred transactions on SQLite."""
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        dbapi = self.engine.dialect.loaded_dbapi
        self._driver_errors: type[Exception] = dbapi.Error
        self._driver_operational_errors: type[Exception] = dbapi.OperationalError

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return make_url(self.url).render_as_string(hide_password=True)

    def exists(self) -> bool:
        """Whether the database file exists (always True for a server database)."""
        return self.sqlite_path is None or self.sqlite_path.exists()

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration."""
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        from alembic import command

        try:
            command.upgrade(alembic_config(self.engine), "head")
        except OperationalError as exc:
            raise StorageError(describe_operational_error(self.display_url, exc)) from exc

    def check_ready(self) -> None:
        """Raise a StorageError saying what to do unless the schema is at the newest migration."""
        if not self.exists():
            raise StorageError(
                f"no tre database at {self.sqlite_path}: run `tre init` first "
                "(or set TRE_HOME / TRE_DATABASE_URL to where your tre lives)"
            )
        try:
            with self.read_engine.connect() as conn:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError) as exc:
            if "alembic_version" not in str(exc):
                raise StorageError(describe_operational_error(self.display_url, exc)) from exc
            current = None
        if current != SCHEMA_HEAD:
            raise StorageError(
                f"the database {self.display_url} is at schema {current or 'none'}, "
                f"this tre needs {SCHEMA_HEAD}: run `tre init` to migrate it"
            )

    @property
    def checkpointer(self) -> WalCheckpointer | None:
        """The background WAL checkpointer, once a write started it (None without one)."""
        return self._checkpointer

    def _ensure_checkpointer(self) -> None:
        """Start the WAL checkpointer with the first write, if this database wants one."""
        if not self._wants_checkpointer or self._checkpointer is not None:
            return  # the common case, without the lock
        with self._checkpointer_lock:
            if self._checkpointer is None and self._wants_checkpointer:
                assert self.sqlite_path is not None
                self._checkpointer = WalCheckpointer(self.sqlite_path,
                                                     busy_timeout_s=self._busy_timeout_s)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        self._ensure_checkpointer()
        with self._session(self._sessions) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: never takes the SQLite write lock."""
        with self._session(self._read_sessions) as session:
            yield session

    @contextmanager
    def driver_transaction(self) -> Iterator[DriverTransaction]:
        """A transaction on a pooled driver connection, for prepared statements only.

        Committed on success, rolled back on any error, like :meth:`transaction`.
        """
        self._ensure_checkpointer()
        with self._storage_errors():
            pooled = self.engine.raw_connection()
            try:
                connection: Any = pooled.driver_connection
                if self.is_sqlite:
                    connection.execute("BEGIN IMMEDIATE")  # as _begin: the write lock up front
                work = DriverTransaction(self.engine.dialect, connection)
                try:
                    yield work
                    work.commit()
                except BaseException:
                    try:
                        connection.rollback()
                    except self._driver_errors:  # the connection is broken: never reuse it
                        pooled.invalidate()
                    raise
            finally:
                pooled.close()  # back to the pool

    @contextmanager
    def _session(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        with self._storage_errors(), factory.begin() as session:
            yield session

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """Database errors raised inside as StorageError, with a message saying what to do."""
        try:
            yield
        except OperationalError as exc:
            raise StorageError(describe_operational_error(self.display_url, exc)) from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"database error on {self.display_url}: {exc}") from exc
        except self._driver_errors as exc:  # statements run on the driver (tre.db.prepared)
            if isinstance(exc, self._driver_operational_errors):
                raise StorageError(describe_operational_error(self.display_url, exc)) from exc
            raise StorageError(f"database error on {self.display_url}: {exc}") from exc

    def dispose(self) -> None:
        """Stop the WAL checkpointer (after a last checkpoint) and close every pooled connection."""
        with self._checkpointer_lock:
            checkpointer, self._checkpointer = self._checkpointer, None
            self._wants_checkpointer = False
        if checkpointer is not None:
            checkpointer.close()
        self.engine.dispose()
