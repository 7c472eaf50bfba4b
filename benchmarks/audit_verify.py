"""Benchmark `tre audit verify` over a large audit trail (target: 1,000,000 events in <= 10 s).

A fresh $TRE_HOME (a temporary folder) is initialised with `tre init`, then filled FAST with
``--events`` audit events: rows computed with :mod:`tre.audit.chain` and bulk-inserted in batches
(SQLAlchemy Core executemany), the head row moved after each batch, and signed checkpoints
written with the real :class:`~tre.audit.checkpoints.CheckpointWriter` the way the node writes
them (``head.json`` after each commit, a ``checkpoints.jsonl`` line every 1000 events). Then
``tre audit verify --json`` is timed as a subprocess, and :func:`tre.audit.verify.verify` in
process.

    .venv/bin/python benchmarks/audit_verify.py                       # 1M events on SQLite
    .venv/bin/python benchmarks/audit_verify.py --events 100000
    .venv/bin/python benchmarks/audit_verify.py --database-url postgresql+psycopg://...

With ``--database-url`` a fresh database is created on that server and dropped afterwards.
Results: a markdown table on stdout and JSON in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, make_url, text, update
from sqlalchemy.exc import DBAPIError

from tre.audit.chain import GENESIS_HASH, canonical_json, event_hash
from tre.audit.checkpoints import LOG_EVERY, PUBLIC_KEY, CheckpointWriter, load_public_key
from tre.audit.verify import verify
from tre.db.database import Database
from tre.db.schema import AuditEventRow, AuditHeadRow

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TRE = Path(sys.executable).parent / "tre"
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)

_ACTORS = ("alice", "bob", "carol", "olga", "oscar", "rita", "dan", "system")
_ACTIONS = (
    ("application.submit", "application", True),
    ("application.approve", "application", True),
    ("permit.issue", "permit", False),
    ("data.access", "dataset", True),
    ("permit.suspend", "permit", True),
    ("user.add", "user", False),
)
_DECISIONS = {
    actor: canonical_json({"decision": "application_decide", "allow": True,
                           "reasons": [f"{actor} holds role hdab_officer",
                                       "the application is complete"]})
    for actor in _ACTORS}
_NO_DECISION = canonical_json(None)
_DAY0 = T0.isoformat(timespec="microseconds")[:11]  # "2027-01-04T"


def _event(seq: int, prev_hash: str) -> dict[str, Any]:
    """One realistic event row (decision and details JSON of typical size), hashed.

    Built with plain string formatting: generating a million rows must not dominate the fill.
    """
    action, object_type, decided = _ACTIONS[seq % len(_ACTIONS)]
    actor = _ACTORS[seq % len(_ACTORS)]
    decision = _DECISIONS[actor] if decided else _NO_DECISION
    ms = seq % 86_400_000
    time = (f"{_DAY0}{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}."
            f"{ms % 1000:03d}000+00:00")
    id_ = f"{seq >> 32:08x}-{seq >> 16 & 0xFFFF:04x}-4{seq & 0xFFF:03x}-8000-{seq:012x}"
    object_id = f"{object_type[:3]}-{seq:012x}"
    request_id = f"{seq // 3:032x}"
    details = f'{{"project":"project-{seq // 3}","reason":"sound protocol"}}'
    return {
        "seq": seq, "id": id_, "time": time, "actor": actor, "action": action,
        "object_type": object_type, "object_id": object_id, "outcome": "allowed",
        "decision": decision, "request_id": request_id, "details": details,
        "prev_hash": prev_hash,
        "hash": event_hash(prev_hash, seq, id_, time, actor, action, object_type, object_id,
                           "allowed", decision, request_id, details),
    }


def fill(db: Database, writer: CheckpointWriter, events: int, batch: int) -> None:
    """Append ``events`` chained events, committing ``batch`` at a time, and sign checkpoints.

    After each commit the head is signed as the node does; checkpoint log lines land at the
    first commit and whenever a commit crosses a multiple of :data:`LOG_EVERY` (here the head
    is signed at each multiple within a batch too, so the log holds one line per 1000 events).
    """
    table = AuditEventRow.__table__
    prev_hash, seq, signed_seq = GENESIS_HASH, 0, 0
    while seq < events:
        rows = []
        for _ in range(min(batch, events - seq)):
            seq += 1
            row = _event(seq, prev_hash)
            prev_hash = row["hash"]
            rows.append(row)
        with db.engine.begin() as conn:
            conn.execute(insert(table), rows)
            conn.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1)
                         .values(seq=seq, hash=prev_hash))
        for row in rows:
            if row["seq"] == 1 or row["seq"] % LOG_EVERY == 0:
                writer.record(row["seq"], row["hash"], previous_seq=signed_seq)
                signed_seq = row["seq"]
        if signed_seq != seq:
            writer.record(seq, prev_hash, previous_seq=signed_seq)
            signed_seq = seq


@contextmanager
def server_database(url: str) -> Iterator[str]:
    """A fresh database on the server of ``url``, dropped afterwards."""
    name = f"tre_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        for attempt in range(20):  # autovacuum may still be busy on a freshly filled database
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                break
            except DBAPIError:
                if attempt == 19:
                    raise
                time.sleep(1)
        admin.dispose()


@contextmanager
def database_url(server_url: str | None, home: Path) -> Iterator[str]:
    """SQLite under ``home``, or a fresh database on the given server."""
    if server_url is None:
        yield f"sqlite:///{home / 'tre.db'}"
    else:
        with server_database(server_url) as url:
            yield url


def cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (verify's workers included)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_cli_verify(env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU seconds of `tre audit verify --json` (process start included), its report."""
    start, cpu = time.perf_counter(), cpu_seconds()
    done = subprocess.run([str(TRE), "audit", "verify", "--json"], env=env,
                          capture_output=True, text=True, check=False)
    elapsed, used = time.perf_counter() - start, cpu_seconds() - cpu
    if done.returncode != 0:
        raise SystemExit(f"tre audit verify failed ({done.returncode}):\n{done.stdout}"
                         f"{done.stderr}")
    return elapsed, used, json.loads(done.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="audit events to fill and verify (default 1,000,000)")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server URL (a fresh database is created there); "
                        "default SQLite in the temporary home")
    parser.add_argument("--batch", type=int, default=10_000, help="events per insert commit")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each verify")
    parser.add_argument("--workers", type=int, default=None,
                        help="ranges for the in-process verify (default: verify's own choice)")
    parser.add_argument("--no-save", action="store_true", help="do not write results JSON")
    args = parser.parse_args(argv)
    if args.events < 1 or args.batch < 1 or args.repeat < 1:
        parser.error("--events, --batch and --repeat must be positive")

    with tempfile.TemporaryDirectory(prefix="tre-bench-") as tmp:
        home = Path(tmp) / "home"
        with database_url(args.database_url, home) as url:
            env = {**os.environ, "TRE_HOME": str(home), "TRE_DATABASE_URL": url}
            subprocess.run([str(TRE), "init"], env=env, check=True, capture_output=True)
            db = Database(url)
            writer = CheckpointWriter(home / "audit", home / "keys")
            start = time.perf_counter()
            fill(db, writer, args.events, args.batch)
            fill_s = time.perf_counter() - start
            print(f"filled {args.events:,} events in {fill_s:.1f} s", file=sys.stderr)

            cli_runs: list[float] = []
            cli_cpu: list[float] = []
            for _ in range(args.repeat):
                elapsed, used, report = run_cli_verify(env)
                if not report["ok"] or report["events"] != args.events:
                    raise SystemExit(f"verify did not pass: {report}")
                cli_runs.append(elapsed)
                cli_cpu.append(used)
            key = load_public_key(home / "keys" / PUBLIC_KEY)
            inproc_runs: list[float] = []
            inproc_cpu: list[float] = []
            for _ in range(args.repeat):
                start, cpu = time.perf_counter(), cpu_seconds()
                result = verify(db, home / "audit", key, workers=args.workers)
                inproc_runs.append(time.perf_counter() - start)
                inproc_cpu.append(cpu_seconds() - cpu)
                if not result.ok or result.events != args.events:
                    raise SystemExit(f"verify did not pass: {result.as_json()}")
            ranges = result.walked_ranges
            db.dispose()
            backend = make_url(url).get_backend_name()

    cli_s, inproc_s = min(cli_runs), min(inproc_runs)
    results = {
        "benchmark": "audit_verify",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": backend,
        "events": args.events,
        "checkpoints": report["checkpoints_checked"],
        "fill_s": round(fill_s, 3),
        "cli_verify_s": [round(s, 3) for s in cli_runs],
        "cli_verify_cpu_s": [round(s, 3) for s in cli_cpu],
        "inprocess_verify_s": [round(s, 3) for s in inproc_runs],
        "inprocess_verify_cpu_s": [round(s, 3) for s in inproc_cpu],
        "inprocess_walked_ranges": ranges,
        "events_per_s_cli": round(args.events / cli_s),
        "target": "1,000,000 events in <= 10 s",
        "meets_target": cli_s * 1_000_000 / args.events <= 10.0,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                    "python": platform.python_version(), "platform": platform.platform()},
    }
    print("| backend | events | checkpoints | fill (s) | `tre audit verify` wall (CPU) s | "
          "in-process verify wall (CPU) s | ranges | events/s (CLI) |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|\n"
          f"| {backend} | {args.events:,} | {results['checkpoints']:,} | {fill_s:.1f} | "
          f"{cli_s:.2f} ({min(cli_cpu):.2f}) | {inproc_s:.2f} ({min(inproc_cpu):.2f}) | "
          f"{ranges} | {results['events_per_s_cli']:,} |")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", file=sys.stderr)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"audit_verify-{backend}-{args.events}-{stamp}.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
