"""Batch jobs: one command in the project's workspace spec, audited from start to finish."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import IO, Any, Protocol

from tre.audit import log as audit
from tre.db import permits as permit_store
from tre.db import sandboxes as sandbox_store
from tre.domain.sandboxes import SandboxStatus
from tre.services.node import Node
from tre.workspaces.bwrap import SandboxResult
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.service import prepare
from tre.workspaces.spec import Profile, WorkspaceSpec
from tre.workspaces.uids import ProjectUids

Stream = IO[bytes] | int | None

NOT_STARTED = ("the sandbox ended before the command ran (its syscall filter, a mount, or "
               "the command itself could not be set up: bubblewrap's message says which)")
"""The error of a job whose sandbox never ran its command (``job.finish`` ``failed``)."""


class Backend(Protocol):
    """A sandbox backend: runs a command in exactly a spec (bwrap now; Docker, k8s later)."""

    def run(self, spec: WorkspaceSpec, command: Sequence[str], *, stdin: Stream = None,
            stdout: Stream = None, stderr: Stream = None,
            keep_running: Callable[[], str | None] | None = None,
            poll_s: float = 10.0) -> SandboxResult: ...


def _record(node: Node, user: str, action: str, job_id: str, outcome: str,
            details: dict[str, Any]) -> None:
    with node.unit_of_work() as session:
        audit.record(session, time=node.clock(), actor=user, action=action, object_type="job",
                     object_id=job_id, outcome=outcome, request_id=job_id, details=details)


def record_refusal(node: Node, user: str, project: str, exc: Exception) -> None:
    """Audit a job this node could not even start (``job.start``, outcome ``failed``)."""
    job_id = uuid.uuid4().hex
    _record(node, user, "job.start", job_id, "failed",
            {"project": project, "error": str(exc)})


def permit_watch(node: Node, project: str, user: str) -> Callable[[], str | None]:
    """A check that gives a reason to stop once the permit (or the sandbox) of ``project`` no
    longer lets ``user`` work."""
    def why_stop() -> str | None:
        with node.db.transaction() as session:
            permit = permit_store.for_project(session, project)
            sandbox = None if permit is not None else sandbox_store.find(session, project)
        now = node.clock()
        if sandbox is not None:
            if sandbox.status is not SandboxStatus.ACTIVE:
                return f"sandbox {sandbox.name} is {sandbox.status.value}"
            if user not in sandbox.users:
                return f"{user} is no longer in sandbox {sandbox.name}"
            return None
        if permit is None:
            return f"project {project} no longer has a permit"
        if not permit.in_force(now):
            return f"permit {permit.id} is {permit.effective_status(now).value}"
        if not permit.may_use_data(user):
            return f"{user} no longer reads data in permit {permit.id}"
        return None
    return why_stop


def run_job(node: Node, user: str, project: str, command: Sequence[str], *,
            backend: Backend, settings: WorkspaceSettings, uids: ProjectUids,
            profile: Profile | None = None, stdin: Stream = None, stdout: Stream = None,
            stderr: Stream = None, poll_s: float = 10.0) -> SandboxResult:
    """Run ``command`` as ``user`` in ``project``'s workspace; ``job.start``/``job.finish``.

    The job is stopped (and ``job.finish`` says why) as soon as the permit is suspended,
    revoked or expires (or the sandbox is closed), checked every ``poll_s`` seconds.
    """
    spec = prepare(node, user, project, profile or Profile(name="batch"),
                   settings=settings, uids=uids)
    job_id = uuid.uuid4().hex
    _record(node, user, "job.start", job_id, "allowed",
            {"project": project, "command": list(command), "uid": spec.uid})
    started = time.monotonic()
    try:
        result = backend.run(spec, command, stdin=stdin, stdout=stdout, stderr=stderr,
                             keep_running=permit_watch(node, project, user), poll_s=poll_s)
    except BaseException as exc:
        _record(node, user, "job.finish", job_id, "failed",
                {"project": project, "error": f"{type(exc).__name__}: {exc}",
                 "seconds": round(time.monotonic() - started, 3)})
        raise
    details: dict[str, Any] = {"project": project, "exit_code": result.exit_code,
                               "oom_killed": result.oom_killed,
                               "seconds": round(time.monotonic() - started, 3)}
    if result.stopped is not None:
        details["stopped"] = result.stopped
    if not result.started:
        details["error"] = NOT_STARTED
    outcome = ("stopped" if result.stopped else "completed" if result.started else "failed")
    _record(node, user, "job.finish", job_id, outcome, details)
    return result
