"""Fixtures of workspace tests: published dataset folders, workspace settings, the real sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspaces.sandbox_support import Publish, need_sandbox

from tre.db.datasets import Dataset
from tre.services import catalogue
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.bwrap import BwrapBackend
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.uids import ProjectUids


@pytest.fixture
def ws_settings(tmp_path: Path) -> WorkspaceSettings:
    """Workspace settings rooted in the test's folder."""
    return WorkspaceSettings(root=tmp_path / "workspaces")


@pytest.fixture
def uids(settings: Settings, ws_settings: WorkspaceSettings) -> ProjectUids:
    """The project uid registry of the test's home."""
    return ProjectUids(ws_settings.uid_registry(settings.home), ws_settings.uid_base,
                       ws_settings.uid_count)


@pytest.fixture
def backend(ws_settings: WorkspaceSettings) -> BwrapBackend:
    """The real bubblewrap backend (fails in CI / skips elsewhere when it cannot run)."""
    need_sandbox()
    return BwrapBackend(ws_settings)


@pytest.fixture
def publish(node: Node, settings: Settings) -> Publish:
    """Publish a dataset version folder (read-only, like ingest) under $TRE_HOME/datasets."""
    def _publish(dataset: str = "lung-ct", version: str = "v1",
                 files: dict[str, str] | None = None) -> Path:
        folder = settings.home / "datasets" / dataset / version
        folder.mkdir(parents=True)
        for name, text in (files or {"scan-001.txt": f"{dataset} {version} pixels\n"}).items():
            (folder / name).write_text(text)
            (folder / name).chmod(0o444)
        folder.chmod(0o555)
        catalogue.register_version(
            node, "dan", Dataset(dataset, dataset.title(), "", "Hospital A", False, node.clock()),
            version, str(folder))
        return folder
    return _publish
