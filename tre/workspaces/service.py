"""Prepare a workspace: policy on every dataset, the project uid, its folders, the audit.

A project is a data permit's, or an SME sandbox's (whose synthetic-only rule is asked of the
``sandbox_access`` policy at every start instead of ``data_access``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tre.audit import log as audit
from tre.db import datasets as dataset_store
from tre.db import permits as permit_store
from tre.db import sandboxes as sandbox_store
from tre.domain.permits import DataPermit, PinnedDataset
from tre.domain.sandboxes import Sandbox
from tre.errors import TREError
from tre.policy.decisions import Decision
from tre.services.node import Node
from tre.services.permits import check_data_access
from tre.services.sandboxes import check_access
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


def _load(node: Node, project: str) -> tuple[DataPermit | Sandbox, dict[str, Path]]:
    """The project's permit or sandbox and the recorded folder of each version it pins."""
    with node.db.transaction() as session:
        source: DataPermit | Sandbox | None = permit_store.for_project(session, project)
        if source is None:
            source = sandbox_store.find(session, project)
        if source is None:
            raise WorkspaceRefused(f"project {project} has no data permit: apply with "
                                   "`tre permits apply` and wait for the HDAB's approval")
        paths = {}
        for pinned in source.datasets:
            for version in dataset_store.versions(session, pinned.dataset):
                if version.version == pinned.version:
                    paths[str(pinned)] = Path(version.path)
    return source, paths


def _decisions(node: Node, user: str, source: DataPermit | Sandbox) -> list[Decision]:
    """What policy says of ``user`` using each dataset (each answer audited)."""
    if isinstance(source, Sandbox):
        return [check_access(node, user, source.name)[1]]
    return [check_data_access(node, user, source.project, d.dataset, d.version)
            for d in source.datasets]


def _denied(decisions: list[Decision]) -> WorkspaceRefused | None:
    reasons = sorted({r for d in decisions if not d.allow for r in d.reasons})
    if not reasons:
        return None
    return WorkspaceRefused(f"denied by policy {decisions[0].name}: " + "; ".join(reasons))


def _check_on_disk(owner: str, datasets: tuple[PinnedDataset, ...], paths: Mapping[str, Path],
                   uid: int) -> dict[str, Path]:
    """Each pinned version's folder, resolved; refuse if one is missing (never mount another)."""
    checked = {}
    for pinned in datasets:
        key = str(pinned)
        path = paths.get(key)
        if path is None:
            raise WorkspaceRefused(f"{key} of {owner} is not in the catalogue: "
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
    ``data.access``), or a sandbox of ``sandbox_access`` (``sandbox.access``); any deny refuses
    with the policy's reasons. Then the version folders must exist, the project's uid is
    allocated (stable), its folders created, and ``workspace.prepare`` audited. Every refusal
    is audited too.
    """
    try:
        source, paths = _load(node, project)
        denied = _denied(_decisions(node, user, source))
        if denied is not None:
            raise denied
        uid = uids.uid_of(project)
        kind = "sandbox" if isinstance(source, Sandbox) else "permit"
        dataset_paths = _check_on_disk(f"{kind} {source.id}", source.datasets, paths, uid)
        spec = render_spec(source, user, profile, uid=uid, dataset_paths=dataset_paths,
                           workspace_root=settings.root, now=node.clock(),
                           extra_env=extra_env)
        layout.prepare_folders(settings.root, project, user, uid, uid,
                               quotas=settings.quotas(), starter=settings.starter)
    except TREError as exc:
        _audit_prepare(node, user, project, "denied", {"reason": str(exc)})
        raise
    _audit_prepare(node, user, project, "allowed", {
        kind: source.id, "profile": profile.name, "uid": spec.uid,
        "datasets": sorted(str(d) for d in source.datasets),
        "limits": {"cpus": spec.limits.cpus, "memory_bytes": spec.limits.memory_bytes,
                   "pids": spec.limits.pids, "gpus": spec.limits.gpus}})
    return spec
