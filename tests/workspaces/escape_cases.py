"""Escape attempts written once, run against every sandbox backend: two projects and the attacks.

Each attack runs a Python script in bob's lung-ai workspace through the `tre run` code path
(``run_job``) and returns what the script saw. ``EscapeCases`` holds the tests whose outcome is
the same on every backend; a backend's test file subclasses it (``TestEscape<Backend>``), gives
the ``world`` fixture and asserts the backend's own outcomes of the other attacks.
Network attempts only ever target this machine: its own non-loopback address and loopback,
with listeners the test starts. DNS lookups are made inside the sandbox only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyseccomp  # type: ignore[import-untyped]
import pytest
from workspaces.sandbox_support import Publish
from workspaces.test_docker_live import own_address

from factories import Clock, audit_trail, form, issue_permit, seed_users
from tre.services import applications
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.bwrap import SandboxResult
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.jobs import Backend, run_job
from tre.workspaces.quota import DETACH_S, attached_loops
from tre.workspaces.service import prepare
from tre.workspaces.spec import NetworkMode, Profile
from tre.workspaces.uids import ProjectUids

MIB = 1024 * 1024


@dataclass(frozen=True)
class Ran:
    """What a sandboxed command did."""

    result: SandboxResult
    out: str
    err: str

    def json(self) -> Any:
        assert self.out, f"the script printed nothing ({self.result}): {self.err}"
        return json.loads(self.out)


@dataclass
class World:
    """Two projects: lung-ai (bob, lung-ct) and brain-seg (carol, brain-mr)."""

    node: Node
    settings: Settings
    ws: WorkspaceSettings
    uids: ProjectUids
    backend: Backend
    tmp: Path
    lung_permit: str
    brain_permit: str
    network: NetworkMode = NetworkMode.NONE
    """The network every run gets (hub-only: as a notebook server has it)."""
    cpus: float | None = None
    """The CPUs every run asks for (dockerd refuses more than this machine has)."""

    def run(self, script: str, *, user: str = "bob", project: str = "lung-ai",
            profile: Profile | None = None, poll_s: float = 10.0) -> Ran:
        """Run a Python script in the user's sandbox through the `tre run` code path."""
        out, err = self.tmp / "out.txt", self.tmp / "err.txt"
        chosen = dataclasses.replace(profile or Profile(name="batch"), network=self.network,
                                     cpus=self.cpus)
        with out.open("wb") as stdout, err.open("wb") as stderr:
            result = run_job(self.node, user, project, ["python3", "-c", script],
                             backend=self.backend, settings=self.ws, uids=self.uids,
                             profile=chosen, stdout=stdout, stderr=stderr, poll_s=poll_s)
        return Ran(result, out.read_text(), err.read_text())

    def env_names(self) -> set[str]:
        """The variables bob's lung-ai spec sets (what every run's environment starts from)."""
        spec = prepare(self.node, "bob", "lung-ai", Profile(network=self.network, cpus=self.cpus),
                       settings=self.ws, uids=self.uids)
        return set(spec.env_dict())

    def host_path(self, *parts: str) -> Path:
        return self.ws.root.joinpath(*parts)


def two_projects(node: Node, settings: Settings, ws: WorkspaceSettings, uids: ProjectUids,
                 backend: Backend, publish: Publish, tmp: Path,
                 network: NetworkMode = NetworkMode.NONE, cpus: float | None = None) -> World:
    """Both projects' data published, both permits issued, both workspaces made, and the
    hub's secrets (database, cookie secret, pseudonym key) in place on the host."""
    seed_users(node)
    publish("lung-ct", "v1")
    publish("brain-mr", "v2", {"secret-brain.txt": "other project's data\n"})
    lung = issue_permit(node)
    app = applications.apply(node, "rita", form("brain-seg", members=("carol",),
                                                 datasets=("brain-mr",)))
    brain = applications.approve(node, "olga", app.id, applications.Approval("ok"))
    hub = settings.home / "hub"
    hub.mkdir(mode=0o700)
    for secret in (settings.home / "pseudonym.key", hub / "cookie_secret",
                   hub / "jupyterhub.sqlite"):
        secret.write_bytes(b"k" * 32)
        secret.chmod(0o600)
    w = World(node, settings, ws, uids, backend, tmp, lung.id, brain.id, network, cpus)
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
        if exc.errno is None and isinstance(exc, TimeoutError):
            return "ETIMEDOUT"  # a socket's own timeout: nothing answered
        return errno.errorcode.get(exc.errno, str(exc.errno))
