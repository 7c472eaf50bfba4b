"""Per-project disk quotas on real loop-mounted ext4 images: limits, mounting, cleanup, refusals."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from workspaces import escape_cases as cases
from workspaces.sandbox_support import Publish
from workspaces.test_service import world

from factories import audit_trail
from tre.errors import InvalidInput
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.bwrap import BwrapBackend, SandboxResult
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.errors import SandboxUnavailable, WorkspaceRefused
from tre.workspaces.kubernetes import render_project_claim
from tre.workspaces.quota import (
    DETACH_S,
    SYSTEM_PATH,
    ProjectQuotas,
    attached_loops,
    format_size,
    mounted_device,
    parse_size,
)
from tre.workspaces.service import prepare
from tre.workspaces.spec import Profile
from tre.workspaces.uids import ProjectUids

__all__ = ["world"]  # users, lung-ct@v1 and project lung-ai's permit (bob researches)

MIB = 1024**2
TRE = [sys.executable, "-m", "tre.cli.app"]


def need_loop() -> None:
    """Fail in CI, skip elsewhere, when this machine cannot loop-mount an ext4 image."""
    problems = ProjectQuotas(Path("/nonexistent")).preflight()
    if shutil.which("unshare", path=SYSTEM_PATH) is None:
        problems.append("unshare is not installed (util-linux)")
    if problems:
        if os.environ.get("CI"):
            pytest.fail("quota images cannot be mounted in CI: " + "; ".join(problems))
        pytest.skip("quota images cannot be mounted here: " + "; ".join(problems))


def mount_count(target: Path) -> int:
    return sum(line.split(" ")[4] == str(target)
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


@pytest.fixture
def quotas(ws_settings: WorkspaceSettings) -> Iterator[ProjectQuotas]:
    """16 MiB quotas under the test's root; afterwards no mount and no loop device is left."""
    need_loop()
    ws_settings.quota = 16 * MIB
    ws_settings.root.mkdir(mode=0o700)
    quotas = ws_settings.quotas()
    try:
        yield quotas
    finally:
        quotas.unmount_all()
        assert [p for p in quotas.projects() if mount_count(ws_settings.root / p)] == []
        assert [loop for p in quotas.projects()
                for loop in attached_loops(quotas.image(p), settle_s=DETACH_S)] == []


def test_sizes_are_powers_of_1024_and_bad_ones_name_the_variable(tmp_path: Path) -> None:
    assert [parse_size(s) for s in ("20G", "512m", "1T", "16MiB", "4096")] == [
        20 * 1024**3, 512 * MIB, 1024**4, 16 * MIB, 4096]
    assert [format_size(n) for n in (20 * 1024**3, 48 * MIB, 1000)] == ["20G", "48M", "1000"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env["TRE_HOME"] = str(tmp_path / "home")
    for value, message in (("lots", "not a size: 'lots'"), ("1M", "a quota below 16M")):
        result = subprocess.run([*TRE, "up", "--once"], capture_output=True, text=True,
                                env={**env, "TRE_WORKSPACES_QUOTA": value}, check=False)
        assert result.returncode == 2
        assert "bad workspace setting: TRE_WORKSPACES_QUOTA: Value error, " + message \
            in " ".join(result.stderr.split())


def test_with_no_quota_the_folders_are_plain_as_before(
        node: Node, world: str, ws_settings: WorkspaceSettings, uids: ProjectUids) -> None:
    prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
    assert mounted_device(ws_settings.root / "lung-ai") is None
    assert not (ws_settings.root / ".images").exists()


def test_the_image_is_fully_allocated_and_mounting_is_idempotent(
        quotas: ProjectQuotas) -> None:
    assert (quotas.ensure_mounted("lung-ai"), quotas.ensure_mounted("lung-ai")) == (True, False)
    image = quotas.image("lung-ai")
    info = image.stat()
    assert (info.st_size, info.st_blocks * 512 >= info.st_size, oct(info.st_mode)) == (
        16 * MIB, True, "0o100600")
    target = quotas.root / "lung-ai"
    assert mount_count(target) == 1
    options = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", str(target)],
                             capture_output=True, text=True, check=True).stdout.split()
    assert options[0] == "ext4"
    assert {"rw", "nosuid", "nodev", "errors=remount-ro"} <= set(options[1].split(","))
    assert "noexec" not in options[1]


