"""Prove the audit trail intact: walk the chain, then hold it against the signed checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from tre.audit.chain import GENESIS_HASH, event_hash
from tre.audit.checkpoints import Checkpoint, check_signature, read_head, read_log
from tre.db.database import Database
from tre.db.schema import AuditEventRow, AuditHeadRow


@dataclass
class VerifyReport:
    """What ``tre audit verify`` found; ``ok`` only if there is no problem at all."""

    events: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    checkpoints_checked: int = 0
    anchored_seq: int = 0
    problems: list[str] = field(default_factory=list)

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


_COLUMNS = (AuditEventRow.seq, AuditEventRow.id, AuditEventRow.time, AuditEventRow.actor,
            AuditEventRow.action, AuditEventRow.object_type, AuditEventRow.object_id,
            AuditEventRow.outcome, AuditEventRow.decision, AuditEventRow.request_id,
            AuditEventRow.details, AuditEventRow.prev_hash, AuditEventRow.hash)

MAX_PROBLEMS = 50


def verify(db: Database, audit_dir: Path, public_key: Ed25519PublicKey) -> VerifyReport:
    """Check modification, deletion, insertion, reordering and truncation of the audit log."""
    report = VerifyReport()
    wanted: dict[int, list[Checkpoint]] = {}
    head = read_head(audit_dir)
    for cp in [*read_log(audit_dir), *([head] if head else [])]:
        if not check_signature(cp, public_key):
            report.problems.append(
                f"checkpoint for event {cp.seq} has an invalid signature (forged, or signed "
                "with another key)")
            continue
        wanted.setdefault(cp.seq, []).append(cp)
    prev_hash, expected = GENESIS_HASH, 1
    with db.engine.connect() as conn:
        rows = conn.execution_options(yield_per=20_000).execute(
            select(*_COLUMNS).order_by(AuditEventRow.seq))
        for row in rows:
            (seq, id_, time, actor, action, otype, oid, outcome, decision, rid, details,
             stored_prev, stored_hash) = tuple(row)
            if len(report.problems) >= MAX_PROBLEMS:
                report.problems.append("too many problems: stopped")
                break
            if seq != expected:
                report.problems.append(
                    f"event {expected} is missing (next is {seq}): events were deleted")
                expected = seq
            if stored_prev != prev_hash:
                report.problems.append(
                    f"event {seq} does not follow event {seq - 1} (events were deleted, "
                    "inserted or reordered)")
            digest = event_hash(stored_prev, seq, id_, time, actor, action, otype, oid,
                                outcome, decision, rid, details)
            if digest != stored_hash:
                report.problems.append(f"event {seq} was modified after it was written")
            for cp in wanted.pop(seq, ()):
                report.checkpoints_checked += 1
                report.anchored_seq = max(report.anchored_seq, seq)
                if cp.hash != stored_hash:
                    report.problems.append(
                        f"event {seq} differs from its signed checkpoint of {cp.time}: the log "
                        "was rewritten")
            prev_hash, expected = stored_hash, seq + 1
            report.events += 1
            report.last_seq, report.last_hash = seq, stored_hash
        db_head = conn.execute(select(AuditHeadRow.seq, AuditHeadRow.hash)).one_or_none()
    for seq in sorted(wanted):
        if seq > report.last_seq:
            report.problems.append(
                f"a signed checkpoint names event {seq} but the log ends at event "
                f"{report.last_seq}: the log was truncated")
    if db_head is None or (db_head.seq, db_head.hash) != (report.last_seq, report.last_hash):
        report.problems.append("the stored head does not match the last event: the log was "
                               "truncated or appended to outside tre")
    if report.events and head is None:
        report.problems.append(
            f"no signed checkpoint in {audit_dir}: the log cannot be anchored (restore "
            "head.json from backup, or investigate its removal)")
    return report
