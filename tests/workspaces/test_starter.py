"""Starter notebooks: a new workspace starts with a copy; the demo notebook runs in a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub.hub_support import RUNTIME
from workspaces.sandbox_support import need_root, need_sandbox

from factories import Clock
from tre.services import demo
from tre.services.node import Node, utc_now
from tre.settings import Settings
from tre.workspaces import layout
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.spec import project_workspace, user_outputs

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
UID = 210000


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    """A starter folder with a notebook, a subfolder, and things that must not be copied."""
    folder = tmp_path / "starter"
    (folder / "helpers").mkdir(parents=True)
    (folder / "01-first-look.ipynb").write_text('{"cells": []}')
    (folder / "helpers" / "plots.py").write_text("def plot(): ...\n")
    (folder / "shadow").symlink_to("/etc/shadow")
    (folder / "etc-link").symlink_to("/etc", target_is_directory=True)
    os.mkfifo(folder / "pipe")
    return folder


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    return {p.relative_to(root).as_posix(): (p.lstat().st_uid, p.lstat().st_gid,
                                             p.lstat().st_mode & 0o7777)
            for p in sorted(root.rglob("*"))}


def test_a_new_workspace_starts_with_a_copy_owned_by_the_project(
        tmp_path: Path, starter: Path) -> None:
    need_root()
    root = tmp_path / "workspaces"
    layout.prepare_folders(root, "lung-ai", "bob", UID, UID, starter=starter)
    workspace = project_workspace(root, "lung-ai")
    assert _tree(workspace) == {
        "01-first-look.ipynb": (UID, UID, 0o660), "helpers": (UID, UID, 0o770),
        "helpers/plots.py": (UID, UID, 0o660)}  # no link, no pipe, nothing behind a link
    # the project's own changes are never overwritten, nor deleted files brought back
    (workspace / "01-first-look.ipynb").write_text("mine")
    (workspace / "helpers" / "plots.py").unlink()
    layout.prepare_folders(root, "lung-ai", "carol", UID, UID, starter=starter)
    assert (workspace / "01-first-look.ipynb").read_text() == "mine"
    assert not (workspace / "helpers" / "plots.py").exists()


def test_without_a_starter_a_workspace_starts_empty(tmp_path: Path) -> None:
    need_root()
    root = tmp_path / "workspaces"
    layout.prepare_folders(root, "lung-ai", "bob", UID, UID, starter=tmp_path / "missing")
    assert _tree(project_workspace(root, "lung-ai")) == {}


def _runtime() -> Path:
    if not (RUNTIME / "bin" / "jupyter").exists():
        message = f"no sandbox runtime at {RUNTIME}: scripts/make-sandbox-runtime.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return RUNTIME


@pytest.mark.slow
def test_the_demo_notebook_runs_in_a_sandbox_on_the_demo_data(
        node: Node, clock: Clock, settings: Settings, ws_settings: WorkspaceSettings) -> None:
    """The starter notebook, executed by `tre run` in the runtime every project server has,
    on the demo dataset as the real ingestion made it: it reads the images and the clinical
    table and writes only an aggregate table with small cells suppressed to /outputs."""
    need_sandbox()
    runtime = _runtime()
    clock.now = utc_now()  # the CLI runs on the real clock
    world = demo.seed(node, settings.home)
    env = {**os.environ, "TRE_HOME": str(settings.home), "TRE_DATABASE_URL": settings.url,
           "TRE_POLICIES_DIR": str(settings.policies_dir),
           "TRE_WORKSPACES_ROOT": str(ws_settings.root), "TRE_WORKSPACES_RUNTIME": str(runtime),
           "TRE_WORKSPACES_STARTER": str(NOTEBOOKS)}
    done = subprocess.run(
        [sys.executable, "-m", "tre.cli.app", "run", "--project", world.permit.project,
         "--as", "alice", "--memory-gb", "2", "--", "jupyter", "nbconvert", "--to", "notebook",
         "--execute", "--ExecutePreprocessor.timeout=300", "--output", "executed.ipynb",
         "/workspace/01-first-look.ipynb"],
        env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    workspace = project_workspace(ws_settings.root, world.permit.project)
    executed = json.loads((workspace / "executed.ipynb").read_text())
    outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert [o for o in outputs if o["output_type"] == "error"] == []
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert f"{world.dataset}: version" in text
    assert "4 clinical rows, 4 of 4 imaged patients linked" in text
    assert "no airlock here" in text  # `tre run` has no API; a project server submits
    table = user_outputs(ws_settings.root, world.permit.project, "alice")
    assert sorted(p.name for p in table.iterdir()) == ["patients_by_stage.csv"]
    rows = (table / "patients_by_stage.csv").read_text().splitlines()
    assert rows[0] == "stage,patients"
    assert {r.split(",")[1] for r in rows[1:]} == {"<10"}  # 4 patients: every cell suppressed
    assert (workspace / "first-look.png").stat().st_size > 0  # figures stay in the project
