"""Errors of project workspaces: a refused workspace, and a sandbox this node cannot run."""

from __future__ import annotations

from tre.errors import TREError


class WorkspaceRefused(TREError):
    """The workspace may not start: not a data-reading member, permit not in force, no data."""

    exit_code = 125


class SandboxUnavailable(TREError):
    """This node cannot start the sandbox as required (no bwrap, no cgroups): fail closed."""

    exit_code = 125
