"""The bwrap backend only renders the spec: the whole command line for one spec."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tre.workspaces.bwrap import HostLayout, Tools, render_bwrap, render_launcher
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.spec import GIB, Limits, Mount, NetworkMode, WorkspaceSpec

TOOLS = Tools(bwrap="/usr/bin/bwrap", unshare="/usr/bin/unshare", setpriv="/usr/bin/setpriv")
HOST = HostLayout(root_links=(("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", None)),
                  etc_entries=("ld.so.cache", "localtime"))
STAGE = Path("/run/tre-sandbox")
SPEC = WorkspaceSpec(
    name="lung-ai-bob", project="lung-ai", user="bob", uid=200000, gid=200000,
    mounts=(Mount(Path("/srv/ds/lung-ct/v1"), "/data/lung-ct", True),
            Mount(Path("/srv/ws/lung-ai/workspace"), "/workspace", False)),
    limits=Limits(cpus=2, memory_bytes=4 * GIB, pids=256, gpus=0, tmp_bytes=GIB),
    env=(("HOME", "/workspace"), ("PATH", "/usr/bin:/bin")), workdir="/workspace",
    network=NetworkMode.NONE)
FDS = {"/etc/passwd": 5, "/etc/group": 6, "/etc/hosts": 7}


def test_bwrap_command_line() -> None:
    assert render_bwrap(SPEC, ["python3", "train.py"], HOST, tools=TOOLS, stage=STAGE,
                        data_fds=FDS, seccomp_fd=8) == [
        "/usr/bin/bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
        "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--seccomp", "8",
        "--uid", "200000", "--gid", "200000", "--hostname", "workspace",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
        "--ro-bind", "/lib64", "/lib64",
        "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache",
        "--ro-bind", "/etc/localtime", "/etc/localtime",
        "--perms", "0444", "--ro-bind-data", "5", "/etc/passwd",
        "--perms", "0444", "--ro-bind-data", "6", "/etc/group",
        "--perms", "0444", "--ro-bind-data", "7", "/etc/hosts",
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(GIB), "--perms", "1777", "--tmpfs", "/tmp",
        "--ro-bind", "/run/tre-sandbox/m0", "/data/lung-ct",
        "--bind", "/run/tre-sandbox/m1", "/workspace",
        "--remount-ro", "/", "--chdir", "/workspace", "--clearenv",
        "--setenv", "HOME", "/workspace", "--setenv", "PATH", "/usr/bin:/bin",
        "--", "python3", "train.py"]


def test_launcher_stages_mounts_as_root_then_drops_to_the_project_uid() -> None:
    argv = render_launcher(SPEC, ["BWRAP"], tools=TOOLS, stage=STAGE)
    assert argv[:7] == ["/usr/bin/unshare", "--mount", "--propagation", "private", "--",
                        "/bin/sh", "-c"]
    assert argv[8:] == [
        "tre-stage", "/run/tre-sandbox", "/srv/ds/lung-ct/v1", "m0",
        "/srv/ws/lung-ai/workspace", "m1", "--",
        "/usr/bin/setpriv", "--reuid=200000", "--regid=200000", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", "BWRAP"]


def test_gpus_are_refused_by_this_backend() -> None:
    spec = replace(SPEC, limits=Limits(2, GIB, 256, 1, GIB))
    with pytest.raises(SandboxUnavailable, match="asks for 1 GPU"):
        render_bwrap(spec, ["true"], HOST, tools=TOOLS, stage=STAGE, data_fds=FDS,
                     seccomp_fd=8)


def test_host_node_is_covered_by_dev_null(tmp_path: Path) -> None:
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "node").write_bytes(b"\x7fELF")
    (tmp_path / "usr" / "local" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "local" / "bin" / "node").symlink_to("../../bin/node")
    host = HostLayout.detect(root=tmp_path)
    assert host.hidden == ("/usr/bin/node",)  # a link to it is hidden with its target
    argv = render_bwrap(SPEC, ["true"], host, tools=TOOLS, stage=STAGE, data_fds=FDS,
                        seccomp_fd=8)
    usr = argv.index("/usr") + 1  # --ro-bind /usr /usr, then the covers
    assert argv[usr + 1:usr + 4] == ["--ro-bind", "/dev/null", "/usr/bin/node"]


def test_a_status_fd_asks_bwrap_to_report_the_commands_exit() -> None:
    plain = render_bwrap(SPEC, ["true"], HOST, tools=TOOLS, stage=STAGE, data_fds=FDS,
                         seccomp_fd=8)
    reported = render_bwrap(SPEC, ["true"], HOST, tools=TOOLS, stage=STAGE, data_fds=FDS,
                            seccomp_fd=8, status_fd=9)
    at = plain.index("--uid")
    assert reported == [*plain[:at], "--json-status-fd", "9", *plain[at:]]
