"""Copy SQLite's write-ahead log into the database from a thread of its own, for server nodes.

With ``wal_autocheckpoint`` the commit that fills the log copies it into the database there and
then: ~50 ms of page copies and two fsyncs, about once every 700 commits, in the middle of
someone's request. A server node (the hub, the REST API) instead runs a :class:`WalCheckpointer`:
every :data:`INTERVAL_S` it runs a PASSIVE checkpoint on a connection of its own, which copies
what the log holds beside the writers, never blocking them (the GIL is released while SQLite
works). An idle log costs nothing; the writers' own auto-checkpoint stays armed at
:data:`BACKSTOP_PAGES` in case this thread falls behind or fails.

It also narrows what a power loss can take (docs/security-model.md): a checkpoint flushes the
log first, so on a server node a commit is on disk within about a second.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

INTERVAL_S = 0.5
"""Seconds between two checkpoints (each a no-op when nothing was committed)."""

BACKSTOP_PAGES = 40_000
"""Writers' own ``wal_autocheckpoint`` while a checkpointer runs (4x the one-shot setting)."""

log = logging.getLogger(__name__)


class WalCheckpointer:
    """One daemon thread checkpointing the SQLite database at ``path`` until :meth:`close`."""

    def __init__(self, path: Path, *, busy_timeout_s: float, interval_s: float = INTERVAL_S,
                 ) -> None:
        self._path = path
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.checkpoints = 0
        """Checkpoints run so far (for tests and status)."""
        self._thread = threading.Thread(target=self._run, name=f"tre-wal-{path.name}",
                                        daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Run a last checkpoint and stop the thread (idempotent)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error as exc:  # the writers' auto-checkpoint carries on alone
            log.warning("WAL checkpointer for %s not started: %s", self._path, exc)
            return
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            while True:
                stopping = self._stop.wait(self._interval_s)
                self._checkpoint(conn)
                if stopping:
                    return
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # busy, or the file went away: next time, or the backstop
            log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
