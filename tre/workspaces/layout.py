"""Project folders on the host: owned by the project uid; check the uid can reach each mount."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.quota import ProjectQuotas
from tre.workspaces.spec import project_workspace, user_outputs

WORKSPACE_MODE = 0o770
OUTPUTS_MODE = 0o700
PRIVATE_MODE = 0o700
"""Root-owned folders above the project's own: the project uid cannot even pass through them."""


def _own_folder(path: Path, uid: int, gid: int, mode: int) -> None:
    """Make ``path`` a real folder (never a symlink) with this owner and mode."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise WorkspaceRefused(f"{path} exists but is not a folder (a symlink or file): "
                               "move it away so tre can create the folder itself")
    if (info.st_uid, info.st_gid) != (uid, gid):
        os.chown(path, uid, gid, follow_symlinks=False)
    if stat.S_IMODE(info.st_mode) != mode:
        os.chmod(path, mode, follow_symlinks=False)


def copy_starter(starter: Path, workspace: Path, uid: int, gid: int) -> None:
    """Copy the folders and regular files of ``starter`` into the new ``workspace``, owned by
    the project (files 0660, folders 0770); links and special files are skipped, never followed."""
    for folder, dirs, files in os.walk(starter):
        relative = Path(folder).relative_to(starter)
        for name in dirs:
            if not (Path(folder) / name).is_symlink():
                _own_folder(workspace / relative / name, uid, gid, WORKSPACE_MODE)
        for name in files:
            source = Path(folder) / name
            info = os.lstat(source)
            if not stat.S_ISREG(info.st_mode):
                continue
            target = workspace / relative / name
            shutil.copyfile(source, target, follow_symlinks=False)
            os.chown(target, uid, gid, follow_symlinks=False)
            os.chmod(target, 0o660, follow_symlinks=False)


def prepare_folders(workspace_root: Path, project: str, user: str, uid: int, gid: int, *,
                    quotas: ProjectQuotas | None = None, starter: Path | None = None) -> None:
    """Create (or repair) the project's workspace and the user's outputs folder.

    ``root/``, ``root/<project>/`` and ``root/<project>/outputs/`` are root's, mode 0700;
    the shared ``workspace`` is the project's (0770), ``outputs/<user>`` too (0700). Root binds
    them into the sandbox, so the project uid needs no way through the folders above, and the
    sandbox can never swap a folder above its mounts for a symlink. When ``quotas`` applies to
    the project, ``root/<project>/`` is its quota image, mounted first (tre.workspaces.quota).
    A workspace made now starts with a copy of ``starter`` (:func:`copy_starter`).
    """
    workspace_root.parent.mkdir(parents=True, exist_ok=True)
    project_dir = workspace_root / project
    outputs_dir = project_dir / "outputs"
    _own_folder(workspace_root, 0, 0, PRIVATE_MODE)
    if quotas is not None:
        quotas.prepare(project)
    for folder in (project_dir, outputs_dir):
        _own_folder(folder, 0, 0, PRIVATE_MODE)
    workspace = project_workspace(workspace_root, project)
    new = not os.path.lexists(workspace)
    _own_folder(workspace, uid, gid, WORKSPACE_MODE)
    if new and starter is not None and starter.is_dir():
        copy_starter(starter, workspace, uid, gid)
    _own_folder(user_outputs(workspace_root, project, user), uid, gid, OUTPUTS_MODE)


def _permits(info: os.stat_result, uid: int, gid: int, bits: int) -> bool:
    """Whether ``uid``/``gid`` (no supplementary groups) has ``bits`` (r=4, w=2, x=1)."""
    mode = info.st_mode
    if info.st_uid == uid:
        return (mode >> 6) & bits == bits
    if info.st_gid == gid:
        return (mode >> 3) & bits == bits
    return mode & bits == bits


def check_readable(path: Path, uid: int, gid: int) -> None:
    """Refuse unless ``uid`` may list and read the folder ``path`` itself.

    Folders above it do not matter: root binds it into the sandbox (see tre.workspaces.bwrap),
    so a dataset may stay under $TRE_HOME (0700). (POSIX ACLs are not looked at.)
    """
    if not _permits(os.stat(path), uid, gid, 5):
        raise WorkspaceRefused(f"the project uid {uid} cannot read {path}: a published "
                               f"dataset version is world-readable (`chmod -R a+rX {path}`)")
