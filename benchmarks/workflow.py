"""Benchmark the application workflow with audit: applications submitted and approved per second.

Through the real services and the embedded policy engine, on a fresh $TRE_HOME (a temporary
folder): users and a dataset are seeded, a warm-up runs, then ``--applications`` applications,
each for its own project, are created and submitted (``applications.apply``) by a researcher
and approved (``applications.approve``) by an HDAB officer. Every call is one transaction that
writes its audit events, and the node signs the new audit head after each commit. The node is
opened as the hub and the REST API open theirs (``open_node(server=True)``): on SQLite a thread
of its own checkpoints the write-ahead log (tre.db.wal); ``--wal-checkpoints inline`` leaves that
to the committing request, as a one-shot CLI process does. Target: >= 500 applications per
second on SQLite.

    .venv/bin/python benchmarks/workflow.py                       # 2000 applications, SQLite
    .venv/bin/python benchmarks/workflow.py --profile             # and where the time goes
    .venv/bin/python benchmarks/workflow.py --database-url postgresql+psycopg://...

With ``--database-url`` a fresh database is created on that server and dropped afterwards.
Results: a markdown table on stdout and JSON in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audit_verify import server_database
from sqlalchemy import make_url, text

from tre.audit.checkpoints import PUBLIC_KEY, CheckpointWriter, load_public_key
from tre.audit.verify import verify
from tre.db.database import Database
from tre.db.datasets import Dataset
from tre.domain.purposes import Purpose
from tre.domain.roles import Role
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.services import applications, catalogue, users
from tre.services.bootstrap import initialise
from tre.services.node import Node
from tre.settings import Settings, default_policies_dir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MAX_APPLICATIONS = 200_000


def seed(node: Node) -> None:
    """The people and the dataset the applications name."""
    for name, roles in (("alice", [Role.RESEARCHER]), ("bob", [Role.RESEARCHER]),
                        ("olga", [Role.HDAB_OFFICER]), ("dan", [Role.DATA_HOLDER])):
        users.add_user(node, "host:bench", name, roles)
    catalogue.register_version(
        node, "dan", Dataset("lung-ct", "Lung CT", "", "Hospital A", False, node.clock()),
        "v1", "/srv/tre/datasets/lung-ct/v1")


def application_form(project: str, start: datetime) -> applications.ApplicationForm:
    """A typical application: one more member, one dataset, a year."""
    return applications.ApplicationForm(
        project=project, title="Lung nodule detection", purpose=Purpose.SCIENTIFIC_RESEARCH,
        description="Train and validate a nodule detector.", organisation="Uni X",
        members=(Member.parse("bob"),), datasets=(DatasetRef.parse("lung-ct"),),
        compute=Compute(4, 16, 1, 200), period=Period(start, start + timedelta(days=365)))


def run(node: Node, prefix: str, count: int, apply_s: list[float],
        approve_s: list[float]) -> None:
    """``count`` applications applied for and approved; each call's seconds appended."""
    start = node.clock()
    approval = applications.Approval("sound protocol")
    clock = time.perf_counter
    for i in range(count):
        t0 = clock()
        app = applications.apply(node, "alice", application_form(f"{prefix}-{i}", start))
        t1 = clock()
        applications.approve(node, "olga", app.id, approval)
        t2 = clock()
        apply_s.append(t1 - t0)
        approve_s.append(t2 - t1)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def audit_head(node: Node) -> int:
    with node.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT seq FROM audit_head")).scalar_one())


# Where the time goes: cProfile's own time, grouped by what spends it.
_CATEGORIES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("SQLite / PostgreSQL driver (execute, commit, fetch)",
     lambda f, n: f == "~" and ("sqlite3" in n or "psycopg" in n)),
    ("policy engine: regorus evaluation",
     lambda f, n: f == "~" and "Engine" in n),
    ("audit checkpoint: ed25519 signing",
     lambda f, n: "/nacl/" in f or (f == "~" and "sign" in n)),
    ("audit checkpoint: file I/O (open, lock, read, write, replace)",
     lambda f, n: f == "~" and any(k in n for k in (
         "posix.", "io.open", "flock", "_io.", "built-in method open", "fstat"))),
    ("SQLAlchemy (ORM + Core: statement building, compiling, caching, unit of work)",
     lambda f, n: "sqlalchemy" in f),
    ("tre.audit (record, chain hashing, checkpoints)", lambda f, n: "/tre/audit/" in f),
    ("tre.policy (input building, decisions)", lambda f, n: "/tre/policy/" in f),
    ("tre services, stores, domain", lambda f, n: "/tre/" in f),
    ("psycopg (Python side)", lambda f, n: "psycopg" in f),
    ("json", lambda f, n: "/json/" in f),
)


def where_time_goes(profile: cProfile.Profile, top: int) -> dict[str, Any]:
    """Own time by category, and the functions with the most own time."""
    stats = pstats.Stats(profile)
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    by_category: dict[str, float] = defaultdict(float)
    functions = []
    for (filename, line, name), (_cc, calls, tottime, _cum, _callers) in raw.items():
        category = next((label for label, match in _CATEGORIES if match(filename, name)),
                        "other Python (stdlib, uuid, datetime, dataclasses...)")
        by_category[category] += tottime
        functions.append((tottime, calls, f"{filename}:{line}({name})"))
    total = sum(by_category.values())
    functions.sort(reverse=True)
    return {
        "total_s": round(total, 3),
        "categories": {k: round(v, 3) for k, v in
                       sorted(by_category.items(), key=lambda kv: -kv[1])},
        "top_functions": [{"own_s": round(t, 3), "calls": c, "function": f}
                          for t, c, f in functions[:top]],
    }


