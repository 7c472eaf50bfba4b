"""Helpers of workspace tests: when the real sandbox can run, and the publish callable type."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

Publish = Callable[..., Path]


def need_sandbox() -> None:
    """Fail in CI (it must install bubblewrap), skip elsewhere, when the real sandbox cannot run."""
    problems = []
    if shutil.which("bwrap") is None:
        problems.append("bwrap is not installed (scripts/install-system-deps.sh)")
    if os.geteuid() != 0:
        problems.append("sandboxes start as root (to drop to the project uid)")
    if not Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        problems.append("no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory")
    if problems:
        if os.environ.get("CI"):
            pytest.fail("the workspace sandbox cannot run in CI: " + "; ".join(problems))
        pytest.skip("the workspace sandbox cannot run here: " + "; ".join(problems))


def need_root() -> None:
    """Tests that chown folders to project uids need root (CI runs as root)."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("workspace tests need root in CI")
        pytest.skip("creating folders owned by project uids needs root")