def test_concurrent_starts_mount_once(quotas: ProjectQuotas) -> None:
    script = ("import sys; from pathlib import Path; from tre.workspaces.quota import "
              "ProjectQuotas; print(ProjectQuotas(Path(sys.argv[1]), int(sys.argv[2]))"
              ".ensure_mounted('lung-ai'))")
    starts = [subprocess.Popen([sys.executable, "-c", script, str(quotas.root),
                                str(quotas.size)], stdout=subprocess.PIPE, text=True)
              for _ in range(4)]
    said = sorted(p.communicate(timeout=60)[0].strip() for p in starts)
    assert said == ["False", "False", "False", "True"]
    assert mount_count(quotas.root / "lung-ai") == 1
    assert len(attached_loops(quotas.image("lung-ai"))) == 1


def test_unmounting_leaves_no_mount_and_no_loop_device_even_when_busy(
        quotas: ProjectQuotas) -> None:
    quotas.ensure_mounted("lung-ai")
    quotas.ensure_mounted("brain-seg")
    target = quotas.root / "brain-seg"
    with (target / "open-file").open("w"):  # busy: detached lazily, released at close
        assert quotas.unmount_all() == ["brain-seg", "lung-ai"]
        assert (mount_count(target), mount_count(quotas.root / "lung-ai")) == (0, 0)
        assert attached_loops(quotas.image("lung-ai"), settle_s=DETACH_S) == []
    assert attached_loops(quotas.image("brain-seg"), settle_s=DETACH_S) == []
    assert quotas.unmount_all() == []
    # mounted again, the files are there
    quotas.ensure_mounted("brain-seg")
    assert sorted(p.name for p in target.iterdir()) == ["lost+found", "open-file"]


def test_each_project_has_its_own_limit_in_the_sandbox(
        node: Node, settings: Settings, quotas: ProjectQuotas, ws_settings: WorkspaceSettings,
        uids: ProjectUids, backend: BwrapBackend, publish: Publish, tmp_path: Path) -> None:
    both = cases.two_projects(node, settings, ws_settings, uids, backend, publish, tmp_path)
    assert quotas.grow("brain-seg", 48 * MIB) == 48 * MIB  # unmounted, grown, mounted again
    write = cases.TRY + """
import os
st = os.statvfs('/workspace')
def write():
    with open('/workspace/big', 'wb') as f:
        for _ in range(24):
            f.write(b'x' * 1024 * 1024)
            f.flush()
print(json.dumps([st.f_blocks * st.f_frsize // 2**20, attempt(write)]))
"""
    lung = both.run(write)
    brain = both.run(write, user="carol", project="brain-seg")
    # ext4's journal and metadata take their share of each image
    assert (lung.json()[1], lung.json()[0] in range(12, 16)) == ("ENOSPC", True)
    assert (brain.json()[1], brain.json()[0] in range(40, 48)) == ("succeeded", True)
    assert (lung.result, brain.result) == (SandboxResult(0), SandboxResult(0))
    assert (quotas.root / "brain-seg" / "workspace" / "big").stat().st_size == 24 * MIB
    assert [quotas.size_of(p) for p in ("lung-ai", "brain-seg")] == [16 * MIB, 48 * MIB]


def test_growing_refuses_shrinking_and_an_image_a_sandbox_still_uses(
        quotas: ProjectQuotas) -> None:
    quotas.ensure_mounted("lung-ai")
    with pytest.raises(InvalidInput, match="lung-ai's quota is 16M: a quota only grows"):
        quotas.grow("lung-ai", 8 * MIB)
    # a sandbox keeps its own copy of the mount (a private mount namespace)
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "60"])
    try:
        for _ in range(100):
            if Path(f"/proc/{holder.pid}/ns/mnt").resolve() != \
                    Path("/proc/self/ns/mnt").resolve():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        with pytest.raises(InvalidInput, match="lung-ai's image is in use by a running server "
                           "or job"):
            quotas.grow("lung-ai", 32 * MIB)
        assert (mount_count(quotas.root / "lung-ai"), quotas.size_of("lung-ai")) == (1, 16 * MIB)
    finally:
        holder.kill()
        holder.wait()
    assert quotas.grow("lung-ai", 32 * MIB) == 32 * MIB
    assert shutil.disk_usage(quotas.root / "lung-ai").total > 28 * MIB
    assert quotas.grow("lung-ai", 32 * MIB) == 32 * MIB  # again: nothing left to do


