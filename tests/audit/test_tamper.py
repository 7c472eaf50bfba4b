"""The audit trail against a database administrator (raw SQL) and a file-level attacker.

A realistic trail is written through the real services; each test then tampers with it the way
someone with write access to the database (but not the node's signing key) would, and checks
exactly what ``verify`` reports. Every report is computed twice, by one walk and by a walk split
into three ranges run in worker processes, and the two must be identical.
"""

from __future__ import annotations

import itertools
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from factories import (
    Clock,
    create_application_at_status,
    form,
    issue_permit,
    seed_dataset,
    seed_users,
)
from tre.audit import log as audit
from tre.audit.chain import GENESIS_HASH, AuditEvent, canonical_json, hash_of
from tre.audit.checkpoints import (
    HEAD_RECORD_BYTES,
    PUBLIC_KEY,
    Checkpoint,
    CheckpointWriter,
    create_keys,
    load_public_key,
    read_head,
    read_log,
)
from tre.audit.verify import VerifyReport, verify
from tre.db.database import alembic_config
from tre.domain.applications import ApplicationStatus
from tre.domain.values import Period
from tre.errors import InvalidInput, PolicyDenied
from tre.services import applications, permits
from tre.services.node import Node

COLUMNS = ("seq", "id", "time", "actor", "action", "object_type", "object_id", "outcome",
           "decision", "request_id", "details", "prev_hash", "hash")

TRAIL = [
    ("host:test", "user.add", "allowed"),
    ("host:test", "user.add", "allowed"),
    ("host:test", "user.add", "allowed"),
    ("host:test", "user.add", "allowed"),
    ("host:test", "user.add", "allowed"),
    ("host:test", "user.add", "allowed"),
    ("host:test", "user.add", "allowed"),
    ("dan", "dataset.publish", "allowed"),
    # lung-ai: applied by alice, approved by olga
    ("alice", "application.create", "allowed"),
    ("alice", "application.submit", "allowed"),
    ("olga", "application.review", "allowed"),
    ("olga", "application.approve", "allowed"),
    ("olga", "permit.issue", "allowed"),
    # breast-mri: applied by bob, approved by oscar
    ("bob", "application.create", "allowed"),
    ("bob", "application.submit", "allowed"),
    ("oscar", "application.review", "allowed"),
    ("oscar", "application.approve", "allowed"),
    ("oscar", "permit.issue", "allowed"),
    # colon-ct: rejected
    ("carol", "application.create", "allowed"),
    ("carol", "application.submit", "allowed"),
    ("olga", "application.review", "allowed"),
    ("olga", "application.reject", "allowed"),
    # skin-derm: withdrawn
    ("alice", "application.create", "allowed"),
    ("alice", "application.submit", "allowed"),
    ("alice", "application.withdraw", "allowed"),
    # a researcher tries to approve her own application: denied, and audited
    ("alice", "application.create", "allowed"),
    ("alice", "application.submit", "allowed"),
    ("alice", "application.approve", "denied"),
    # suspension and data access under it
    ("bob", "data.access", "allowed"),
    ("olga", "permit.suspend", "allowed"),
    ("bob", "data.access", "denied"),
    ("oscar", "permit.reinstate", "allowed"),
    ("bob", "data.access", "allowed"),
    ("oscar", "data.access", "denied"),
    ("olga", "permit.revoke", "allowed"),
]
N = len(TRAIL)