"""

IDENTITY = """
import json, os
status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines()
              if ':\\t' in line)
print(json.dumps({"ids": [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()],
                  "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd",
                                                       "CapAmb")],
                  "no_new_privs": status["NoNewPrivs"].strip(),
                  "seccomp": status["Seccomp"].strip(),
                  "root": sorted(os.listdir('/')), "data": sorted(os.listdir('/data')),
                  "cwd": os.getcwd(), "env": sorted(os.environ)}))
"""


def identity(world: World) -> Any:
    """Who the sandbox runs as: ids, capabilities, no_new_privs, seccomp, what it sees."""
    ran = world.run(IDENTITY)
    assert ran.result == SandboxResult(0), ran.err
    return ran.json()


def _dataset_unchanged(world: World, script: str) -> Any:
    dataset = world.settings.home / "datasets" / "lung-ct" / "v1"
    before = tree_digest(dataset)
    ran = world.run(TRY + script)
    assert tree_digest(dataset) == before
    return ran.json()


def write_data(world: World) -> Any:
    """Create, append, delete, rename, chmod, mkdir in /data; the dataset stays as it was."""
    return _dataset_unchanged(world, """
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


def write_data_through_links(world: World) -> Any:
    """Symlinks and hard links from /workspace into /data; the dataset stays as it was."""
    return _dataset_unchanged(world, """
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


def host_secrets(world: World) -> dict[str, Path]:
    """What lies on the host and must stay out of reach: other projects, the hub's state."""
    home = world.settings.home
    secrets = {
        "other_workspace": world.host_path("brain-seg", "workspace", "notes.txt"),
        "other_dataset": home / "datasets" / "brain-mr" / "v2" / "secret-brain.txt",
        "database": home / "tre.db",
        "hub_database": home / "hub" / "jupyterhub.sqlite",
        "cookie_secret": home / "hub" / "cookie_secret",
        "hub_config": Path(__file__).parents[2] / "jupyterhub_config.py",
        "policies": world.settings.policies_dir,
        "audit_keys": world.settings.keys_dir,
        "pseudonym_key": home / "pseudonym.key",
        "uid_registry": world.ws.uid_registry(home),
        "host_workspace_root": world.ws.root,
    }
    assert all(p.exists() for p in secrets.values())  # on the host they are there
    return secrets


def read_paths(world: World, paths: dict[str, Path]) -> Any:
    """Try to read each file (or list each folder) from inside the sandbox."""
    as_text = {k: str(p) for k, p in paths.items()}
    return world.run(TRY + f"""
paths = {as_text!r}
print(json.dumps({{k: attempt(lambda p=p: open(p, 'rb').read() if os.path.isfile(p)
                              else os.listdir(p)) for k, p in paths.items()}}))
""").json()


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


NETWORK = """
import socket, struct, time
def tcp(host, port):
    with socket.create_connection((host, port), timeout=5):
        pass
def udp(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, port))
        for _ in range(3):  # a rejection comes back as an ICMP error on a later send
            s.send(b'leak')
            time.sleep(0.3)
def dns(name):
    try:
        socket.getaddrinfo(name, 443)
        return "resolved"
    except socket.gaierror:
        return "failed"
def dns_query(server, name):
    query = struct.pack('>HHHHHH', 0x7265, 0x0100, 1, 0, 0, 0) + b''.join(
        bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\\0' + struct.pack('>HH', 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        try:
            s.sendto(query, (server, 53))
            answer = s.recv(512)
        except socket.timeout:
            return "no answer"
        except OSError as exc:
            return errno.errorcode.get(exc.errno, str(exc.errno))
    return "answered" if struct.unpack('>H', answer[6:8])[0] else "no records"
servers = [line.split()[1] for line in
           (open('/etc/resolv.conf') if os.path.exists('/etc/resolv.conf') else ())
           if line.startswith('nameserver')]
"""


def reach_out(world: World, listeners: dict[str, Any], targets: dict[str, tuple[str, int]]
              ) -> Any:
    """TCP and UDP to this machine's own address, TCP to ``targets`` (name: host, port), DNS
    through the resolver the sandbox is configured with; nothing may reach the listeners."""
    address = listeners["address"]
    ran = world.run(TRY + NETWORK + f"""
print(json.dumps({{
    "tcp_own_address": attempt(lambda: tcp({address!r}, {listeners['tcp_out'].getsockname()[1]})),
    "udp_own_address": attempt(lambda: udp({address!r}, {listeners['udp'].getsockname()[1]})),
    "tcp_host_loopback": attempt(lambda: tcp('127.0.0.1', {listeners['tcp_lo'].getsockname()[1]})),
    **{{name: attempt(lambda t=t: tcp(*t)) for name, t in {targets!r}.items()}},
    "dns": dns('pypi.org'),
    "dns_configured_resolvers": {{s: dns_query(s, 'pypi.org') for s in servers}},
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
}}))
""")
    assert nothing_arrived(listeners), "a packet from the sandbox reached a host listener"
    return ran.json()


def host_processes(world: World, host_process: int) -> Any:
    """List processes, ptrace and signal a host process; it must still run afterwards."""
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
    assert Path(f"/proc/{host_process}").exists()  # still running
    return ran.json()


def fill_disk(world: World) -> Any:
    """Fill /tmp (8 MiB) with 64 MiB; write to the root, /etc, /usr."""
    return world.run(TRY + """
def fill():
    with open('/tmp/fill', 'wb') as f:
        for _ in range(64):
            f.write(b'x' * 1024 * 1024)
            f.flush()
print(json.dumps({"tmp": attempt(fill), "root": attempt(lambda: open('/fill', 'w')),
                  "etc": attempt(lambda: open('/etc/passwd', 'a')),
                  "usr": attempt(lambda: open('/usr/bin/evil', 'w'))}))
""", profile=Profile(tmp_bytes=8 * MIB)).json()


def fork_bomb(world: World) -> tuple[SandboxResult, Any]:
    """Fork for up to 10 s under a limit of 64 pids."""
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
    return ran.result, ran.json()


def memory_bomb(world: World) -> tuple[SandboxResult, str, str]:
    """Allocate 1 GiB under a 64 MiB limit, then run again: (result, its output, the next's)."""
    ran = world.run("""
chunks = []
for _ in range(1024):
    chunks.append(bytearray(1024 * 1024))
print('survived')
""", profile=Profile(memory_bytes=64 * MIB, tmp_bytes=8 * MIB))
    return ran.result, ran.out, world.run("print('host fine')").out


def stopped_on_expiry(world: World, clock: Clock) -> SandboxResult:
    """A job that is running when its permit expires (the clock jumps 400 days once it has
    started); tre must stop it."""
    started = world.host_path("lung-ai", "workspace", "started")

    def expire_once_started() -> None:
        for _ in range(1000):
            if started.exists():
                clock.advance(days=400)
                return
            threading.Event().wait(0.05)

    thread = threading.Thread(target=expire_once_started)
    thread.start()
    ran = world.run("import time; open('/workspace/started', 'w').close(); time.sleep(60)",
                    poll_s=0.1)
    thread.join()
    return ran.result


def fill_workspace(world: World) -> Any:
    """Write 64 MiB to /workspace and /outputs (under a 16 MiB quota); the host's $TRE_HOME and
    the other project's workspace must still take writes."""
    fill = TRY + """
def fill(path):
    try:
        with open(path, 'wb') as f:
            for _ in range(64):
                f.write(b'x' * 1024 * 1024)
                f.flush()
    finally:
        os.unlink(path)
"""
    seen = world.run(fill + """
print(json.dumps({"workspace": attempt(lambda: fill('/workspace/fill')),
                  "outputs": attempt(lambda: fill('/outputs/fill'))}))
""").json()
    (world.settings.home / "still-writable").write_bytes(b"x" * MIB)
    other = world.run(TRY + """
def write():
    with open('/workspace/big', 'wb') as f:
        f.write(b'x' * 8 * 1024 * 1024)
print(json.dumps(attempt(write)))
""", user="carol", project="brain-seg").json()
    return {**seen, "other_project": other}


class EscapeCases:
    """The escape tests whose outcome is the same on every backend (subclass it per backend,
    next to a ``world`` fixture giving that backend's World)."""

    @pytest.fixture
    def listeners(self) -> Iterator[dict[str, Any]]:
        """TCP listeners on this machine's own address and on loopback, and a UDP socket."""
        address = own_address()
        tcp_out = socket.create_server((address, 0))
        tcp_lo = socket.create_server(("127.0.0.1", 0))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((address, 0))
        for s in (tcp_out, tcp_lo, udp):
            s.setblocking(False)
        # A host that can reach its own listener proves the test would see a leak.
        with socket.create_connection((address, tcp_out.getsockname()[1]), timeout=5):
            pass
        tcp_out.setblocking(True)
        tcp_out.accept()[0].close()
        tcp_out.setblocking(False)
        yield {"address": address, "tcp_out": tcp_out, "tcp_lo": tcp_lo, "udp": udp}
        for s in (tcp_out, tcp_lo, udp):
            s.close()

    @pytest.fixture
    def host_process(self) -> Iterator[int]:
        """A host process the sandbox will try to see and trace."""
        process = subprocess.Popen(["sleep", "120"])
        yield process.pid
        process.kill()
        process.wait()

    @pytest.fixture
    def quota_workspaces(self, ws_settings: WorkspaceSettings) -> Iterator[WorkspaceSettings]:
        """A 16 MiB disk quota per project (TRE_WORKSPACES_QUOTA=16M): request it before
        ``world``. Afterwards every image is unmounted and no loop device is left."""
        ws_settings.quota = 16 * MIB
        quotas = ws_settings.quotas()
        try:
            yield ws_settings
        finally:
            quotas.unmount_all()
            assert [loop for p in quotas.projects()
                    for loop in attached_loops(quotas.image(p), settle_s=DETACH_S)] == []

    def test_data_cannot_be_written_deleted_or_renamed(self, world: World) -> None:
        # 0444 files fail the permission check before the read-only mount is even consulted
        assert write_data(world) == {
            "create": "EROFS", "append": "EACCES", "delete": "EROFS", "rename": "EROFS",
            "move_out": "EXDEV", "chmod": "EROFS", "mkdir": "EROFS", "rmdir_mount": "EROFS",
            "remount": "EXDEV"}

    def test_links_from_the_workspace_do_not_make_data_writable(self, world: World) -> None:
        assert write_data_through_links(world) == {
            "hard_link": "EXDEV", "write_via_symlink": "EROFS",
            "unlink_via_dir_symlink": "EROFS", "create_via_dir_symlink": "EROFS",
            "read_via_symlink": "lung-ct v1 pixels\n"}

    def test_disk_filling_stops_at_the_tmp_limit_and_the_root_is_read_only(
            self, world: World) -> None:
        assert fill_disk(world) == {"tmp": "ENOSPC", "root": "EROFS", "etc": "EACCES",
                                    "usr": "EROFS"}

    def test_filling_the_workspace_stops_at_the_project_quota(
            self, quota_workspaces: WorkspaceSettings, world: World) -> None:
        # each project's folder is its own ext4 image (tre.workspaces.quota): only it is full
        assert fill_workspace(world) == {"workspace": "ENOSPC", "outputs": "ENOSPC",
                                         "other_project": "succeeded"}

    @pytest.mark.slow
    def test_a_fork_bomb_hits_the_pids_limit(self, world: World) -> None:
        assert fork_bomb(world) == (SandboxResult(0), {"refused": True, "under_limit": True})

    @pytest.mark.slow
    def test_a_memory_bomb_kills_only_the_sandbox(self, world: World) -> None:
        assert memory_bomb(world) == (SandboxResult(exit_code=137, oom_killed=True), "",
                                      "host fine\n")

    def test_a_running_job_stops_when_the_permit_expires(
            self, world: World, clock: Clock) -> None:
        assert stopped_on_expiry(world, clock) == SandboxResult(
            exit_code=137, stopped=f"permit {world.lung_permit} is expired")
        assert audit_trail(world.node)[-1][1:] == (
            "job.finish", audit_trail(world.node)[-1][2], "stopped")


SYSCALL_PROBES = {
    "ptrace": "16, child, 0, 0",  # PTRACE_ATTACH to the script's own child
    "process_vm_readv": "child, iov, 1, iov, 1, 0",
    "process_vm_writev": "child, iov, 1, iov, 1, 0",
    "kcmp": "os.getpid(), child, 0, 0, 0",
    "pidfd_getfd": "os.pidfd_open(child), 0, 0",
    "unshare": "0x10000000",  # CLONE_NEWUSER
    "setns": "-1, 0",
    **{f"clone {name}": f"{flag} | 17, 0, 0, 0, 0" for name, flag in (
        ("CLONE_NEWNS", 0x20000), ("CLONE_NEWCGROUP", 0x2000000), ("CLONE_NEWUTS", 0x4000000),
        ("CLONE_NEWIPC", 0x8000000), ("CLONE_NEWUSER", 0x10000000),
        ("CLONE_NEWPID", 0x20000000), ("CLONE_NEWNET", 0x40000000))},
    "clone3": "0, 0",
    "mount": "b'none', b'/tmp', b'tmpfs', 0, 0",
    "umount2": "b'/tmp', 0",
    "pivot_root": "b'/tmp', b'/tmp'",
    "chroot": "b'/'",
    "open_tree": "-100, b'/', 0",
    "fsopen": "b'tmpfs', 0",
    "fspick": "-100, b'/', 0",
    "fsconfig": "-1, 0, 0, 0, 0",
    "fsmount": "-1, 0, 0",
    "move_mount": "-1, b'', -1, b'', 0",
    "mount_setattr": "-1, b'', 0, 0, 0",
    "keyctl": "0, -3, 0",  # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": "0, 0, 0, 0, -3",
    "request_key": "b'user', b'tre-none', 0, 0",
    "bpf": "0, 0, 0",
    "perf_event_open": "0, 0, -1, -1, 0",
    "userfaultfd": "1",  # UFFD_USER_MODE_ONLY
    "io_uring_setup": "1, buf",
    "io_uring_enter": "-1, 0, 0, 0, 0, 0",
    "io_uring_register": "-1, 0, 0, 0",
    "fanotify_init": "0, 0",
    "kexec_load": "0, 0, 0, 0",
    "kexec_file_load": "-1, -1, 0, 0, 0",
    "init_module": "0, 0, b''",
    "finit_module": "-1, b'', 0",
    "delete_module": "b'tre-none', 0",
    "create_module": "0, 0",
    "reboot": "0, 0, 0, 0",
    "swapon": "b'/tmp/none', 0",
    "swapoff": "b'/tmp/none'",
    "acct": "0",
    "quotactl": "0, 0, 0, 0",
    "quotactl_fd": "-1, 0, 0, 0",
    "open_by_handle_at": "-1, 0, 0",
    "name_to_handle_at": "-100, b'/', 0, 0, 0",
    "syslog": "10, 0, 0",  # SYSLOG_ACTION_SIZE_BUFFER
    "lookup_dcookie": "0, 0, 0",
    "vhangup": "",
    "move_pages": "0, 0, 0, 0, 0, 0",
    "migrate_pages": "0, 0, 0, 0",
    "mbind": "0, 0, 0, 0, 0, 0",
    "set_mempolicy": "0, 0, 0",
    "get_mempolicy": "0, 0, 0, 0, 0",
    "set_mempolicy_home_node": "0, 0, 0, 0",
    "vm86": "0, 0",
    "vm86old": "0",
    "iopl": "3",
    "ioperm": "0x80, 1, 1",
    "modify_ldt": "0, buf, 16",
    "uselib": "0",
    "personality ADDR_NO_RANDOMIZE": "0x0040000",
    "personality query": "0xffffffff",
    "ioctl TIOCSTI": "0, 0x5412, buf",
    "ioctl TIOCLINUX": "0, 0x541C, buf",
}
"""Syscalls the sandbox's filter refuses, with harmless arguments (Python source, in a script
that has ``child``, its own child process, ``buf`` and ``iov`` at hand)."""

SOCKET_PROBES = {"AF_PACKET": (17, 3, 0), "AF_KEY": (15, 3, 2), "AF_ALG": (38, 5, 0),
                 "AF_VSOCK": (40, 1, 0), "AF_NETLINK NETLINK_AUDIT": (16, 3, 9)}
"""Sockets no sandbox needs: (family, type, protocol)."""


def forbidden_syscalls(world: World) -> Any:
    """Make each call of SYSCALL_PROBES (those this machine has) and open each socket of
    SOCKET_PROBES; a forked child is the target of the calls on another process."""
    arch = pyseccomp.system_arch()
    numbers = {name: number for name in SYSCALL_PROBES
               if (number := pyseccomp.resolve_syscall(arch, name.split()[0])) >= 0}
    calls = ",\n".join(f"    {name!r}: call({numbers[name]}, {args})"
                        for name, args in SYSCALL_PROBES.items() if name in numbers)
    return world.run(TRY + f"""
import ctypes, signal, socket, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(number, *args):
    ctypes.set_errno(0)
    if libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) if isinstance(a, int)
                                              else a for a in args)) == -1:
        return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    return "succeeded"
class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(256)
iov = ctypes.byref(IOVec(ctypes.addressof(buf), 8))
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
seen = {{
{calls},
    **{{name: attempt(lambda a=a: socket.socket(*a).close())
       for name, a in {SOCKET_PROBES!r}.items()}},
}}
os.kill(child, signal.SIGKILL)
print(json.dumps(seen))
""").json()


def trace_own_child(world: World) -> Any:
    """Attach with ptrace to the script's own child (same uid, same namespaces, so only a
    syscall filter stops it), and read its memory through /proc."""
    return world.run(TRY + """
import ctypes, signal, time
libc = ctypes.CDLL(None, use_errno=True)
def ptrace_attach(pid):
    if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), 'ptrace')
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
seen = {"ptrace_attach": attempt(lambda: ptrace_attach(child)),
        "proc_mem": attempt(lambda: open(f'/proc/{child}/mem', 'rb').close())}
os.kill(child, signal.SIGKILL)
print(json.dumps(seen))
""").json()


def other_abis(world: World) -> Any:
    """getpid through x32's numbering and through i386's ``int 0x80`` (x86-64 only), each in
    a process of its own: how did it end?"""
    return world.run(TRY + """
import subprocess, sys
x32 = '''
import ctypes
print(ctypes.CDLL(None).syscall(ctypes.c_long(0x40000000 | 39)))
'''
i386 = '''
import ctypes, mmap
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3]))  # mov eax, 20; int 0x80; ret
address = ctypes.addressof(ctypes.c_char.from_buffer(page))
print(ctypes.CFUNCTYPE(ctypes.c_int)(address)())
'''
print(json.dumps({name: subprocess.run([sys.executable, '-c', code],
                                       capture_output=True).returncode
                  for name, code in (("x32", x32), ("i386", i386))}))
""").json()
