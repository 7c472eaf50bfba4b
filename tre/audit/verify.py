"""Prove the audit trail intact: walk the chain, then hold it against the signed checkpoints.

The walk reads one consistent snapshot of the database through a plain DB-API cursor (no ORM,
and on SQLite a deferred read transaction, so verifying a live node blocks no writer). A long
log is split into ``seq`` ranges walked side by side by worker processes (:mod:`tre.audit.scan`),
one per CPU; their findings joined in order are exactly those of a single walk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import make_url

from tre.audit import scan
from tre.audit.chain import GENESIS_HASH
from tre.audit.checkpoints import Checkpoint, check_signature, read_head, read_log
from tre.db.database import Database
from tre.errors import AuditIntegrityError


@dataclass
class VerifyReport:
    """What ``tre audit verify`` found; ``ok`` only if there is no problem at all."""

    events: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    checkpoints_checked: int = 0
    anchored_seq: int = 0
    problems: list[str] = field(default_factory=list)
    walked_ranges: int = 1
    """Ranges of the log walked side by side (1: a single walk); not part of the JSON."""

    @property
    def ok(self) -> bool:
        """Whether the trail verified."""
        return not self.problems

    @property
    def unanchored(self) -> int:
        """Events after the newest signed checkpoint (written, but not yet signed)."""
        return self.last_seq - self.anchored_seq

    def as_json(self) -> dict[str, object]:
        """The report as JSON."""
        return {"ok": self.ok, "events": self.events, "last_seq": self.last_seq,
                "last_hash": self.last_hash, "checkpoints_checked": self.checkpoints_checked,
                "anchored_seq": self.anchored_seq, "unanchored_events": self.unanchored,
                "problems": self.problems}


MAX_PROBLEMS = 50

EVENTS_PER_WORKER = 100_000
"""A log is split into one range per CPU, but no range shorter than this."""

MAX_WORKERS = 8


def verify(db: Database, audit_dir: Path, public_key: Ed25519PublicKey, *,
           workers: int | None = None) -> VerifyReport:
    """Check modification, deletion, insertion, reordering and truncation of the audit log.

    ``workers`` walks the log in that many ranges at once (default: one per CPU for a long log,
    else one); the report does not depend on it.
    """
    report = VerifyReport()
    head, wanted = _signed_checkpoints(audit_dir, public_key, report.problems)
    with _snapshot(db) as (conn, stream, placeholder):
        look = conn.cursor()
        look.execute("SELECT seq, hash FROM audit_head")
        db_head = look.fetchall()
        look.execute("SELECT min(seq), max(seq) FROM audit_events")
        low, high = look.fetchone()
        look.close()
        result = None
        if type(low) is int and type(high) is int:
            count = workers or _default_workers(high - low + 1)
            if count > 1:
                result = _parallel_walk(db, conn, stream, placeholder, low, high, count, wanted,
                                        already=len(report.problems))
                if result is not None:
                    report.walked_ranges = result.ranges
        if result is None:
            stream.execute(scan.ALL_ROWS)
            result = scan.walk(scan.fetch(stream), GENESIS_HASH, 1, wanted, limit=MAX_PROBLEMS,
                               already=len(report.problems))
    report.problems.extend(result.problems)
    report.events, report.last_seq, report.last_hash = (result.events, result.last_seq,
                                                        result.last_hash)
    report.checkpoints_checked, report.anchored_seq = (result.checkpoints_checked,
                                                       result.anchored_seq)
    if not result.stopped:  # else the walk's end is not the log's: nothing to say about it
        for seq in result.found:
            wanted.pop(seq, None)
        for seq in sorted(wanted):
            if seq > report.last_seq:
                report.problems.append(
                    f"a signed checkpoint names event {seq} but the log ends at event "
                    f"{report.last_seq}: the log was truncated")
        if len(db_head) != 1 or tuple(db_head[0]) != (report.last_seq, report.last_hash):
            report.problems.append("the stored head does not match the last event: the log "
                                   "was truncated or appended to outside tre")
    if report.events and head is None:
        report.problems.append(
            f"no signed checkpoint in {audit_dir}: the log cannot be anchored (restore "
            "head.json from backup, or investigate its removal)")
    return report


def _signed_checkpoints(audit_dir: Path, public_key: Ed25519PublicKey, problems: list[str],
                        ) -> tuple[Checkpoint | None, dict[int, list[tuple[str, str]]]]:
    """The head checkpoint (None if absent or unreadable) and every well-signed checkpoint.

    Read before the database, so that no signed checkpoint is newer than the snapshot walked.
    """
    try:
        head = read_head(audit_dir)
    except AuditIntegrityError as exc:
        problems.append(str(exc))
        head = None
    wanted: dict[int, list[tuple[str, str]]] = {}
    for cp in [*read_log(audit_dir, problems), *([head] if head else [])]:
        if not check_signature(cp, public_key):
            problems.append(
                f"checkpoint for event {cp.seq} has an invalid signature (forged, or signed "
                "with another key)")
            continue
        wanted.setdefault(cp.seq, []).append((cp.hash, cp.time))
    return head, wanted


@contextmanager
def _snapshot(db: Database) -> Iterator[tuple[Any, Any, str]]:
    """``(connection, streaming cursor, placeholder)`` in one read-only snapshot of ``db``."""
    raw = db.engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        if db.is_sqlite:
            # The pool's connections run in driver autocommit (tre.db.database); a deferred
            # BEGIN holds one snapshot (WAL) without taking the write lock.
            conn.execute("BEGIN")
            try:
                yield conn, conn.cursor(), "?"
            finally:
                conn.execute("ROLLBACK")
        else:
            conn.rollback()  # end any transaction the pool's pre-ping began
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            with conn.cursor(name="tre_audit_verify") as stream:
                stream.itersize = scan.FETCH_ROWS
                yield conn, stream, "%s"
    finally:
        raw.close()


def _default_workers(span: int) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, MAX_WORKERS, span // EVENTS_PER_WORKER))


def _worker_target(db: Database) -> dict[str, Any] | None:
    """How a worker process connects to ``db``, or None if it cannot (no parallel walk)."""
    if db.is_sqlite:
        return None if db.sqlite_path is None else {"sqlite": str(db.sqlite_path)}
    url = make_url(db.url)
    if url.get_backend_name() != "postgresql":
        return None
    args: dict[str, Any] = url.translate_connect_args(username="user", database="dbname")
    args.update({k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()})
    return {"postgresql": args}


def _parallel_walk(db: Database, conn: Any, stream: Any, placeholder: str, low: int,
                   high: int, count: int, wanted: dict[int, list[tuple[str, str]]], *,
                   already: int) -> scan.Walk | None:
    """Walk ``[low, high]`` in ``count`` ranges (this process takes the first), then join.

    None (walk it in one go instead) if a worker failed, or if the problems are so many that the
    single walk's cut-off at :data:`MAX_PROBLEMS` would show.
    """
    target = _worker_target(db)
    if target is None:
        return None
    step = -(-(high - low + 1) // count)
    bounds = [(lo, min(lo + step, high + 1)) for lo in range(low, high + 1, step)]
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(p for p in (package_root,
                                                     os.environ.get("PYTHONPATH")) if p)}
    procs: list[subprocess.Popen[str]] = []
    try:
        for lo, hi in bounds[1:]:
            request = {"connect": target, "lo": lo, "hi": hi, "limit": MAX_PROBLEMS,
                       "wanted": {str(s): cps for s, cps in wanted.items() if lo <= s < hi}}
            proc = subprocess.Popen([sys.executable, "-m", "tre.audit.scan"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, env=env, text=True)
            procs.append(proc)
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(request))
            proc.stdin.close()
        lo, hi = bounds[0]
        parts = [scan.walk_range(conn, stream, placeholder, lo, hi,
                                 {s: c for s, c in wanted.items() if lo <= s < hi},
                                 limit=MAX_PROBLEMS)]
        for proc in procs:
            assert proc.stdout is not None
            out = proc.stdout.read()
            proc.stdout.close()
            if proc.wait() != 0:
                return None
            parts.append(scan.Walk(**json.loads(out)))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    joined = scan.Walk(ranges=len(parts))
    for part in parts:
        joined.problems.extend(part.problems)
        joined.found.extend(part.found)
        joined.checkpoints_checked += part.checkpoints_checked
        joined.anchored_seq = max(joined.anchored_seq, part.anchored_seq)
        if part.events:
            joined.events += part.events
            joined.last_seq, joined.last_hash = part.last_seq, part.last_hash
    if already + len(joined.problems) >= MAX_PROBLEMS:
        return None
    return joined
