"""Prepare a workspace: policy on every dataset, the project uid, its folders, the audit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tre.audit import log as audit
from tre.db import datasets as dataset_store
from tre.db import permits as permit_store
from tre.domain.permits import DataPermit
from tre.errors import TREError
from tre.policy.decisions import Decision
from tre.services.node import Node
from tre.services.permits import check_data_access
from tre.workspaces import layout
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.spec import Profile, WorkspaceSpec, render_spec
from tre.workspaces.uids import ProjectUids


def _audit_prepare(node: Node, user: str, project: str, outcome: str,
                   details: Mapping[str, Any]) -> None:
    with node.unit_of_work() as session:
        audit.record(session, time=node.clock(), actor=user, action="workspace.prepare",
                     object_type="project", object_id=project, outcome=outcome,
                     request_id=audit.new_request_id(), details=dict(details))


def _load(node: Node, project: str) -> tuple[DataPermit, dict[str, Path]]:
    """The project's permit and the recorded folder of each dataset version it pins."""
    with node.db.transaction() as session:
        permit = permit_store.for_project(session, project)
        if permit is None:
            raise WorkspaceRefused(f"project {project} has no data permit: apply with "
                                   "`tre permits apply` and wait for the HDAB's approval")
        paths = {}
        for pinned in permit.datasets:
            for version in dataset_store.versions(session, pinned.dataset):
                if version.version == pinned.version:
                    paths[str(pinned)] = Path(version.path)
    return permit, paths


def _denied(decisions: list[Decision]) -> WorkspaceRefused | None:
    reasons = sorted({r for d in decisions if not d.allow for r in d.reasons})
    if not reasons:
        return None
    return WorkspaceRefused("denied by policy data_access: " + "; ".join(reasons))


def _check_on_disk(permit: DataPermit, paths: Mapping[str, Path], uid: int) -> dict[str, Path]:
    """Each pinned version's folder, resolved; refuse if one is missing (never mount another)."""
    checked = {}
    for pinned in permit.datasets:
        key = str(pinned)
        path = paths.get(key)
        if path is None:
            raise WorkspaceRefused(f"{key} of permit {permit.id} is not in the catalogue: "
                                   f"`tre datasets show {pinned.dataset}` lists its versions")
        if not path.is_absolute() or not path.is_dir():
            raise WorkspaceRefused(
                f"the folder of {key} ({path}) is missing on disk: restore the published "
                f"version there (`tre datasets verify {pinned.dataset}`) before starting "
                "workspaces; tre never mounts anything else in its place")
        resolved = path.resolve(strict=True)
        layout.check_readable(resolved, uid, uid)
        checked[key] = resolved
    return checked


def prepare(node: Node, user: str, project: str, profile: Profile, *,
            settings: WorkspaceSettings, uids: ProjectUids,
            extra_env: Mapping[str, str] | None = None) -> WorkspaceSpec:
    """The spec of ``user``'s workspace in ``project``, after policy allowed every dataset.

    Each dataset the permit pins is asked of the ``data_access`` policy (each answer audited as
    ``data.access``); any deny refuses with the policy's reasons. Then the version folders must
    exist, the project's uid is allocated (stable), its folders created, and
    ``workspace.prepare`` audited. Every refusal is audited too.
    """
    try:
        permit, paths = _load(node, project)
        decisions = [check_data_access(node, user, project, d.dataset, d.version)
                     for d in permit.datasets]
        denied = _denied(decisions)
        if denied is not None:
            raise denied
        uid = uids.uid_of(project)
        dataset_paths = _check_on_disk(permit, paths, uid)
        spec = render_spec(permit, user, profile, uid=uid, dataset_paths=dataset_paths,
                           workspace_root=settings.root, now=node.clock(),
                           extra_env=extra_env)
        layout.prepare_folders(settings.root, project, user, uid, uid)
    except TREError as exc:
        _audit_prepare(node, user, project, "denied", {"reason": str(exc)})
        raise
    _audit_prepare(node, user, project, "allowed", {
        "permit": permit.id, "profile": profile.name, "uid": spec.uid,
        "datasets": sorted(str(d) for d in permit.datasets),
        "limits": {"cpus": spec.limits.cpus, "memory_bytes": spec.limits.memory_bytes,
                   "pids": spec.limits.pids, "gpus": spec.limits.gpus}})
    return spec
