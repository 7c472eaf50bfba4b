"""Escape attempts against the real bubblewrap sandbox: each must fail and the host stay intact.

Network attempts only ever target this machine: its own non-loopback address and loopback,
with listeners the test starts. DNS lookups are made inside the sandbox only.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from workspaces.sandbox_support import Publish

from factories import Clock, audit_trail, form, issue_permit, seed_users
from tre.services import applications, permits
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.bwrap import BwrapBackend, SandboxResult
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.jobs import run_job
from tre.workspaces.spec import Profile
from tre.workspaces.uids import ProjectUids

MIB = 1024 * 1024


@dataclass(frozen=True)
class Ran:
    """What a sandboxed command did."""

    result: SandboxResult
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class World:
    """Two projects: lung-ai (bob, lung-ct) and brain-seg (carol, brain-mr)."""

    node: Node
    settings: Settings
    ws: WorkspaceSettings
    uids: ProjectUids
    backend: BwrapBackend
    tmp: Path
    lung_permit: str
    brain_permit: str

    def run(self, script: str, *, user: str = "bob", project: str = "lung-ai",
            profile: Profile | None = None, poll_s: float = 10.0) -> Ran:
        """Run a Python script in the user's sandbox through the `tre run` code path."""
        out, err = self.tmp / "out.txt", self.tmp / "err.txt"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            result = run_job(self.node, user, project, ["python3", "-c", script],
                             backend=self.backend, settings=self.ws, uids=self.uids,
                             profile=profile, stdout=stdout, stderr=stderr, poll_s=poll_s)
        return Ran(result, out.read_text(), err.read_text())

    def host_path(self, *parts: str) -> Path:
        return self.ws.root.joinpath(*parts)


@pytest.fixture
def world(node: Node, settings: Settings, ws_settings: WorkspaceSettings, uids: ProjectUids,
          backend: BwrapBackend, publish: Publish, tmp_path: Path) -> World:
    seed_users(node)
    publish("lung-ct", "v1")
    publish("brain-mr", "v2", {"secret-brain.txt": "other project's data\n"})
    lung = issue_permit(node)
    app = applications.apply(node, "rita", form("brain-seg", members=("carol",),
                                                 datasets=("brain-mr",)))
    brain = applications.approve(node, "olga", app.id, applications.Approval("ok"))
    (settings.home / "pseudonym.key").write_bytes(b"k" * 32)
    (settings.home / "pseudonym.key").chmod(0o600)
    w = World(node, settings, ws_settings, uids, backend, tmp_path, lung.id, brain.id)
    assert w.run("print('ok')").result == SandboxResult(0)  # carol's side exists too:
    assert w.run("print('ok')", user="carol", project="brain-seg").result == SandboxResult(0)
    (w.host_path("brain-seg", "workspace", "notes.txt")).write_text("carol's notes\n")
    return w


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


TRY = """
import json, os, errno
def attempt(fn):
    try:
        fn()
        return "succeeded"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
"""


def test_identity_is_the_project_uid_with_no_capabilities(world: World) -> None:
    ran = world.run("""
import json, os
status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines()
              if ':\\t' in line)
print(json.dumps({"ids": [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()],
                  "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd",
                                                       "CapAmb")],
                  "no_new_privs": status["NoNewPrivs"].strip(),
                  "root": sorted(os.listdir('/')), "data": sorted(os.listdir('/data')),
                  "cwd": os.getcwd(), "env": sorted(os.environ)}))
""")
    assert ran.result == SandboxResult(0)
    assert ran.json() == {
        "ids": [200000, 200000, 200000, []],
        "caps": ["0000000000000000"] * 5,
        "no_new_privs": "1",
        "root": sorted(["bin", "data", "dev", "etc", "lib", "lib64", "outputs", "proc", "sbin",
                        "tmp", "usr", "workspace",
                        # a configured runtime is bound read-only at /opt/tre/runtime
                        *(["opt"] if world.ws.runtime is not None else [])]),
        "data": ["lung-ct"],
        "cwd": "/workspace",
        "env": ["HOME", "LANG", "PATH", "PWD", "TRE_DATA", "TRE_OUTPUTS",
                "TRE_PERMIT", "TRE_PROJECT", "TRE_USER", "USER"],
    }