def build_trail(node: Node, clock: Clock) -> None:
    """A few dozen events through the real services (listed in TRAIL)."""
    seed_users(node)
    seed_dataset(node)
    clock.advance(hours=1)
    lung = issue_permit(node, project="lung-ai")
    clock.advance(minutes=5)
    breast = issue_permit(node, applicant="bob", officer="oscar", project="breast-mri",
                          members=("carol",))
    clock.advance(minutes=5)
    create_application_at_status(node, ApplicationStatus.REJECTED, applicant="carol",
                                 project="colon-ct")
    create_application_at_status(node, ApplicationStatus.WITHDRAWN, project="skin-derm")
    own = applications.apply(node, "alice", form("liver-seg"))
    with pytest.raises(PolicyDenied):
        applications.approve(node, "alice", own.id, applications.Approval("looks fine"))
    clock.advance(days=1)
    assert permits.check_data_access(node, "bob", "lung-ai", "lung-ct", "v1").allow
    permits.change_status(node, "olga", lung.id, "suspend", "audit finding")
    assert not permits.check_data_access(node, "bob", "lung-ai", "lung-ct", "v1").allow
    clock.advance(days=2)
    permits.change_status(node, "oscar", lung.id, "reinstate", "finding resolved")
    assert permits.check_data_access(node, "bob", "lung-ai", "lung-ct", "v1").allow
    assert not permits.check_data_access(node, "oscar", "lung-ai", "lung-ct", "v1").allow
    permits.change_status(node, "olga", breast.id, "revoke", "breach of conditions")


@pytest.fixture
def trail(any_node: Node, clock: Clock) -> Node:
    """A node (SQLite and PostgreSQL) holding the TRAIL, untouched."""
    build_trail(any_node, clock)
    return any_node


# --- helpers: reading, verifying, and tampering as a database administrator -------------------


def audit_dir(node: Node) -> Path:
    return node.checkpoints.audit_dir


def public_key_path(node: Node) -> Path:
    return audit_dir(node).parent / "keys" / PUBLIC_KEY


def stored_events(node: Node) -> list[AuditEvent]:
    with node.db.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq"))
        return [AuditEvent(*row) for row in rows]


def stored_head(node: Node) -> tuple[int, str]:
    with node.db.engine.connect() as conn:
        seq, digest = conn.execute(text("SELECT seq, hash FROM audit_head")).one()
    return int(seq), str(digest)


def check(node: Node, key_path: Path | None = None) -> VerifyReport:
    """Verify with one walk, and with three ranges in worker processes: the same report."""
    key = load_public_key(key_path or public_key_path(node))
    single = verify(node.db, audit_dir(node), key, workers=1)
    split = verify(node.db, audit_dir(node), key, workers=3)
    assert split.as_json() == single.as_json()
    return single


def head_time(node: Node) -> str:
    head = read_head(audit_dir(node))
    assert head is not None
    return head.time


def first_log_time(node: Node) -> str:
    return next(read_log(audit_dir(node))).time


def seq_of(node: Node, actor: str, action: str, outcome: str = "allowed") -> int:
    """The seq of the only event matching."""
    (seq,) = [e.seq for e in stored_events(node)
              if (e.actor, e.action, e.outcome) == (actor, action, outcome)]
    return seq


def sql(node: Node, statement: str, **params: object) -> None:
    with node.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def write(conn: Connection, event: AuditEvent) -> None:
    """Overwrite the stored event with this seq, every column."""
    conn.execute(text("UPDATE audit_events SET " + ", ".join(f"{c} = :{c}" for c in COLUMNS[1:])
                      + " WHERE seq = :seq"), asdict(event))


def rechain(node: Node, edit: Callable[[AuditEvent], AuditEvent], *, start: int = 1) -> None:
    """Rewrite the events from ``start`` on with ``edit``, re-hashed and re-chained from the
    stored hash before ``start``, and move audit_head: what an attacker who knows the algorithm
    (but not the signing key) can do."""
    events = stored_events(node)
    prev = GENESIS_HASH if start == 1 else events[start - 2].hash
    with node.db.engine.begin() as conn:
        for event in events[start - 1:]:
            changed = replace(edit(event), prev_hash=prev)
            changed = replace(changed, hash=hash_of(changed))
            write(conn, changed)
            prev = changed.hash
        conn.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash"),
                     {"seq": events[-1].seq, "hash": prev})


def shift_after(node: Node, seq: int, by: int) -> None:
    """Renumber every event after ``seq`` by ``by`` (two steps: seq is the primary key)."""
    sql(node, "UPDATE audit_events SET seq = -seq WHERE seq > :seq", seq=seq)
    sql(node, "UPDATE audit_events SET seq = :by - seq WHERE seq < 0", by=by)


