"""Walk the audit chain over a plain DB-API cursor; also the worker of a parallel verify.

``tre audit verify`` splits a long log into ``seq`` ranges and walks them side by side, one
worker process per range (``python -m tre.audit.scan``: a JSON request on stdin, the JSON
:class:`Walk` on stdout). A range's walk starts from the stored hash of the event just before it,
exactly the state a single walk would be in there, so the ranges' findings joined in order are the
single walk's findings. This module imports neither SQLAlchemy nor the rest of tre, so that a
worker starts in a fraction of a second.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tre.audit.chain import GENESIS_HASH, event_hash

COLUMNS = ("seq, id, time, actor, action, object_type, object_id, outcome, decision, "
           "request_id, details, prev_hash, hash")
FETCH_ROWS = 5000
ALL_ROWS = f"SELECT {COLUMNS} FROM audit_events ORDER BY seq"  # noqa: S608 - constants only
TOO_MANY = "too many problems: stopped"

Wanted = Mapping[int, Sequence[tuple[str, str]]]
"""Signed checkpoints by ``seq``: ``(hash, time)`` of each (the signatures already checked)."""


@dataclass
class Walk:
    """What walking a run of events found."""

    events: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    checkpoints_checked: int = 0
    anchored_seq: int = 0
    found: list[int] = field(default_factory=list)
    """The checkpoint ``seq`` values met (the others name events the walk did not see)."""
    problems: list[str] = field(default_factory=list)
    stopped: bool = False
    ranges: int = 1
    """How many ranges were walked to find this (joined walks)."""


def walk(rows: Iterator[Sequence[Any]], prev_hash: str, expected: int, wanted: Wanted, *,
         limit: int, already: int = 0) -> Walk:
    """Check each row's hash, its link to the row before, ``seq`` continuity and checkpoints.

    ``rows`` are :data:`COLUMNS` in ``seq`` order; ``prev_hash`` and ``expected`` are the stored
    hash and ``seq + 1`` of the row before the first (genesis and 1 at the start of the log).
    Stops once ``already`` plus the problems found reach ``limit``.
    """
    out = Walk()
    problems = out.problems
    for row in rows:
        if already + len(problems) >= limit:
            problems.append(TOO_MANY)
            out.stopped = True
            break
        (seq, id_, time, actor, action, otype, oid, outcome, decision, rid, details,
         stored_prev, stored_hash) = row
        if seq != expected:
            if type(seq) is not int:
                problems.append(f"an event has the sequence number {seq!r}, not an integer: "
                                "the log was tampered with")
                continue
            problems.append(f"event {expected} is missing (next is {seq}): events were deleted")
        if stored_prev != prev_hash:
            problems.append(f"event {seq} does not follow event {seq - 1} (events were deleted, "
                            "inserted or reordered)")
        if event_hash(stored_prev, seq, id_, time, actor, action, otype, oid, outcome,
                      decision, rid, details) != stored_hash:
            problems.append(f"event {seq} was modified after it was written")
        if seq in wanted:
            out.found.append(seq)
            for cp_hash, cp_time in wanted[seq]:
                out.checkpoints_checked += 1
                out.anchored_seq = max(out.anchored_seq, seq)
                if cp_hash != stored_hash:
                    problems.append(f"event {seq} differs from its signed checkpoint of "
                                    f"{cp_time}: the log was rewritten")
        prev_hash, expected = stored_hash, seq + 1
        out.events += 1
    if out.events:
        out.last_seq, out.last_hash = expected - 1, prev_hash
    return out


def fetch(cursor: Any) -> Iterator[Sequence[Any]]:
    """The rows of an executed cursor, fetched in batches."""
    while True:
        batch = cursor.fetchmany(FETCH_ROWS)
        if not batch:
            return
        yield from batch


def range_query(placeholder: str) -> tuple[str, str]:
    """SQL for the rows of ``seq`` in ``[lo, hi)``, and for the stored head just before ``lo``."""
    # Only constants and the driver's placeholder are formatted in; values are bound.
    rows = (f"SELECT {COLUMNS} FROM audit_events WHERE seq >= {placeholder} "  # noqa: S608
            f"AND seq < {placeholder} ORDER BY seq")
    before = (f"SELECT seq, hash FROM audit_events WHERE seq < {placeholder} "  # noqa: S608
              "ORDER BY seq DESC LIMIT 1")
    return rows, before


def walk_range(conn: Any, cursor: Any, placeholder: str, lo: int, hi: int, wanted: Wanted, *,
               limit: int) -> Walk:
    """Walk ``seq`` in ``[lo, hi)`` on ``conn``, in the state a whole walk has at ``lo``.

    ``cursor`` streams the rows (a server-side cursor on PostgreSQL); ``conn`` answers the one
    small look-up of the event before ``lo``.
    """
    rows_sql, before_sql = range_query(placeholder)
    look = conn.cursor()
    look.execute(before_sql, (lo,))
    before = look.fetchone()
    look.close()
    prev_hash, expected = (GENESIS_HASH, 1) if before is None else (before[1], before[0] + 1)
    cursor.execute(rows_sql, (lo, hi))
    return walk(fetch(cursor), prev_hash, expected, wanted, limit=limit)


def _worker(request: Mapping[str, Any]) -> Walk:
    """Walk one range for a parent ``tre audit verify`` (see :func:`main`)."""
    wanted = {int(seq): [(h, t) for h, t in cps] for seq, cps in request["wanted"].items()}
    lo, hi, limit = int(request["lo"]), int(request["hi"]), int(request["limit"])
    target = request["connect"]
    if "sqlite" in target:
        lite = sqlite3.connect(target["sqlite"], isolation_level=None)
        try:
            lite.execute("BEGIN")  # one read snapshot; deferred, so writers are not blocked
            return walk_range(lite, lite.cursor(), "?", lo, hi, wanted, limit=limit)
        finally:
            lite.close()
    import psycopg  # only PostgreSQL workers need it

    with psycopg.connect(**target["postgresql"]) as pg:
        pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with pg.cursor(name="tre_audit_scan") as stream:
            stream.itersize = FETCH_ROWS
            return walk_range(pg, stream, "%s", lo, hi, wanted, limit=limit)


def main() -> None:
    """``python -m tre.audit.scan``: request JSON on stdin, the :class:`Walk` JSON on stdout."""
    result = _worker(json.load(sys.stdin))
    json.dump(asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
