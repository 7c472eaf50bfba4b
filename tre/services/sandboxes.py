"""SME sandboxes: create, close and use them; policy keeps real data out at every step."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from tre.audit import log as audit
from tre.db import datasets as dataset_store
from tre.db import projects as project_store
from tre.db import sandboxes as sandbox_store
from tre.db import users as user_store
from tre.domain.permits import PinnedDataset
from tre.domain.sandboxes import Sandbox
from tre.domain.values import Compute, DatasetRef, check_slug
from tre.errors import InvalidInput, NotFound
from tre.policy import inputs
from tre.policy.decisions import Decision
from tre.services.node import Node, refusal


def catalogue_datasets(session: Session,
                       datasets: tuple[PinnedDataset, ...]) -> list[dict[str, Any]]:
    """Each pinned version with the catalogue's ``synthetic`` flag (false when not catalogued)."""
    out = []
    for pinned in datasets:
        try:
            synthetic = dataset_store.get(session, pinned.dataset).synthetic
        except NotFound:
            synthetic = False
        out.append({"dataset": pinned.dataset, "version": pinned.version,
                    "synthetic": synthetic})
    return out


def sandbox_input(session: Session, sandbox: Sandbox) -> dict[str, Any]:
    """The sandbox as the sandbox policies read it, flags taken from the catalogue now."""
    return {"id": sandbox.id, "name": sandbox.name, "owner": sandbox.owner,
            "members": list(sandbox.members), "status": sandbox.status.value,
            "datasets": catalogue_datasets(session, sandbox.datasets)}


def _actor(session: Session, name: str) -> dict[str, Any]:
    user = user_store.get(session, name)
    return inputs.actor_input(user.name, (r.value for r in user.roles))


def _check_name_free(session: Session, name: str) -> None:
    held = project_store.claims(session, name)
    if held.sandbox is not None:
        raise InvalidInput(f"sandbox {name!r} exists already: pick another name "
                           "(`tre sandboxes list` lists them)")
    if held.permit is not None:
        raise InvalidInput(f"{name!r} is the project of permit {held.permit}: pick another "
                           "sandbox name")
    if held.open_applications:
        raise InvalidInput(f"{name!r} is the project of open application "
                           f"{held.open_applications[0]}: pick another sandbox name")


def create_sandbox(node: Node, actor: str, name: str, datasets: tuple[DatasetRef, ...],
                   members: tuple[str, ...], compute: Compute) -> Sandbox:
    """Create ``actor``'s sandbox over synthetic dataset versions (``sandbox_create`` decides)."""
    check_slug("sandbox", name)
    request_id = audit.new_request_id()
    with node.unit_of_work() as session:
        now = node.clock()
        actor_doc = _actor(session, actor)
        unknown = user_store.missing(session, set(members))
        if unknown:
            raise InvalidInput(f"unknown member(s) {', '.join(unknown)}: add them with "
                               "`tre users add NAME --role sme_developer` first")
        _check_name_free(session, name)
        sandbox = Sandbox(
            id=f"sbx-{secrets.token_hex(6)}", name=name, owner=actor,
            members=tuple(dict.fromkeys(m for m in members if m != actor)),
            datasets=tuple(dataset_store.resolve(session, ref) for ref in datasets),
            compute=compute, created_at=now)
        decision = node.authorise(
            session, decision="sandbox_create",
            input={"actor": actor_doc, "sandbox": sandbox_input(session, sandbox)},
            actor=actor, action="sandbox.create", object_type="sandbox", object_id=name,
            request_id=request_id)
        if decision.allow:
            sandbox_store.add(session, sandbox)
            audit.record(session, time=now, actor=actor, action="sandbox.create",
                         object_type="sandbox", object_id=name, outcome="allowed",
                         request_id=request_id, decision=decision,
                         details={"id": sandbox.id, "members": list(sandbox.members),
                                  "datasets": [str(d) for d in sandbox.datasets]})
    if not decision.allow:
        raise refusal(decision)
    return sandbox


def close_sandbox(node: Node, actor: str, name: str, reason: str) -> Sandbox:
    """Close a sandbox (its owner, with a reason): nothing starts in it again.

    Anyone else is refused, and the refusal is audited (committed before it is raised)."""
    refused: InvalidInput | None = None
    with node.unit_of_work() as session:
        now = node.clock()
        sandbox = sandbox_store.get(session, name)
        if actor != sandbox.owner:
            refused = InvalidInput(f"only the owner {sandbox.owner} may close sandbox {name}")
            audit.record(session, time=now, actor=actor, action="sandbox.close",
                         object_type="sandbox", object_id=name, outcome="refused",
                         request_id=audit.new_request_id(), details={"reason": str(refused)})
        else:
            sandbox = sandbox.closed(reason)
            sandbox_store.save_status(session, sandbox, now)
            audit.record(session, time=now, actor=actor, action="sandbox.close",
                         object_type="sandbox", object_id=name, outcome="allowed",
                         request_id=audit.new_request_id(), details={"reason": reason})
    if refused is not None:
        raise refused
    return sandbox


def check_access(node: Node, user: str, name: str) -> tuple[Sandbox, Decision]:
    """May ``user`` start a server or job in sandbox ``name`` now? Audited either way."""
    with node.unit_of_work() as session:
        sandbox = sandbox_store.get(session, name)
        decision = node.policy.decide("sandbox_access", {
            "user": _actor(session, user), "sandbox": sandbox_input(session, sandbox)})
        audit.record(session, time=node.clock(), actor=user, action="sandbox.access",
                     object_type="sandbox", object_id=name,
                     outcome="allowed" if decision.allow else "denied",
                     request_id=audit.new_request_id(), decision=decision,
                     details={"datasets": [str(d) for d in sandbox.datasets]})
    return sandbox, decision


def get_sandbox(node: Node, name: str) -> Sandbox:
    """One sandbox."""
    with node.db.reading() as session:
        return sandbox_store.get(session, name)


def find_sandbox(node: Node, name: str) -> Sandbox | None:
    """The sandbox called ``name``, if there is one."""
    with node.db.reading() as session:
        return sandbox_store.find(session, name)


def list_sandboxes(node: Node, *, user: str | None = None) -> list[Sandbox]:
    """Sandboxes by name (only those ``user`` owns or is a member of, if given)."""
    with node.db.reading() as session:
        return sandbox_store.list_all(session, user=user)