def test_without_loop_devices_the_start_is_refused_naming_the_fix(quotas: ProjectQuotas) -> None:
    # a mount namespace whose /dev has no loop devices: what a container without them sees
    script = ("import sys; from pathlib import Path; from tre.workspaces.quota import "
              "ProjectQuotas; ProjectQuotas(Path(sys.argv[1]), int(sys.argv[2]))"
              ".ensure_mounted('lung-ai')")
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs tre-no-loops /dev && mknod -m 666 /dev/null c 1 3 && exec "$@"', "-",
         sys.executable, "-c", script, str(quotas.root), str(quotas.size)],
        capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert (f"SandboxUnavailable: cannot mount project lung-ai's disk quota image "
            f"{quotas.image('lung-ai')} at {quotas.root / 'lung-ai'}: ") in result.stderr
    assert "loop devices (`modprobe loop`" in result.stderr
    assert mount_count(quotas.root / "lung-ai") == 0


def test_tre_up_refuses_a_quota_this_node_cannot_keep_before_it_starts_anything(
        quotas: ProjectQuotas, tmp_path: Path) -> None:
    """No loop devices (as in a container without them): `tre up` says so and what to do, at
    once, and writes nothing; the same node without the setting starts."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update(TRE_HOME=str(home), TRE_WORKSPACES_ROOT=str(quotas.root),
               TRE_WORKSPACES_QUOTA="16M")
    no_loops = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs tre-no-loops /dev && mknod -m 666 /dev/null c 1 3 && exec "$@"',
                "-"]
    result = subprocess.run([*no_loops, *TRE, "up", "--once"], capture_output=True, text=True,
                            env=env, check=False, timeout=120)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert ("TRE_WORKSPACES_QUOTA=16M is set, but this node cannot keep it: no loop devices "
            "(/dev/loop-control is missing): `modprobe loop`") in message
    assert "(or unset TRE_WORKSPACES_QUOTA)" in message
    assert not home.exists()  # refused before anything was initialised
    del env["TRE_WORKSPACES_QUOTA"]
    started = subprocess.run([*no_loops, *TRE, "up", "--once"], capture_output=True, text=True,
                             env=env, check=False, timeout=120)
    assert started.returncode == 0, started.stderr
    assert "workspaces have no disk quota" in started.stdout


def test_preflight_names_each_missing_piece(tmp_path: Path) -> None:
    quotas = ProjectQuotas(tmp_path, 16 * MIB)
    not_a_device = tmp_path / "loop-control"
    not_a_device.write_text("")
    for missing in (tmp_path / "nope", not_a_device):
        problems = quotas.preflight(loop_control=missing)
        assert f"no loop devices ({missing} is missing): `modprobe loop`; inside a container, " \
               "pass /dev/loop-control and /dev/loop*" in problems
    if os.geteuid() == 0 and Path("/dev/loop-control").exists():
        assert quotas.preflight() == []


def test_a_quota_that_cannot_be_set_up_is_an_audited_refusal(
        node: Node, world: str, quotas: ProjectQuotas, ws_settings: WorkspaceSettings,
        uids: ProjectUids) -> None:
    image = quotas.image("lung-ai")
    quotas.images.mkdir(mode=0o700)
    image.write_bytes(b"not ext4" * (2 * MIB))  # a damaged image
    before = len(audit_trail(node))
    with pytest.raises(SandboxUnavailable, match=r"cannot mount project lung-ai's disk quota "
                       r"image .*a damaged image: `e2fsck -f "):
        prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
    assert audit_trail(node)[before:] == [("bob", "data.access", "lung-ct@v1", "allowed"),
                                          ("bob", "workspace.prepare", "lung-ai", "denied")]
    assert mount_count(ws_settings.root / "lung-ai") == 0


def test_files_written_before_the_quota_are_never_hidden(
        node: Node, world: str, ws_settings: WorkspaceSettings, uids: ProjectUids) -> None:
    need_loop()
    prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
    notes = ws_settings.root / "lung-ai" / "workspace" / "notes.txt"
    notes.write_text("before the quota\n")
    ws_settings.quota = 16 * MIB
    with pytest.raises(WorkspaceRefused, match="holds files outside project lung-ai's quota "
                       "image, which mounted over them would hide them"):
        prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
    assert (notes.read_text(), audit_trail(node)[-1][1:]) == (
        "before the quota\n", ("workspace.prepare", "lung-ai", "denied"))
    assert not ws_settings.quotas().image("lung-ai").exists()


def test_the_documented_migration_moves_older_files_into_the_image(
        node: Node, settings: Settings, world: str, ws_settings: WorkspaceSettings,
        uids: ProjectUids) -> None:
    need_loop()
    prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
    root = ws_settings.root
    (root / "lung-ai" / "workspace" / "notes.txt").write_text("before the quota\n")
    # docs/operations.md, "Workspace disk quotas": move aside, mount the new image, copy back
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update(TRE_HOME=str(settings.home), TRE_WORKSPACES_ROOT=str(root),
               TRE_WORKSPACES_QUOTA="16M")
    (root / "lung-ai").rename(root / "lung-ai.before-quota")
    subprocess.run([*TRE, "workspaces", "mount", "lung-ai"], env=env, check=True,
                   capture_output=True, timeout=120)
    subprocess.run(["cp", "-a", f"{root}/lung-ai.before-quota/.", f"{root}/lung-ai/"],
                   check=True)
    shutil.rmtree(root / "lung-ai.before-quota")
    ws_settings.quota = 16 * MIB
    try:
        prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
        notes = root / "lung-ai" / "workspace" / "notes.txt"
        assert (mount_count(root / "lung-ai"), notes.read_text()) == (1, "before the quota\n")
        assert (notes.parent.stat().st_uid, notes.parent.stat().st_mode & 0o777) == (
            200000, 0o770)
    finally:
        ws_settings.quotas().unmount_all()


def test_an_image_is_mounted_even_once_the_setting_is_gone(
        node: Node, world: str, quotas: ProjectQuotas, ws_settings: WorkspaceSettings,
        uids: ProjectUids) -> None:
    prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
    quotas.unmount_all()
    ws_settings.quota = None
    prepare(node, "bob", "lung-ai", Profile(), settings=ws_settings, uids=uids)
    assert mount_count(ws_settings.root / "lung-ai") == 1
    assert (ws_settings.root / "lung-ai" / "workspace").is_dir()


def test_tre_up_leaves_no_quota_mount_behind(quotas: ProjectQuotas, tmp_path: Path) -> None:
    quotas.ensure_mounted("lung-ai")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update(TRE_HOME=str(tmp_path / "home"), TRE_WORKSPACES_ROOT=str(quotas.root),
               TRE_WORKSPACES_QUOTA="16M")
    result = subprocess.run([*TRE, "up", "--once"], capture_output=True, text=True, env=env,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "unmounted the workspace quota image of lung-ai" in result.stdout
    assert mount_count(quotas.root / "lung-ai") == 0


def test_the_kubernetes_claim_has_the_quota_as_its_size() -> None:
    assert render_project_claim("lung-ai", 20 * 1024**3, storage_class="cephfs") == {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "tre-project-lung-ai",
                     "labels": {"tre.project": "lung-ai", "tre.workspace": "true"}},
        "spec": {"accessModes": ["ReadWriteMany"],
                 "resources": {"requests": {"storage": str(20 * 1024**3)}},
                 "storageClassName": "cephfs"}}


def test_the_operator_lists_grows_and_unmounts_quotas_audited(
        node: Node, settings: Settings, quotas: ProjectQuotas) -> None:
    quotas.ensure_mounted("lung-ai")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update(TRE_HOME=str(settings.home), TRE_WORKSPACES_ROOT=str(quotas.root))

    def tre(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*TRE, "workspaces", *args], capture_output=True, text=True,
                              env=env, check=False, timeout=120)

    grown = tre("grow", "lung-ai", "32M")
    assert (grown.returncode, grown.stdout) == (0, "project lung-ai's quota: 16M -> 32M\n"), \
        grown.stderr
    shrunk = tre("grow", "lung-ai", "16M")
    assert (shrunk.returncode, " ".join(shrunk.stderr.split())) == (
        2, "error: project lung-ai's quota is 32M: a quota only grows, give a larger size")
    listed = json.loads(tre("quotas", "--json").stdout)
    assert [(r["project"], r["quota_bytes"], r["mounted"], r["used_bytes"] > 0)
            for r in listed] == [("lung-ai", 32 * MIB, True, True)]
    assert tre("unmount").stdout == "unmounted the workspace quota image of lung-ai\n"
    assert mount_count(quotas.root / "lung-ai") == 0
    target = quotas.root / "lung-ai"
    assert [" ".join(tre("mount", "lung-ai").stdout.split()) for _ in range(2)] == [
        f"mounted the workspace quota image of lung-ai at {target}",
        f"already mounted: the workspace quota image of lung-ai at {target}"]
    assert mount_count(target) == 1
    host = f"host:{getpass.getuser()}"
    assert audit_trail(node)[-2:] == [(host, "workspace.quota.grow", "lung-ai", "allowed"),
                                      (host, "workspace.quota.grow", "lung-ai", "denied")]
