"""Several processes write the audit trail of one database at once: one chain, no gap, no fork.

Each worker is a separate OS process (multiprocessing, spawn) with its own Node on the same
database and $TRE_HOME (so the same signing key and checkpoint folder), appending through the
real services. Afterwards the chain verifies, every event is there exactly once, and the signed
head names the newest event.
"""

from __future__ import annotations

import json
import multiprocessing
import uuid
from collections import Counter
from dataclasses import asdict, replace
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import insert, text, update

from factories import T0, Clock, form, seed_dataset, seed_users
from tre.audit.chain import GENESIS_HASH, AuditEvent, hash_of
from tre.audit.checkpoints import (
    LOG_EVERY,
    PUBLIC_KEY,
    CheckpointWriter,
    load_public_key,
    read_head,
    read_log,
)
from tre.audit.verify import verify
from tre.db.database import Database
from tre.db.schema import AuditEventRow, AuditHeadRow
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.services import applications, permits
from tre.services.node import Node
from tre.settings import default_policies_dir

WORKERS = 3
APPROVED = 2  # applications each worker applies for and approves, each its own project
ACCESSES = 8  # data-access checks each worker then makes (one event and transaction each)
PER_WORKER = APPROVED * 5 + ACCESSES  # apply: create + submit; approve: review, approve, issue
HISTORY = 975  # events already in the log, so that the workers cross a LOG_EVERY multiple
SEEDED = 8  # seven users and one dataset version


def append_events(home: str, url: str, name: str, start: Barrier) -> None:
    """A worker process: applications approved and their data used, through the services."""
    node = Node(db=Database(url), policy=EmbeddedPolicyEngine(default_policies_dir()),
                checkpoints=CheckpointWriter(Path(home) / "audit", Path(home) / "keys"),
                clock=Clock())
    try:
        start.wait(timeout=120)
        for i in range(APPROVED):
            app = applications.apply(node, "alice", form(f"{name}-{i}"))
            applications.approve(node, "olga", app.id, applications.Approval("sound protocol"))
        for i in range(ACCESSES):
            project = f"{name}-{i % APPROVED}"
            assert permits.check_data_access(node, "bob", project, "lung-ct", "v1").allow
    finally:
        node.close()


def write_history(node: Node, count: int) -> None:
    """``count`` earlier events, bulk-inserted and signed as the node would have."""
    prev, rows = GENESIS_HASH, []
    for seq in range(1, count + 1):
        event = AuditEvent(seq, str(uuid.UUID(int=seq, version=4)),
                           T0.isoformat(timespec="microseconds"), "system", "history.import",
                           "test", f"h-{seq}", "allowed", "null", uuid.UUID(int=seq).hex, "{}",
                           prev, "")
        event = replace(event, hash=hash_of(event))
        rows.append(asdict(event))
        prev = event.hash
    with node.db.engine.begin() as conn:
        conn.execute(insert(AuditEventRow), rows)
        conn.execute(update(AuditHeadRow).values(seq=count, hash=prev))
    node.checkpoints.record(count, prev, previous_seq=0)


def test_processes_appending_at_once_make_one_unbroken_chain(
        any_node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    # spawn pickles append_events by module name: let the children import this module by it
    monkeypatch.syspath_prepend(str(Path(__file__).parents[len(__name__.split(".")) - 1]))
    write_history(any_node, HISTORY)
    seed_users(any_node)
    seed_dataset(any_node)
    home = any_node.checkpoints.audit_dir.parent
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WORKERS)
    workers = [ctx.Process(target=append_events,
                           args=(str(home), any_node.db.url, f"w{n}", start))
               for n in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    assert [w.exitcode for w in workers] == [0] * WORKERS

    total = HISTORY + SEEDED + WORKERS * PER_WORKER
    report = verify(any_node.db, home / "audit", load_public_key(home / "keys" / PUBLIC_KEY))
    assert report.problems == []
    assert (report.ok, report.events, report.last_seq, report.anchored_seq) == (
        True, total, total, total)

    with any_node.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, action, details, prev_hash FROM audit_events "
                                 "ORDER BY seq")).all()
    assert [r.seq for r in rows] == list(range(1, total + 1))  # no gap
    assert len({r.prev_hash for r in rows}) == total  # no fork: no predecessor shared
    written = rows[HISTORY + SEEDED:]
    assert Counter(json.loads(r.details)["project"] for r in written
                   if r.action in ("application.create", "data.access")) == {
        f"w{n}-{i}": 1 + ACCESSES // APPROVED for n in range(WORKERS) for i in range(APPROVED)}
    per_approval = ("application.create", "application.submit", "application.review",
                    "application.approve", "permit.issue")
    assert Counter(r.action for r in written) == {
        **dict.fromkeys(per_approval, WORKERS * APPROVED), "data.access": WORKERS * ACCESSES}

    head = read_head(home / "audit")
    assert head is not None
    assert (head.seq, head.hash) == (total, report.last_hash)
    # a log line for the first commit, then one for the commit that crossed each multiple
    first, *crossings = [cp.seq for cp in read_log(home / "audit")]
    assert first == HISTORY
    assert [seq // LOG_EVERY for seq in crossings] == list(range(1, total // LOG_EVERY + 1))
    assert all(seq % LOG_EVERY < 5 for seq in crossings)  # no commit writes more than 5
