"""Airlock services: submit, review, release, withdraw and download checks, each audited.

Heavy work (copying and checking files) happens outside database transactions; each change of
state is then written with its audit event in one unit of work.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tre.airlock import release as releases
from tre.airlock.checks import inspect
from tre.airlock.checks.context import CheckContext, IdentifierSet, Limits, TableRules
from tre.airlock.checks.sniff import TABLES, sniff
from tre.airlock.checks.tables import UnreadableTable, read_table
from tre.airlock.identifiers import identifier_set
from tre.airlock.intake import IntakeRefused, StoredBlob, copy_in
from tre.audit import log as audit
from tre.db import datasets as dataset_store
from tre.db import egress as egress_store
from tre.db import permits as permit_store
from tre.db import users as user_store
from tre.domain.egress import (
    UPDATABLE,
    EgressFile,
    EgressRequest,
    EgressStatus,
    FileOutcome,
    FileReview,
    Verdict,
    decided_status,
)
from tre.domain.permits import DataPermit
from tre.errors import InvalidInput, NotFound
from tre.policy import inputs
from tre.policy.decisions import Decision
from tre.services.node import Node, refusal
from tre.workspaces.errors import SandboxUnavailable, WorkspaceRefused
from tre.workspaces.quota import ProjectQuotas
from tre.workspaces.spec import user_outputs


@dataclass(frozen=True)
class AirlockConfig:
    """Where the airlock keeps things and how strict it is; built once and passed in."""

    home: Path
    workspace_root: Path
    max_file_bytes: int = 256 * 1024 * 1024
    max_request_bytes: int = 1024 * 1024 * 1024
    limits: Limits = field(default_factory=Limits)
    rules: TableRules = field(default_factory=TableRules)

    @property
    def store(self) -> Path:
        """The immutable request store."""
        return self.home / "airlock"

    @property
    def keys_dir(self) -> Path:
        """The node's keys."""
        return self.home / "keys"

    def blob(self, request_id: str, sha256: str) -> Path:
        """Where one stored file's content lives."""
        return self.store / request_id / "blobs" / sha256


def _new_id() -> str:
    return f"E-{secrets.token_hex(6)}"


def _actor(session: Session, name: str) -> dict[str, Any]:
    user = user_store.get(session, name)
    return inputs.actor_input(user.name, (r.value for r in user.roles))


def _permit_of(session: Session, project: str) -> DataPermit:
    permit = permit_store.for_project(session, project)
    if permit is None:
        raise NotFound(f"project {project!r} has no permit: nothing can be submitted from it")
    return permit


def _version_folders(session: Session, permit: DataPermit) -> list[tuple[str, Path]]:
    folders = []
    for pinned in permit.datasets:
        for version in dataset_store.versions(session, pinned.dataset):
            if version.version == pinned.version:
                folders.append((str(pinned), Path(version.path)))
    return folders


def _earlier_tables(session: Session, cfg: AirlockConfig, project: str
                    ) -> tuple[tuple[str, Any], ...]:
    """Tables the project already released (for differencing)."""
    found = []
    for done in egress_store.list_all(session, project=project, status=EgressStatus.RELEASED):
        for file in done.files:
            path = releases.releases_root(cfg.home) / done.id / releases.FILES / file.name
            if file.kind.value != "table" or not path.is_file():
                continue
            data = path.read_bytes()
            content = sniff(file.name, data)
            if content in TABLES:
                try:
                    found.append((f"{done.id}/{file.name}", read_table(content, data)))
                except UnreadableTable:
                    continue
    return tuple(found)


def check_context(session: Session, cfg: AirlockConfig, permit: DataPermit) -> CheckContext:
    """The context of one request's checks: identifiers of the permit's datasets, history."""
    ids: IdentifierSet = identifier_set(_version_folders(session, permit))
    return CheckContext(identifiers=ids, limits=cfg.limits, rules=cfg.rules,
                        earlier_tables=_earlier_tables(session, cfg, permit.project))


def _checked(blob: StoredBlob, ctx: CheckContext, node: Node) -> EgressFile:
    found = inspect(blob.name, blob.path.read_bytes(), ctx)
    return EgressFile(name=blob.name, sha256=blob.sha256, size=blob.size, kind=found.kind,
                      findings=found.findings, updated_at=node.clock())