def modified(seq: int) -> str:
    return f"event {seq} was modified after it was written"


def not_following(seq: int) -> str:
    return (f"event {seq} does not follow event {seq - 1} (events were deleted, inserted or "
            "reordered)")


def missing(seq: int, following: int) -> str:
    return f"event {seq} is missing (next is {following}): events were deleted"


def rewritten(seq: int, time: str) -> str:
    return f"event {seq} differs from its signed checkpoint of {time}: the log was rewritten"


def truncated(named: int, last: int) -> str:
    return (f"a signed checkpoint names event {named} but the log ends at event {last}: the log "
            "was truncated")


HEAD_MISMATCH = ("the stored head does not match the last event: the log was truncated or "
                 "appended to outside tre")


def bad_signature(seq: int) -> str:
    return (f"checkpoint for event {seq} has an invalid signature (forged, or signed with another "
            "key)")


# --- the untouched trail ------------------------------------------------------------------------


def test_untouched_trail_verifies_and_is_anchored_to_its_last_event(trail: Node) -> None:
    events = stored_events(trail)
    assert [(e.actor, e.action, e.outcome) for e in events] == TRAIL
    assert [e.seq for e in events] == list(range(1, N + 1))
    assert events[0].prev_hash == GENESIS_HASH
    assert all(e.hash == hash_of(e) for e in events)
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    report = check(trail)
    assert report.as_json() == {
        "ok": True, "events": N, "last_seq": N, "last_hash": events[-1].hash,
        "checkpoints_checked": 2,  # the log's line for the first commit, and head.json
        "anchored_seq": N, "unanchored_events": 0, "problems": []}
    assert stored_head(trail) == (N, events[-1].hash)
    head = read_head(audit_dir(trail))
    assert head is not None
    assert (head.seq, head.hash) == (N, events[-1].hash)
    assert [(cp.seq, cp.hash) for cp in read_log(audit_dir(trail))] == [(1, events[0].hash)]


def test_events_record_actor_decision_reasons_and_request(trail: Node) -> None:
    events = {(e.actor, e.action, e.outcome): e for e in stored_events(trail)}
    denied = events["alice", "application.approve", "denied"]
    decision = json.loads(denied.decision)
    assert decision["decision"] == "application_decide"
    assert decision["allow"] is False
    assert decision["reasons"]
    assert denied.object_type == "application"
    issue = events["olga", "permit.issue", "allowed"]
    approve = events["olga", "application.approve", "allowed"]
    assert issue.request_id == approve.request_id
    assert json.loads(approve.details) == {"reason": "sound protocol", "conditions": []}
    assert json.loads(approve.decision)["allow"] is True
    everyone = stored_events(trail)
    assert len({e.id for e in everyone}) == len(everyone)
    for event in everyone:  # ids are time-ordered (version 7) UUIDs in their usual forms
        assert (str(uuid.UUID(event.id)), uuid.UUID(event.id).version) == (event.id, 7)
        request = uuid.UUID(event.request_id)
        assert (request.hex, request.version, request.variant) == (
            event.request_id, 4, uuid.RFC_4122)
    ids = [e.id for e in everyone]  # in the order of seq: never earlier than the one before
    assert all(a[:13] <= b[:13] for a, b in itertools.pairwise(ids))


def test_parallel_walk_runs_in_worker_processes(trail: Node) -> None:
    key = load_public_key(public_key_path(trail))
    report = verify(trail.db, audit_dir(trail), key, workers=3)
    assert report.walked_ranges == 3
    sql(trail, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 20")
    report = verify(trail.db, audit_dir(trail), key, workers=3)
    assert (report.walked_ranges, report.problems) == (3, [modified(20)])


# --- modification ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "value"), [
    ("actor", "mallory"),
    ("action", "permit.reinstate"),
    ("object_id", "permit-000000000000"),
    ("outcome", "denied"),
    ("time", "2026-12-01T09:00:00.000000+00:00"),
    ("request_id", "0" * 32),
    ("details", '{"reason":"routine"}'),
    ("decision", '{"allow":true,"decision":"permit_change","reasons":[]}'),
])
def test_modifying_any_field_of_an_event_is_detected(trail: Node, column: str,
                                                     value: str) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")
    sql(trail, f"UPDATE audit_events SET {column} = :value WHERE seq = :seq", value=value, seq=seq)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [modified(seq)]
    assert (report.events, report.last_seq, report.anchored_seq) == (N, N, N)