@contextmanager
def database_url(server_url: str | None, home: Path) -> Iterator[str]:
    """SQLite under ``home``, or a fresh database on the given server."""
    if server_url is None:
        yield f"sqlite:///{home / 'tre.db'}"
    else:
        with server_database(server_url) as url:
            yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=2000,
                        help=f"applications to time (default 2000, at most {MAX_APPLICATIONS:,})")
    parser.add_argument("--warmup", type=int, default=100, help="untimed applications first")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server URL (a fresh database is created there); "
                        "default SQLite in the temporary home")
    parser.add_argument("--wal-checkpoints", choices=("background", "inline"),
                        default="background",
                        help="SQLite: checkpoint the write-ahead log from a thread, as server "
                        "nodes do (default), or in the commit that fills it, as the CLI does")
    parser.add_argument("--profile", action="store_true",
                        help="also run the timed loop under cProfile and print where time goes")
    parser.add_argument("--no-save", action="store_true", help="do not write results JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.applications <= MAX_APPLICATIONS or args.warmup < 0:
        parser.error(f"--applications must be 1..{MAX_APPLICATIONS}, --warmup >= 0")

    with tempfile.TemporaryDirectory(prefix="tre-bench-") as tmp:
        home = Path(tmp) / "home"
        with database_url(args.database_url, home) as url:
            settings = Settings(home=home, database_url=url, policies_dir=default_policies_dir())
            initialise(settings).dispose()
            db = Database(url, busy_timeout_s=settings.db_busy_timeout_s,
                          background_checkpoints=args.wal_checkpoints == "background")
            node = Node(db=db,
                        policy=EmbeddedPolicyEngine(settings.policies_dir),
                        checkpoints=CheckpointWriter(settings.audit_dir, settings.keys_dir))
            try:
                seed(node)
                run(node, "warmup", args.warmup, [], [])
                apply_s: list[float] = []
                approve_s: list[float] = []
                seq_before = audit_head(node)
                start = time.perf_counter()
                run(node, "bench", args.applications, apply_s, approve_s)
                elapsed = time.perf_counter() - start
                events = audit_head(node) - seq_before
                profile = None
                if args.profile:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    run(node, "profiled", min(args.applications, 500), [], [])
                    profiler.disable()
                    profile = where_time_goes(profiler, 25)
                report = verify(node.db, settings.audit_dir,
                                load_public_key(settings.keys_dir / PUBLIC_KEY))
                if not report.ok:
                    raise SystemExit(f"the audit trail does not verify: {report.problems}")
                backend = make_url(url).get_backend_name()
            finally:
                node.close()

    n = args.applications
    results: dict[str, Any] = {
        "benchmark": "workflow",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": backend,
        "wal_checkpoints": args.wal_checkpoints if backend == "sqlite" else None,
        "applications": n,
        "warmup": args.warmup,
        "elapsed_s": round(elapsed, 3),
        "applications_per_s": round(n / elapsed, 1),
        "transactions_per_s": round(2 * n / elapsed, 1),
        "audit_events": events,
        "events_per_s": round(events / elapsed, 1),
        "apply_ms": {"p50": round(percentile(apply_s, 0.5) * 1000, 3),
                     "p99": round(percentile(apply_s, 0.99) * 1000, 3)},
        "approve_ms": {"p50": round(percentile(approve_s, 0.5) * 1000, 3),
                       "p99": round(percentile(approve_s, 0.99) * 1000, 3)},
        "target": ">= 500 applications submitted and approved per second on SQLite",
        "meets_target": n / elapsed >= 500,
        "audit_verified_events": report.events,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "profile": profile,
    }
    print("| backend | applications | applications/s | transactions/s | audit events/s | "
          "apply p50 / p99 (ms) | approve p50 / p99 (ms) |\n"
          "|---|---:|---:|---:|---:|---:|---:|\n"
          f"| {backend} | {n:,} | {results['applications_per_s']:,} | "
          f"{results['transactions_per_s']:,} | {results['events_per_s']:,} | "
          f"{results['apply_ms']['p50']} / {results['apply_ms']['p99']} | "
          f"{results['approve_ms']['p50']} / {results['approve_ms']['p99']} |")
    if profile is not None:
        total = profile["total_s"]
        print(f"\nWhere the time goes (cProfile own time, {total:.2f} s):\n\n"
              "| share | seconds | what |\n|---:|---:|---|")
        for label, seconds in profile["categories"].items():
            print(f"| {100 * seconds / total:.0f}% | {seconds:.2f} | {label} |")
        print("\n| own s | calls | function |\n|---:|---:|---|")
        for row in profile["top_functions"]:
            print(f"| {row['own_s']} | {row['calls']} | `{row['function']}` |")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", file=sys.stderr)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"workflow-{backend}-{n}-{stamp}.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