def _outputs_of(cfg: AirlockConfig, project: str, user: str) -> Path:
    """``user``'s outputs folder in ``project``, its quota image mounted first if it has one
    (images stay mounted while tre runs, but a host command may come first after a restart).
    A folder that cannot be reached is refused without naming host paths."""
    try:
        ProjectQuotas(cfg.workspace_root).prepare(project)
    except (SandboxUnavailable, WorkspaceRefused, NotFound) as exc:
        raise IntakeRefused(f"project {project}'s outputs cannot be reached now (its disk "
                            "image cannot be mounted): ask the operator to run `tre workspaces "
                            f"mount {project}`") from exc
    return user_outputs(cfg.workspace_root, project, user)


def _refused(node: Node, actor: str, project: str, action: str, exc: InvalidInput) -> None:
    with node.unit_of_work() as session:
        audit.record(session, time=node.clock(), actor=actor, action=action,
                     object_type="project", object_id=project, outcome="refused",
                     request_id=audit.new_request_id(), details={"reason": str(exc)})


def submit(node: Node, cfg: AirlockConfig, actor: str, project: str, justification: str,
           files: Sequence[str]) -> EgressRequest:
    """Copy ``files`` from ``actor``'s outputs into a new request, check them and submit it."""
    if not files:
        raise InvalidInput("give at least one file to submit")
    request_id = _new_id()
    trace = audit.new_request_id()
    with node.unit_of_work() as session:
        now = node.clock()
        permit = _permit_of(session, project)
        decision = node.authorise(
            session, decision="egress_submit",
            input={"actor": _actor(session, actor), "now": inputs.epoch(now),
                   "permit": {**inputs.permit_input(permit), "egress": permit.egress.value}},
            actor=actor, action="airlock.submit", object_type="egress_request",
            object_id=request_id, request_id=trace)
        ctx = check_context(session, cfg, permit) if decision.allow else None
    if not decision.allow or ctx is None:
        raise refusal(decision)
    request = EgressRequest(id=request_id, project=project, permit=permit.id, author=actor,
                            justification=justification, created_at=now)
    checked: list[EgressFile] = []
    try:
        outputs = _outputs_of(cfg, project, actor)
        total = 0
        for given in files:
            blob = copy_in(outputs, given, cfg.store / request_id / "blobs", cfg.max_file_bytes)
            total += blob.size
            if total > cfg.max_request_bytes:
                raise IntakeRefused(f"the files add up to more than {cfg.max_request_bytes} "
                                    "bytes: split them over several requests")
            if any(f.name == blob.name for f in checked):
                raise IntakeRefused(f"{blob.name} is given twice")
            checked.append(_checked(blob, ctx, node))
    except InvalidInput as exc:
        _refused(node, actor, project, "airlock.submit", exc)
        raise
    with node.unit_of_work() as session:
        now = node.clock()
        draft = replace(request, files=tuple(checked))
        egress_store.add(session, draft, now)
        audit.record(session, time=now, actor=actor, action="airlock.create",
                     object_type="egress_request", object_id=request_id, outcome="allowed",
                     request_id=trace, decision=decision,
                     details={"project": project, "permit": permit.id,
                              "files": {f.name: f.sha256 for f in checked}})
        submitted = draft.moved_to(EgressStatus.SUBMITTED)
        egress_store.save_status(session, submitted, now)
        audit.record(session, time=now, actor=actor, action="airlock.submit",
                     object_type="egress_request", object_id=request_id, outcome="allowed",
                     request_id=trace,
                     details={"findings": {f.name: sorted({x.code for x in f.findings})
                                           for f in checked}})
    return submitted