def test_turning_a_denial_into_an_allow_is_detected(trail: Node) -> None:
    seq = seq_of(trail, "bob", "data.access", "denied")
    (event,) = [e for e in stored_events(trail) if e.seq == seq]
    decision = json.loads(event.decision)
    forged = canonical_json({**decision, "allow": True, "reasons": []})
    sql(trail, "UPDATE audit_events SET outcome = 'allowed', decision = :d WHERE seq = :seq",
        d=forged, seq=seq)
    report = check(trail)
    assert (report.ok, report.problems) == (False, [modified(seq)])


def test_modifying_an_event_and_recomputing_its_hash_breaks_the_next_link(trail: Node) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")
    (event,) = [e for e in stored_events(trail) if e.seq == seq]
    forged = replace(event, actor="mallory")
    with trail.db.engine.begin() as conn:
        write(conn, replace(forged, hash=hash_of(forged)))
    report = check(trail)
    assert (report.ok, report.problems) == (False, [not_following(seq + 1)])


def test_modifying_an_event_and_rechaining_every_later_one_contradicts_the_signed_head(
        trail: Node) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")

    def edit(event: AuditEvent) -> AuditEvent:
        return replace(event, actor="mallory") if event.seq == seq else event

    rechain(trail, edit, start=seq)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [rewritten(N, head_time(trail))]
    assert (report.events, report.last_seq, report.anchored_seq) == (N, N, N)


def test_rewriting_the_whole_chain_consistently_contradicts_every_checkpoint(
        trail: Node) -> None:
    def edit(event: AuditEvent) -> AuditEvent:
        return replace(event, actor="mallory") if event.actor in ("host:test", "olga") else event

    rechain(trail, edit)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [rewritten(1, first_log_time(trail)), rewritten(N, head_time(trail))]


def test_reporting_stops_after_fifty_problems(trail: Node) -> None:
    sql(trail, "UPDATE audit_events SET prev_hash = :bad", bad="f" * 64)
    report = check(trail)
    assert report.ok is False
    # each event: its link and its hash; the walk stops (and claims nothing about the end)
    assert report.problems == [
        *[p for seq in range(1, 26) for p in (not_following(seq), modified(seq))],
        "too many problems: stopped"]
    assert (report.events, report.last_seq) == (25, 25)


# --- deletion and truncation ----------------------------------------------------------------------


def test_deleting_an_event_in_the_middle_is_detected(trail: Node) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")
    sql(trail, "DELETE FROM audit_events WHERE seq = :seq", seq=seq)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [missing(seq, seq + 1), not_following(seq + 1)]
    assert (report.events, report.last_seq) == (N - 1, N)


def test_deleting_an_event_and_renumbering_and_rechaining_the_rest_is_detected(
        trail: Node) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")
    sql(trail, "DELETE FROM audit_events WHERE seq = :seq", seq=seq)
    shift_after(trail, seq, -1)
    rechain(trail, lambda event: event, start=seq)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [truncated(N, N - 1)]
    assert (report.events, report.last_seq, report.anchored_seq) == (N - 1, N - 1, 1)


@pytest.mark.parametrize("fix_head", [True, False], ids=["head-moved-back", "head-left"])
def test_truncating_the_last_events_is_detected(trail: Node, fix_head: bool) -> None:
    events = stored_events(trail)
    sql(trail, "DELETE FROM audit_events WHERE seq > :seq", seq=N - 3)
    if fix_head:
        sql(trail, "UPDATE audit_head SET seq = :seq, hash = :hash", seq=N - 3,
            hash=events[N - 4].hash)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [truncated(N, N - 3)] + ([] if fix_head else [HEAD_MISMATCH])
    assert (report.events, report.last_seq, report.anchored_seq) == (N - 3, N - 3, 1)