def test_data_cannot_be_written_deleted_or_renamed(world: World, settings: Settings) -> None:
    dataset = settings.home / "datasets" / "lung-ct" / "v1"
    before = tree_digest(dataset)
    ran = world.run(TRY + """
d = '/data/lung-ct'
print(json.dumps({
    "create": attempt(lambda: open(d + '/new.txt', 'w')),
    "append": attempt(lambda: open(d + '/scan-001.txt', 'a')),
    "delete": attempt(lambda: os.unlink(d + '/scan-001.txt')),
    "rename": attempt(lambda: os.rename(d + '/scan-001.txt', d + '/moved.txt')),
    "move_out": attempt(lambda: os.rename(d + '/scan-001.txt', '/workspace/moved.txt')),
    "chmod": attempt(lambda: os.chmod(d + '/scan-001.txt', 0o666)),
    "mkdir": attempt(lambda: os.mkdir(d + '/sub')),
    "rmdir_mount": attempt(lambda: os.rmdir(d)),
    "remount": attempt(lambda: os.rename('/data', '/workspace/data')),
}))
""")
    # 0444 files fail the permission check before the read-only mount is even consulted
    assert ran.json() == {"create": "EROFS", "append": "EACCES", "delete": "EROFS",
                          "rename": "EROFS", "move_out": "EXDEV", "chmod": "EROFS",
                          "mkdir": "EROFS", "rmdir_mount": "EROFS", "remount": "EXDEV"}
    assert tree_digest(dataset) == before


def test_links_from_the_workspace_do_not_make_data_writable(
        world: World, settings: Settings) -> None:
    dataset = settings.home / "datasets" / "lung-ct" / "v1"
    before = tree_digest(dataset)
    ran = world.run(TRY + """
os.symlink('/data/lung-ct/scan-001.txt', '/workspace/link')
os.symlink('/data/lung-ct', '/workspace/dirlink')
print(json.dumps({
    "hard_link": attempt(lambda: os.link('/data/lung-ct/scan-001.txt', '/workspace/hard')),
    "write_via_symlink": attempt(lambda: open('/workspace/link', 'w').write('x')),
    "unlink_via_dir_symlink": attempt(lambda: os.unlink('/workspace/dirlink/scan-001.txt')),
    "create_via_dir_symlink": attempt(lambda: open('/workspace/dirlink/new', 'w')),
    "read_via_symlink": open('/workspace/link').read(),
}))
""")
    assert ran.json() == {"hard_link": "EXDEV", "write_via_symlink": "EROFS",
                          "unlink_via_dir_symlink": "EROFS", "create_via_dir_symlink": "EROFS",
                          "read_via_symlink": "lung-ct v1 pixels\n"}
    assert tree_digest(dataset) == before


def test_nothing_of_the_host_or_other_projects_is_visible(
        world: World, settings: Settings) -> None:
    secrets = {
        "other_workspace": world.host_path("brain-seg", "workspace", "notes.txt"),
        "other_dataset": settings.home / "datasets" / "brain-mr" / "v2" / "secret-brain.txt",
        "database": settings.home / "tre.db",
        "audit_keys": settings.keys_dir,
        "pseudonym_key": settings.home / "pseudonym.key",
        "uid_registry": world.ws.uid_registry(settings.home),
        "shadow": Path("/etc/shadow"),
        "gshadow": Path("/etc/gshadow"),
        "ssh": Path("/etc/ssh"),
        "root_home": Path("/root"),
        "host_workspace_root": world.ws.root,
    }
    assert all(p.exists() for p in secrets.values())  # on the host they are there
    paths = {k: str(p) for k, p in secrets.items()}
    ran = world.run(TRY + f"""
paths = {paths!r}
print(json.dumps({{k: attempt(lambda p=p: open(p, 'rb').read() if os.path.isfile(p)
                              else os.listdir(p)) for k, p in paths.items()}}))
""")
    assert ran.json() == dict.fromkeys(secrets, "ENOENT")


def own_address() -> str:
    """This machine's own non-loopback IPv4 address (the only outside target we may use)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=False).stdout.split()
    if "inet" not in out:
        pytest.skip("this machine has no non-loopback IPv4 address to listen on")
    return out[out.index("inet") + 1].split("/")[0]


@pytest.fixture
def listeners() -> Iterator[dict[str, Any]]:
    """TCP listeners on this machine's own address and on loopback, and a UDP socket."""
    address = own_address()
    tcp_out = socket.create_server((address, 0))
    tcp_lo = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 0))
    for s in (tcp_out, tcp_lo, udp):
        s.setblocking(False)
    yield {"address": address, "tcp_out": tcp_out, "tcp_lo": tcp_lo, "udp": udp}
    for s in (tcp_out, tcp_lo, udp):
        s.close()


def nothing_arrived(listeners: dict[str, Any]) -> bool:
    for name in ("tcp_out", "tcp_lo"):
        try:
            listeners[name].accept()
        except BlockingIOError:
            continue
        return False
    try:
        listeners["udp"].recvfrom(100)
    except BlockingIOError:
        return True
    return False


