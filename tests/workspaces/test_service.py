"""prepare(): policy on every dataset (audited), folders owned by the project uid, refusals."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from workspaces.sandbox_support import Publish, need_root

from factories import Clock, audit_trail, issue_permit, seed_users
from tre.services import permits
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.service import prepare
from tre.workspaces.spec import Profile
from tre.workspaces.uids import ProjectUids


@pytest.fixture
def world(node: Node, publish: Publish) -> str:
    """Users, lung-ct@v1 on disk, and project lung-ai (alice applied; bob researches)."""
    need_root()
    seed_users(node)
    publish()
    return issue_permit(node).id


def owner_mode(path: Path) -> tuple[int, int, str]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid, oct(stat.S_IMODE(info.st_mode))


def test_prepare_mounts_the_permitted_version_and_makes_the_folders(
        node: Node, world: str, settings: Settings, ws_settings: WorkspaceSettings,
        uids: ProjectUids) -> None:
    before = len(audit_trail(node))
    spec = prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
    root = ws_settings.root
    assert [(m.source, m.target, m.read_only) for m in spec.mounts] == [
        (settings.home / "datasets" / "lung-ct" / "v1", "/data/lung-ct", True),
        (root / "lung-ai" / "workspace", "/workspace", False),
        (root / "lung-ai" / "outputs" / "bob", "/outputs", False)]
    assert (spec.uid, spec.gid) == (200000, 200000)
    assert {p: owner_mode(root / p) for p in ("", "lung-ai", "lung-ai/outputs",
                                             "lung-ai/workspace", "lung-ai/outputs/bob")} == {
        "": (0, 0, "0o700"), "lung-ai": (0, 0, "0o700"), "lung-ai/outputs": (0, 0, "0o700"),
        "lung-ai/workspace": (200000, 200000, "0o770"),
        "lung-ai/outputs/bob": (200000, 200000, "0o700")}
    assert audit_trail(node)[before:] == [
        ("bob", "data.access", "lung-ct@v1", "allowed"),
        ("bob", "workspace.prepare", "lung-ai", "allowed")]


def refused(node: Node, user: str, project: str, ws_settings: WorkspaceSettings,
            uids: ProjectUids) -> str:
    with pytest.raises(WorkspaceRefused) as caught:
        prepare(node, user, project, Profile(), settings=ws_settings, uids=uids)
    return str(caught.value)


def test_a_non_member_is_refused_with_the_policys_reasons(
        node: Node, world: str, ws_settings: WorkspaceSettings, uids: ProjectUids) -> None:
    before = len(audit_trail(node))
    assert refused(node, "carol", "lung-ai", ws_settings, uids) == (
        f"denied by policy data_access: carol is not a member of permit {world}")
    assert audit_trail(node)[before:] == [
        ("carol", "data.access", "lung-ct@v1", "denied"),
        ("carol", "workspace.prepare", "lung-ai", "denied")]
    assert not ws_settings.root.exists()


def test_no_permit_suspended_and_expired_are_refused(
        node: Node, world: str, clock: Clock, ws_settings: WorkspaceSettings,
        uids: ProjectUids) -> None:
    assert refused(node, "bob", "brain-seg", ws_settings, uids) == (
        "project brain-seg has no data permit: apply with `tre permits apply` and wait for "
        "the HDAB's approval")
    permits.change_status(node, "olga", world, "suspend", "audit finding")
    assert refused(node, "bob", "lung-ai", ws_settings, uids) == (
        f"denied by policy data_access: permit {world} is suspended")
    permits.change_status(node, "olga", world, "reinstate", "resolved")
    clock.advance(days=400)
    assert refused(node, "bob", "lung-ai", ws_settings, uids) == (
        f"denied by policy data_access: permit {world} has expired")


def test_a_missing_version_folder_is_refused(
        node: Node, world: str, settings: Settings, ws_settings: WorkspaceSettings,
        uids: ProjectUids) -> None:
    folder = settings.home / "datasets" / "lung-ct" / "v1"
    folder.chmod(0o755)
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    message = refused(node, "bob", "lung-ai", ws_settings, uids)
    assert message.startswith(f"the folder of lung-ct@v1 ({folder}) is missing on disk")


def test_a_version_the_project_uid_cannot_read_is_refused(
        node: Node, world: str, settings: Settings, ws_settings: WorkspaceSettings,
        uids: ProjectUids) -> None:
    folder = settings.home / "datasets" / "lung-ct" / "v1"
    folder.chmod(0o500)
    assert refused(node, "bob", "lung-ai", ws_settings, uids) == (
        f"the project uid 200000 cannot read {folder}: a published dataset version is "
        f"world-readable (`chmod -R a+rX {folder}`)")


def test_a_symlinked_workspace_folder_is_refused(
        node: Node, world: str, tmp_path: Path, ws_settings: WorkspaceSettings,
        uids: ProjectUids) -> None:
    (ws_settings.root / "lung-ai").mkdir(parents=True)
    (ws_settings.root / "lung-ai" / "workspace").symlink_to(tmp_path)
    assert refused(node, "bob", "lung-ai", ws_settings, uids).startswith(
        f"{ws_settings.root / 'lung-ai' / 'workspace'} exists but is not a folder")
