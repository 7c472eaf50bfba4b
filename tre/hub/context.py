"""What the hub process shares with tre: one Node and the workspace settings, built once."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tre.services.bootstrap import load_settings, open_node
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.uids import ProjectUids


@dataclass
class HubContext:
    """The node (database, policy, audit) and the workspace settings, for one hub process."""

    settings: Settings
    node: Node
    workspaces: WorkspaceSettings
    uids: ProjectUids


@functools.cache
def hub_context() -> HubContext:
    """The process's context, from the TRE_* environment `tre up` passes to the hub."""
    settings = load_settings()
    workspaces = WorkspaceSettings()
    uids = ProjectUids(workspaces.uid_registry(settings.home), workspaces.uid_base,
                       workspaces.uid_count)
    return HubContext(settings, open_node(settings, server=True), workspaces, uids)