def test_no_network_out_no_loopback_services_no_dns(
        world: World, listeners: dict[str, Any]) -> None:
    address = listeners["address"]
    tcp_port = listeners["tcp_out"].getsockname()[1]
    lo_port = listeners["tcp_lo"].getsockname()[1]
    udp_port = listeners["udp"].getsockname()[1]
    # A host that can reach its own listener proves the test would see a leak.
    with socket.create_connection((address, tcp_port), timeout=5):
        pass
    conn, _ = listeners["tcp_out"].accept()
    conn.close()
    ran = world.run(TRY + f"""
import socket
def tcp(host, port):
    with socket.create_connection((host, port), timeout=3):
        pass
def udp(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b'leak', (host, port))
def dns(name):
    try:
        socket.getaddrinfo(name, 443)
        return "resolved"
    except socket.gaierror:
        return "failed"
print(json.dumps({{
    "tcp_own_address": attempt(lambda: tcp({address!r}, {tcp_port})),
    "udp_own_address": attempt(lambda: udp({address!r}, {udp_port})),
    "tcp_host_loopback": attempt(lambda: tcp('127.0.0.1', {lo_port})),
    "dns": dns('pypi.org'),
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
}}))
""")
    assert ran.json() == {"tcp_own_address": "ENETUNREACH", "udp_own_address": "ENETUNREACH",
                          "tcp_host_loopback": "ECONNREFUSED", "dns": "failed",
                          "interfaces": ["lo"]}
    assert nothing_arrived(listeners)


@pytest.fixture
def host_process() -> Iterator[int]:
    """A host process the sandbox will try to see and trace."""
    process = subprocess.Popen(["sleep", "120"])
    yield process.pid
    process.kill()
    process.wait()


def test_host_processes_are_invisible_and_untraceable(world: World, host_process: int) -> None:
    ran = world.run(TRY + f"""
import ctypes, signal
libc = ctypes.CDLL(None, use_errno=True)
def ptrace():
    if libc.ptrace(16, {host_process}, None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), 'ptrace')
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
print(json.dumps({{
    "processes": sorted(open(f'/proc/{{p}}/comm').read().strip() for p in pids),
    "ptrace_host": attempt(ptrace),
    "signal_host": attempt(lambda: os.kill({host_process}, signal.SIGKILL)),
    "host_proc_entry": os.path.exists('/proc/{host_process}/cmdline'),
}}))
""")
    assert ran.json() == {"processes": ["bwrap", "python3"], "ptrace_host": "ESRCH",
                          "signal_host": "ESRCH",
                          "host_proc_entry": False}
    assert Path(f"/proc/{host_process}").exists()  # still running


def test_disk_filling_stops_at_the_tmp_limit_and_the_root_is_read_only(world: World) -> None:
    ran = world.run(TRY + """
def fill():
    with open('/tmp/fill', 'wb') as f:
        for _ in range(64):
            f.write(b'x' * 1024 * 1024)
            f.flush()
print(json.dumps({"tmp": attempt(fill), "root": attempt(lambda: open('/fill', 'w')),
                  "etc": attempt(lambda: open('/etc/passwd', 'a')),
                  "usr": attempt(lambda: open('/usr/bin/evil', 'w'))}))
""", profile=Profile(tmp_bytes=8 * MIB))
    assert ran.json() == {"tmp": "ENOSPC", "root": "EROFS", "etc": "EACCES", "usr": "EROFS"}


@pytest.mark.slow
def test_a_fork_bomb_hits_the_pids_limit(world: World) -> None:
    ran = world.run("""
import json, os, time
started, children, refused = time.monotonic(), 0, 0
while time.monotonic() - started < 10 and not refused:
    try:
        pid = os.fork()
    except BlockingIOError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    children += 1
print(json.dumps({"refused": refused > 0, "under_limit": children < 64}))
""", profile=Profile(pids=64))
    assert (ran.result, ran.json()) == (SandboxResult(0), {"refused": True,
                                                           "under_limit": True})


@pytest.mark.slow
def test_a_memory_bomb_kills_only_the_sandbox(world: World) -> None:
    ran = world.run("""
chunks = []
for _ in range(1024):
    chunks.append(bytearray(1024 * 1024))
print('survived')
""", profile=Profile(memory_bytes=64 * MIB, tmp_bytes=8 * MIB))
    assert (ran.result, ran.out) == (SandboxResult(exit_code=137, oom_killed=True), "")
    assert world.run("print('host fine')").out == "host fine\n"


def refusal(world: World, user: str, project: str) -> str:
    with pytest.raises(WorkspaceRefused) as caught:
        world.run("print('ran')", user=user, project=project)
    return str(caught.value)


def test_no_job_starts_without_a_permit_in_force(world: World, clock: Clock) -> None:
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


def test_a_running_job_stops_when_the_permit_expires(world: World, clock: Clock) -> None:
    started = world.host_path("lung-ai", "workspace", "started")
    expire: Callable[[], None] = lambda: clock.advance(days=400)  # noqa: E731

    def expire_once_started() -> None:
        for _ in range(1000):
            if started.exists():
                expire()
                return
            threading.Event().wait(0.05)

    thread = threading.Thread(target=expire_once_started)
    thread.start()
    ran = world.run("import time; open('/workspace/started', 'w').close(); time.sleep(60)",
                    poll_s=0.1)
    thread.join()
    assert ran.result == SandboxResult(
        exit_code=137, stopped=f"permit {world.lung_permit} is expired")
    assert audit_trail(world.node)[-1][1:] == ("job.finish", audit_trail(world.node)[-1][2],
                                               "stopped")