def test_deleting_every_event_is_detected(trail: Node) -> None:
    sql(trail, "DELETE FROM audit_events")
    sql(trail, "UPDATE audit_head SET seq = 0, hash = :hash", hash=GENESIS_HASH)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [truncated(1, 0), truncated(N, 0)]
    assert (report.events, report.last_seq) == (0, 0)


def test_a_sequence_number_that_is_not_a_number_is_reported(node: Node, clock: Clock) -> None:
    """seq is SQLite's rowid, which refuses text; rebuilt as before migration 0004, the table
    stores what it is given, and a text seq sorts after every number."""
    build_trail(node, clock)
    seq = seq_of(node, "olga", "permit.suspend")
    with pytest.raises(IntegrityError, match="datatype mismatch"):
        sql(node, "UPDATE audit_events SET seq = 'x' WHERE seq = :seq", seq=seq)
    command.downgrade(alembic_config(node.db.engine), "0003")  # the administrator rebuilds it
    sql(node, "UPDATE audit_events SET seq = 'x' WHERE seq = :seq", seq=seq)
    report = check(node)
    assert report.ok is False
    assert report.problems == [
        missing(seq, seq + 1), not_following(seq + 1),
        "an event has the sequence number 'x', not an integer: the log was tampered with"]
    assert (report.events, report.last_seq, report.anchored_seq) == (N - 1, N, N)


# --- insertion and reordering ---------------------------------------------------------------------


def _forged(after: AuditEvent, seq: int) -> AuditEvent:
    unhashed = replace(after, seq=seq, id="00000000-0000-4000-8000-000000000000",
                       actor="olga", action="permit.reinstate", outcome="allowed",
                       details='{"reason":"never happened"}', prev_hash=after.hash, hash="")
    return replace(unhashed, hash=hash_of(unhashed))


def _insert(node: Node, event: AuditEvent) -> None:
    sql(node, f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES "
        f"({', '.join(':' + c for c in COLUMNS)})", **asdict(event))


def test_inserting_a_forged_event_in_the_middle_is_detected(trail: Node) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")
    events = stored_events(trail)
    shift_after(trail, seq, 1)
    _insert(trail, _forged(events[seq - 1], seq + 1))
    report = check(trail)
    assert report.ok is False
    assert report.problems == [
        not_following(seq + 2), modified(seq + 2),
        *[modified(s) for s in range(seq + 3, N + 1)],
        rewritten(N, head_time(trail)),
        modified(N + 1),
        HEAD_MISMATCH,
    ]


def test_inserting_a_forged_event_and_rechaining_the_rest_contradicts_the_signed_head(
        trail: Node) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")
    events = stored_events(trail)
    shift_after(trail, seq, 1)
    _insert(trail, _forged(events[seq - 1], seq + 1))
    rechain(trail, lambda event: event, start=seq + 2)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [rewritten(N, head_time(trail))]
    assert (report.events, report.last_seq, report.anchored_seq) == (N + 1, N + 1, N)


def test_appending_an_event_without_moving_the_stored_head_is_detected(trail: Node) -> None:
    _insert(trail, _forged(stored_events(trail)[-1], N + 1))
    report = check(trail)
    assert (report.ok, report.problems) == (False, [HEAD_MISMATCH])


def test_a_well_formed_event_appended_at_the_tail_shows_only_as_unanchored(trail: Node) -> None:
    """The documented limit (docs/security-model.md): events after the newest signed checkpoint
    are not yet anchored. A live node signs its head right after each commit, so an unanchored
    tail on a quiet node is itself the sign to investigate."""
    forged = _forged(stored_events(trail)[-1], N + 1)
    _insert(trail, forged)
    sql(trail, "UPDATE audit_head SET seq = :seq, hash = :hash", seq=N + 1, hash=forged.hash)
    report = check(trail)
    assert (report.ok, report.last_seq, report.anchored_seq, report.unanchored) == (
        True, N + 1, N, 1)