def update_file(node: Node, cfg: AirlockConfig, actor: str, request_id: str,
                given: str) -> EgressRequest:
    """Replace one file of a request by the author's new version: its reviews start over."""
    with node.unit_of_work() as session:
        request = egress_store.get(session, request_id)
        permit = permit_store.get(session, request.permit)
        ctx = check_context(session, cfg, permit)
    if actor != request.author:
        raise InvalidInput(f"only the author ({request.author}) may update request {request_id}")
    if request.status not in UPDATABLE:
        raise InvalidInput(f"request {request_id} is {request.status}: files can no longer "
                           "change")
    try:
        outputs = _outputs_of(cfg, request.project, actor)
        blob = copy_in(outputs, given, cfg.store / request_id / "blobs", cfg.max_file_bytes)
    except InvalidInput as exc:
        _refused(node, actor, request.project, "airlock.update", exc)
        raise
    old = request.file(blob.name)
    new = _checked(blob, ctx, node)
    with node.unit_of_work() as session:
        now = node.clock()
        egress_store.put_file(session, request_id, new, new=False)
        moved = request if request.status is EgressStatus.SUBMITTED else \
            request.moved_to(EgressStatus.IN_REVIEW, f"{new.name} was updated")
        egress_store.save_status(session, moved, now)
        audit.record(session, time=now, actor=actor, action="airlock.update",
                     object_type="egress_request", object_id=request_id, outcome="allowed",
                     request_id=audit.new_request_id(),
                     details={"file": new.name, "old_sha256": old.sha256,
                              "sha256": new.sha256, "reviews_reset": len(old.current_reviews())})
        return egress_store.get(session, request_id)


def _file_input(file: EgressFile) -> dict[str, Any]:
    return {"name": file.name, "kind": file.kind.value,
            "findings": [{"code": f.code, "severity": f.severity.value} for f in file.findings],
            "reviews": [{"reviewer": r.reviewer, "verdict": r.verdict.value}
                        for r in file.current_reviews()]}


def _request_input(request: EgressRequest, permit: DataPermit) -> dict[str, Any]:
    return {"id": request.id, "project": request.project, "author": request.author,
            "status": request.status.value, "egress": permit.egress.value,
            "members": [{"user": m.user, "role": m.role.value} for m in permit.members]}


def outcomes(node: Node, request: EgressRequest, permit: DataPermit
             ) -> dict[str, tuple[FileOutcome, Decision]]:
    """Each file's outcome, by the ``egress_approval`` policy (rejected if any checker said so)."""
    result = {}
    for file in request.files:
        answer = node.policy.decide("egress_approval", {
            "request": _request_input(request, permit), "file": _file_input(file)})
        if answer.allow:
            result[file.name] = (FileOutcome.APPROVED, answer)
        elif any(r.verdict is Verdict.REJECT for r in file.current_reviews()) or file.blocked:
            result[file.name] = (FileOutcome.REJECTED, answer)
        else:
            result[file.name] = (FileOutcome.PENDING, answer)
    return result


def review(node: Node, actor: str, request_id: str, name: str, verdict: Verdict,
           comment: str) -> EgressRequest:
    """Record an output checker's verdict on one file; the request moves when all are decided."""
    trace = audit.new_request_id()
    with node.unit_of_work() as session:
        now = node.clock()
        request = egress_store.get(session, request_id)
        permit = permit_store.get(session, request.permit)
        file = request.file(name)
        decision = node.authorise(
            session, decision="egress_review",
            input={"actor": _actor(session, actor),
                   "request": _request_input(request, permit),
                   "file": _file_input(file),
                   "review": {"verdict": verdict.value, "comment": comment}},
            actor=actor, action="airlock.review", object_type="egress_request",
            object_id=request_id, request_id=trace)
        if decision.allow:
            egress_store.add_review(session, request_id, name,
                                    FileReview(actor, file.sha256, verdict, comment, now))
            audit.record(session, time=now, actor=actor, action="airlock.review",
                         object_type="egress_request", object_id=request_id, outcome="allowed",
                         request_id=trace, decision=decision,
                         details={"file": name, "sha256": file.sha256,
                                  "verdict": verdict.value, "comment": comment})
            request = egress_store.get(session, request_id)
            if request.status is EgressStatus.SUBMITTED:
                request = request.moved_to(EgressStatus.IN_REVIEW)
            status = decided_status({n: o for n, (o, _) in
                                     outcomes(node, request, permit).items()})
            if status is not EgressStatus.IN_REVIEW:
                request = request.moved_to(status)
                audit.record(session, time=now, actor=actor, action=f"airlock.{status.value}",
                             object_type="egress_request", object_id=request_id,
                             outcome="allowed", request_id=trace)
            egress_store.save_status(session, request, now)
    if not decision.allow:
        raise refusal(decision)
    return request


