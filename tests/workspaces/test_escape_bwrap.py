"""Escape attempts against the real bubblewrap sandbox: each must fail and the host stay intact.

The attacks are written once in escape_cases (test_escape_docker.py runs them on Docker);
network attempts only ever target this machine's own addresses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from workspaces import escape_cases as cases
from workspaces.escape_cases import World
from workspaces.sandbox_support import Publish

from factories import Clock, audit_trail
from tre.services import permits
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.bwrap import BwrapBackend
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.uids import ProjectUids


@pytest.fixture
def world(node: Node, settings: Settings, ws_settings: WorkspaceSettings, uids: ProjectUids,
          backend: BwrapBackend, publish: Publish, tmp_path: Path) -> World:
    return cases.two_projects(node, settings, ws_settings, uids, backend, publish, tmp_path)


class TestEscapeBwrap(cases.EscapeCases):
    """The shared cases, and those whose outcome is bubblewrap's own."""

    def test_identity_is_the_project_uid_with_no_capabilities(self, world: World) -> None:
        assert cases.identity(world) == {
            "ids": [200000, 200000, 200000, []],
            "caps": ["0000000000000000"] * 5,
            "no_new_privs": "1",
            "seccomp": "2",  # tre's syscall filter (tre/workspaces/seccomp.py)
            "root": sorted(["bin", "data", "dev", "etc", "lib", "lib64", "outputs", "proc",
                            "sbin", "tmp", "usr", "workspace",
                            # a configured runtime is bound read-only at /opt/tre/runtime
                            *(["opt"] if world.ws.runtime is not None else [])]),
            "data": ["lung-ct"],
            "cwd": "/workspace",
            "env": sorted({*world.env_names(), "PWD"}),  # the spec's, and the shell's PWD
        }

    def test_nothing_of_the_host_or_other_projects_is_visible(self, world: World) -> None:
        secrets = {**cases.host_secrets(world), "shadow": Path("/etc/shadow"),
                   "gshadow": Path("/etc/gshadow"), "ssh": Path("/etc/ssh"),
                   "root_home": Path("/root")}
        assert cases.read_paths(world, secrets) == dict.fromkeys(secrets, "ENOENT")

    def test_no_network_out_no_loopback_services_no_dns(
            self, world: World, listeners: dict[str, Any]) -> None:
        assert cases.reach_out(world, listeners, {}) == {
            "tcp_own_address": "ENETUNREACH", "udp_own_address": "ENETUNREACH",
            "tcp_host_loopback": "ECONNREFUSED", "dns": "failed",
            "dns_configured_resolvers": {},  # no resolver is configured at all
            "interfaces": ["lo"]}

    def test_host_processes_are_invisible_and_untraceable(
            self, world: World, host_process: int) -> None:
        assert cases.host_processes(world, host_process) == {
            # the syscall filter refuses ptrace before the pid namespace is consulted
            "processes": ["bwrap", "python3"], "ptrace_host": "EPERM", "signal_host": "ESRCH",
            "host_proc_entry": False}

    def test_no_job_starts_without_a_permit_in_force(self, world: World, clock: Clock) -> None:
        before = len(audit_trail(world.node))
        assert refusal(world, "bob", "mammo-ai") == (
            "project mammo-ai has no data permit: apply with `tre permits apply` and wait for "
            "the HDAB's approval")
        assert refusal(world, "carol", "lung-ai") == (
            f"denied by policy data_access: carol is not a member of permit {world.lung_permit}")
        permits.change_status(world.node, "olga", world.lung_permit, "suspend", "finding")
        assert refusal(world, "bob", "lung-ai") == (
            f"denied by policy data_access: permit {world.lung_permit} is suspended")
        permits.change_status(world.node, "olga", world.lung_permit, "reinstate", "resolved")
        clock.advance(days=400)
        assert refusal(world, "bob", "lung-ai") == (
            f"denied by policy data_access: permit {world.lung_permit} has expired")
        assert [a for a in audit_trail(world.node)[before:] if a[1].startswith("job.")] == []


def refusal(world: World, user: str, project: str) -> str:
    with pytest.raises(WorkspaceRefused) as caught:
        world.run("print('ran')", user=user, project=project)
    return str(caught.value)