def swap(node: Node, seq: int) -> None:
    """Exchange the places of events ``seq`` and ``seq + 1``."""
    sql(node, "UPDATE audit_events SET seq = -1 WHERE seq = :seq", seq=seq)
    sql(node, "UPDATE audit_events SET seq = :seq WHERE seq = :next", seq=seq, next=seq + 1)
    sql(node, "UPDATE audit_events SET seq = :next WHERE seq = -1", next=seq + 1)


def test_swapping_two_events_is_detected(trail: Node) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")
    swap(trail, seq)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [not_following(seq), modified(seq), not_following(seq + 1),
                               modified(seq + 1), not_following(seq + 2)]
    assert (report.events, report.last_seq, report.anchored_seq) == (N, N, N)


def test_swapping_two_events_and_rechaining_contradicts_the_signed_head(trail: Node) -> None:
    seq = seq_of(trail, "olga", "permit.suspend")
    swap(trail, seq)
    rechain(trail, lambda event: event, start=seq)
    assert [e.action for e in stored_events(trail)][seq - 1:seq + 1] == [
        "data.access", "permit.suspend"]
    report = check(trail)
    assert (report.ok, report.problems) == (False, [rewritten(N, head_time(trail))])


# --- the checkpoint files -------------------------------------------------------------------------


def test_a_checkpoint_with_a_bad_signature_is_detected(trail: Node) -> None:
    log = audit_dir(trail) / "checkpoints.jsonl"
    (line,) = log.read_text().splitlines()
    cp = Checkpoint.from_json(line, "test")
    sig = cp.signature
    forged = sig[:10] + ("B" if sig[10] == "A" else "A") + sig[11:]
    log.write_text(replace(cp, signature=forged).to_line() + "\n")
    report = check(trail)
    assert report.ok is False
    assert report.problems == [bad_signature(1)]
    assert (report.checkpoints_checked, report.anchored_seq) == (1, N)


def test_a_checkpoint_moved_to_another_hash_fails_its_signature(trail: Node) -> None:
    head_path = audit_dir(trail) / "head.json"
    head = Checkpoint.from_json(head_path.read_text(), "test")
    head_path.write_text(replace(head, hash="f" * 64).to_line())
    report = check(trail)
    assert (report.ok, report.problems, report.anchored_seq) == (False, [bad_signature(N)], 1)


def test_deleting_head_json_is_detected(trail: Node) -> None:
    (audit_dir(trail) / "head.json").unlink()
    report = check(trail)
    assert report.ok is False
    assert report.problems == [
        f"no signed checkpoint in {audit_dir(trail)}: the log cannot be anchored (restore "
        "head.json from backup, or investigate its removal)"]
    assert (report.checkpoints_checked, report.anchored_seq, report.unanchored) == (1, 1, N - 1)


def test_an_unreadable_head_json_is_reported(trail: Node) -> None:
    head_path = audit_dir(trail) / "head.json"
    head_path.write_text("not json")
    report = check(trail)
    assert report.ok is False
    assert report.problems == [
        f"unreadable audit checkpoint in {head_path}: Expecting value: line 1 column 1 (char 0)",
        f"no signed checkpoint in {audit_dir(trail)}: the log cannot be anchored (restore "
        "head.json from backup, or investigate its removal)"]


@pytest.mark.parametrize("junk", ["", "not json", "x" * 5000])
def test_the_next_commit_rewrites_an_unreadable_head_json_whole(trail: Node, junk: str) -> None:
    head_path = audit_dir(trail) / "head.json"
    head_path.write_text(junk)
    app = applications.apply(trail, "carol", form("gut-ct"))
    events = stored_events(trail)
    assert events[-1].object_id == app.id
    text = head_path.read_text()
    assert (len(text), text[-2:]) == (HEAD_RECORD_BYTES, " \n")
    head = Checkpoint.from_json(text, "test")
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)
    report = check(trail)
    assert (report.ok, report.anchored_seq) == (True, N + 2)