def release(node: Node, cfg: AirlockConfig, actor: str, request_id: str) -> Path:
    """Copy the approved files of a decided request to its signed release folder.

    Policy ``egress_release`` decides who may (an output checker outside the project); a deny
    is audited and nothing is copied.
    """
    trace = audit.new_request_id()
    with node.unit_of_work() as session:
        request = egress_store.get(session, request_id)
        permit = permit_store.get(session, request.permit)
        decision = node.authorise(
            session, decision="egress_release",
            input={"actor": _actor(session, actor),
                   "request": _request_input(request, permit)},
            actor=actor, action="airlock.release", object_type="egress_request",
            object_id=request_id, request_id=trace)
        if decision.allow:
            folder = _publish_release(node, cfg, session, actor, request, permit, decision,
                                      trace)
    if not decision.allow:
        raise refusal(decision)
    return folder


def _publish_release(node: Node, cfg: AirlockConfig, session: Session, actor: str,
                     request: EgressRequest, permit: DataPermit, decision: Decision,
                     trace: str) -> Path:
    now = node.clock()
    moved = request.moved_to(EgressStatus.RELEASED)
    decided = outcomes(node, request, permit)
    approved = [f for f in request.files if decided[f.name][0] is FileOutcome.APPROVED]
    manifest = {
        "request": request.id, "project": request.project, "permit": permit.id,
        "datasets": [str(d) for d in permit.datasets], "author": request.author,
        "justification": request.justification,
        "submitted_at": releases.stamp(request.created_at),
        "released_at": releases.stamp(now), "released_by": actor,
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size,
                   "kind": f.kind.value,
                   "reviewers": [{"reviewer": r.reviewer, "verdict": r.verdict.value,
                                  "comment": r.comment, "time": releases.stamp(r.time)}
                                 for r in f.current_reviews()]}
                  for f in approved],
        "withheld": sorted(f.name for f in request.files if f not in approved),
    }
    folder = releases.write_release(
        cfg.home, cfg.keys_dir, request.id,
        {f.name: cfg.blob(request.id, f.sha256) for f in approved}, manifest)
    egress_store.save_status(session, replace(moved, released_at=now), now)
    audit.record(session, time=now, actor=actor, action="airlock.release",
                 object_type="egress_request", object_id=request.id, outcome="allowed",
                 request_id=trace, decision=decision,
                 details={"files": {f.name: f.sha256 for f in approved},
                          "withheld": manifest["withheld"], "path": str(folder)})
    return folder


def withdraw(node: Node, actor: str, request_id: str) -> EgressRequest:
    """The author withdraws a request that is not released."""
    with node.unit_of_work() as session:
        now = node.clock()
        request = egress_store.get(session, request_id)
        if actor != request.author:
            raise InvalidInput(f"only the author ({request.author}) may withdraw {request_id}")
        moved = request.moved_to(EgressStatus.WITHDRAWN, "withdrawn by the author")
        egress_store.save_status(session, moved, now)
        audit.record(session, time=now, actor=actor, action="airlock.withdraw",
                     object_type="egress_request", object_id=request_id, outcome="allowed",
                     request_id=audit.new_request_id())
    return moved


def check_download(node: Node, user: str, request_id: str, name: str = "") -> Decision:
    """May ``user`` download (file ``name`` of) the release of ``request_id``? Audited either
    way, with the file asked for."""
    with node.unit_of_work() as session:
        request = egress_store.get(session, request_id)
        permit = permit_store.get(session, request.permit)
        decision = node.policy.decide("egress_download", {
            "user": user, "request": _request_input(request, permit)})
        audit.record(session, time=node.clock(), actor=user, action="airlock.download",
                     object_type="egress_request", object_id=request_id,
                     outcome="allowed" if decision.allow else "denied",
                     request_id=audit.new_request_id(), decision=decision,
                     details={"file": name} if name else None)
    return decision


def get_request(node: Node, request_id: str) -> EgressRequest:
    """One request with its files and reviews."""
    with node.db.transaction() as session:
        return egress_store.get(session, request_id)


def list_requests(node: Node, *, project: str | None = None,
                  status: EgressStatus | None = None) -> list[EgressRequest]:
    """Requests, newest first."""
    with node.db.transaction() as session:
        return egress_store.list_all(session, project=project, status=status)

