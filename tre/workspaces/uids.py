"""A stable, dedicated, unprivileged host uid per project, kept in a JSON file under $TRE_HOME."""

from __future__ import annotations

import fcntl
import grp
import json
import os
import pwd
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tre.domain.values import check_slug
from tre.errors import StorageError
from tre.workspaces.errors import WorkspaceRefused

FORMAT = 1


def host_id_taken(uid: int) -> bool:
    """Whether a host account or group already uses ``uid`` (as a uid or a gid)."""
    try:
        pwd.getpwuid(uid)
    except KeyError:
        pass
    else:
        return True
    try:
        grp.getgrgid(uid)
    except KeyError:
        return False
    return True


class ProjectUids:
    """Gives each project its own host uid in [base, base + count), the same one forever.

    A uid is never 0, never one a host account or group already has, never given to two
    projects. The file is locked while read and rewritten, so concurrent ``tre`` processes agree.
    """

    def __init__(self, path: Path, base: int, count: int,
                 taken: Callable[[int], bool] = host_id_taken) -> None:
        if base <= 0:
            raise WorkspaceRefused(f"project uid base {base} must be above 0: set "
                                   "TRE_WORKSPACES_UID_BASE to an unused range, e.g. 200000")
        self.path, self.base, self.count, self._taken = path, base, count, taken

    @contextmanager
    def _locked(self) -> Iterator[dict[str, int]]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            projects = self._read()
            before = dict(projects)
            yield projects
            if projects != before:
                self._write(projects)
        finally:
            os.close(fd)

    def _read(self) -> dict[str, int]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read the project uid registry {self.path}: {exc}; "
                               "restore it from backup (uids must never change)") from None
        if not isinstance(raw, dict):
            raw = {}
        projects = raw.get("projects")
        if raw.get("format") != FORMAT or not isinstance(projects, dict) or not all(
                isinstance(k, str) and isinstance(v, int) for k, v in projects.items()):
            raise StorageError(f"the project uid registry {self.path} is malformed: restore "
                               "it from backup (uids must never change)")
        return dict(projects)

    def _write(self, projects: dict[str, int]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"format": FORMAT, "projects": projects}, indent=2,
                                  sort_keys=True) + "\n")
        tmp.chmod(0o600)
        os.replace(tmp, self.path)

    def uid_of(self, project: str) -> int:
        """The project's uid, allocating the next free one the first time."""
        check_slug("project", project)
        with self._locked() as projects:
            uid = projects.get(project)
            if uid is not None:
                self._check_still_free(project, uid)
                return uid
            used = set(projects.values())
            for uid in range(self.base, self.base + self.count):
                if uid not in used and not self._taken(uid):
                    projects[project] = uid
                    return uid
        raise WorkspaceRefused(
            f"no free project uid left in {self.base}..{self.base + self.count - 1}: raise "
            "TRE_WORKSPACES_UID_COUNT or move TRE_WORKSPACES_UID_BASE to a bigger free range")

    def _check_still_free(self, project: str, uid: int) -> None:
        if uid < self.base or uid >= self.base + self.count or uid == 0:
            raise WorkspaceRefused(f"project {project} has uid {uid}, outside the project "
                                   f"range {self.base}..{self.base + self.count - 1}: check "
                                   f"TRE_WORKSPACES_UID_BASE against {self.path}")
        if self._taken(uid):
            raise WorkspaceRefused(
                f"uid {uid} of project {project} now belongs to a host account or group: "
                "remove that account (project uids must stay dedicated) before starting it")

    def known(self) -> dict[str, int]:
        """Every project's uid so far."""
        with self._locked() as projects:
            return dict(projects)