def test_checkpoints_signed_with_another_key_do_not_verify(trail: Node, tmp_path: Path) -> None:
    """An attacker rewrites the chain and re-signs every checkpoint with a key of their own."""
    rechain(trail, lambda e: replace(e, actor="mallory") if e.actor == "olga" else e)
    events = stored_events(trail)
    forger_home = tmp_path / "forger"
    create_keys(forger_home / "keys")
    forger = CheckpointWriter(forger_home / "audit", forger_home / "keys")
    forger.record(1, events[0].hash, previous_seq=0)
    forger.record(N, events[-1].hash, previous_seq=1)
    for name in ("head.json", "checkpoints.jsonl"):
        shutil.copy(forger_home / "audit" / name, audit_dir(trail) / name)
    report = check(trail)
    assert report.ok is False
    assert report.problems == [bad_signature(1), bad_signature(N)]
    assert (report.checkpoints_checked, report.anchored_seq) == (0, 0)
    # ...which is why the public key must come from a copy the attacker cannot replace:
    assert check(trail, forger_home / "keys" / PUBLIC_KEY).ok


# --- transactions that roll back, and export ------------------------------------------------------


def test_a_service_call_that_fails_after_recording_leaves_no_event(trail: Node,
                                                                   clock: Clock) -> None:
    app = applications.apply(trail, "carol", form("gut-ct"))
    before, head = stored_events(trail), read_head(audit_dir(trail))
    too_long = Period(app.period.start, app.period.end + timedelta(days=1))
    with pytest.raises(InvalidInput, match="never later"):
        # _issue records application.review, then refuses the period: all rolls back
        applications.approve(trail, "olga", app.id,
                             applications.Approval("ok", valid_until=too_long))
    assert stored_events(trail) == before
    assert read_head(audit_dir(trail)) == head
    assert stored_head(trail) == (N + 2, before[-1].hash)
    report = check(trail)
    assert (report.ok, report.last_seq, report.anchored_seq) == (True, N + 2, N + 2)


@pytest.mark.parametrize("unit", ["unit_of_work", "driver_unit_of_work"])
def test_a_unit_of_work_that_raises_after_recording_leaves_no_event(trail: Node,
                                                                    unit: str) -> None:
    def record_then_fail() -> None:
        with getattr(trail, unit)() as session:
            audit.record(session, time=trail.clock(), actor="olga", action="permit.suspend",
                         object_type="permit", object_id="permit-x", outcome="allowed",
                         request_id=audit.new_request_id())
            raise RuntimeError("boom")

    before, head = stored_events(trail), read_head(audit_dir(trail))
    with pytest.raises(RuntimeError, match="boom"):
        record_then_fail()
    assert stored_events(trail) == before
    assert read_head(audit_dir(trail)) == head
    # the next event chains onto the last committed one
    applications.apply(trail, "carol", form("gut-ct"))
    after = stored_events(trail)
    assert after[:N] == before
    assert after[N].prev_hash == before[-1].hash
    assert check(trail).ok


def _export(node: Node, *args: str) -> list[dict[str, Any]]:
    from typer.testing import CliRunner

    from tre.cli.app import app

    env = {"TRE_HOME": str(audit_dir(node).parent), "TRE_DATABASE_URL": node.db.url}
    result = CliRunner().invoke(app, ["audit", "export", *args], env=env)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _from_export(line: dict[str, Any]) -> AuditEvent:
    return AuditEvent(**{**line, "decision": canonical_json(line["decision"]),
                         "details": canonical_json(line["details"])})


def test_export_round_trips_to_the_stored_hashes(trail: Node) -> None:
    exported = [_from_export(line) for line in _export(trail)]
    assert exported == stored_events(trail)
    assert all(hash_of(e) == e.hash for e in exported)
    assert exported[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(exported))
    head = read_head(audit_dir(trail))
    assert head is not None
    assert (head.seq, head.hash) == (exported[-1].seq, exported[-1].hash)
    since = [_from_export(line) for line in _export(trail, "--since", str(N - 5))]
    assert since == exported[N - 5:]
