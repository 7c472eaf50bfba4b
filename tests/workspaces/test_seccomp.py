"""The bubblewrap sandbox's syscall filter: the BPF it compiles to, and real calls inside a sandbox.

Each call runs through the `tre run` code path (``run_job``) in bob's lung-ai workspace, once
under tre's filter and once under a filter that allows everything, which shows that the refusals
are the filter's own and not the sandbox's other walls; a hub-spawned server's sandbox is checked
from the host.
"""

from __future__ import annotations

import dataclasses
import platform
import struct
from pathlib import Path

import pyseccomp  # type: ignore[import-untyped]
import pytest
from hub.conftest import PASSWORD, descendants, start_tre
from hub.hub_support import log_in
from hub.test_hub_e2e import server_ready, start, wait_for
from workspaces import escape_cases as cases
from workspaces.escape_cases import World
from workspaces.sandbox_support import Publish

from factories import audit_details, audit_trail
from tre.services.node import Node
from tre.settings import Settings
from tre.workspaces.bwrap import BwrapBackend, SandboxResult
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.jobs import NOT_STARTED
from tre.workspaces.seccomp import Rule, filter_program
from tre.workspaces.uids import ProjectUids

ALLOW_EVERYTHING = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K SECCOMP_RET_ALLOW
SIGSYS = 31

REFUSED = {
    **dict.fromkeys(cases.SYSCALL_PROBES, "EPERM"),
    **dict.fromkeys(["clone3", "open_tree", "fsopen", "fspick", "fsconfig", "fsmount",
                     "move_mount", "mount_setattr"], "ENOSYS"),
    **dict.fromkeys(cases.SOCKET_PROBES, "EAFNOSUPPORT"),
    "AF_NETLINK NETLINK_AUDIT": "EPROTONOSUPPORT",
}
"""What each probe of escape_cases meets under tre's filter."""

UNFILTERED_SUCCESSES = [
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "open_tree",
    "keyctl", "userfaultfd", "io_uring_setup", "move_pages", "mbind", "set_mempolicy",
    "get_mempolicy", "personality ADDR_NO_RANDOMIZE", "personality query",
    "AF_NETLINK NETLINK_AUDIT"]
"""Probes that succeed in the sandbox when nothing filters them."""


@pytest.fixture
def world(node: Node, settings: Settings, ws_settings: WorkspaceSettings, uids: ProjectUids,
          backend: BwrapBackend, publish: Publish, tmp_path: Path) -> World:
    return cases.two_projects(node, settings, ws_settings, uids, backend, publish, tmp_path)


@pytest.fixture
def unfiltered(world: World, ws_settings: WorkspaceSettings) -> World:
    """The same world, its sandboxes under a filter that allows every call."""
    return dataclasses.replace(world, backend=BwrapBackend(ws_settings,
                                                           syscall_filter=ALLOW_EVERYTHING))


def here(probes: dict[str, str]) -> dict[str, str]:
    """``probes`` without the syscalls this machine's architecture does not have."""
    arch = pyseccomp.system_arch()
    return {name: seen for name, seen in probes.items()
            if name in cases.SOCKET_PROBES
            or pyseccomp.resolve_syscall(arch, name.split()[0]) >= 0}


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    """Classic BPF ``(code, jt, jf, k)`` of a program."""
    return [struct.unpack_from("<HBBI", program, offset) for offset in range(0, len(program), 8)]


def test_the_filter_checks_the_architecture_first_and_kills_on_another_abi() -> None:
    load_arch, load_nr = (0x20, 0, 0, 4), (0x20, 0, 0, 0)  # seccomp_data.arch, .nr
    for arch, audit_arch in (("x86_64", 0xC000003E), ("aarch64", 0xC00000B7)):
        program = instructions(filter_program(arch))
        assert program[0] == load_arch
        assert (program[1][0], program[1][3]) == (0x15, audit_arch)  # JEQ arch, else ...
        assert program[1 + 1 + program[1][2]] == (0x06, 0, 0, 0x80000000)  # KILL_PROCESS
        assert program[2] == load_nr
        assert program[-1] == (0x06, 0, 0, 0x80000000)
    x86 = instructions(filter_program("x86_64"))
    assert (x86[3][0], x86[3][3]) == (0x35, 0x40000000)  # JGE x32's syscall numbers: killed


def test_a_machine_the_filter_does_not_cover_refuses_to_start_sandboxes() -> None:
    with pytest.raises(SandboxUnavailable) as caught:
        filter_program("riscv64")
    assert str(caught.value) == (
        "tre's syscall filter covers x86_64 and aarch64, not riscv64: run workspaces on the "
        "Docker backend on this machine")


def test_a_syscall_libseccomp_does_not_know_fails_the_build() -> None:
    with pytest.raises(SandboxUnavailable) as caught:
        filter_program(rules=(Rule("no_such_call"),))
    assert str(caught.value) == (
        "libseccomp does not know the syscall 'no_such_call': update libseccomp2")


def test_each_forbidden_call_is_refused_inside_the_sandbox(
        world: World, unfiltered: World) -> None:
    assert cases.forbidden_syscalls(world) == here(REFUSED)
    seen = cases.forbidden_syscalls(unfiltered)
    assert {name: seen[name] for name in UNFILTERED_SUCCESSES} == dict.fromkeys(
        UNFILTERED_SUCCESSES, "succeeded")


def test_a_process_cannot_trace_its_own_child(world: World, unfiltered: World) -> None:
    # /proc/<pid>/mem is a file, not a syscall: the same uid still reads its own processes'
    # memory there (as in Docker); what the filter takes away is ptrace's control of them
    assert cases.trace_own_child(world) == {"ptrace_attach": "EPERM", "proc_mem": "succeeded"}
    assert cases.trace_own_child(unfiltered) == {"ptrace_attach": "succeeded",
                                                 "proc_mem": "succeeded"}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 and i386 are x86-64's ABIs")
def test_a_call_through_another_abi_kills_the_process(world: World, unfiltered: World) -> None:
    assert cases.other_abis(world) == {"x32": -SIGSYS, "i386": -SIGSYS}
    assert -SIGSYS not in cases.other_abis(unfiltered).values()


ORDINARY_WORK = """
import asyncio, concurrent.futures, ctypes, json, multiprocessing, os, socket, sqlite3
import subprocess, threading
import zmq

def square(x):
    return x * x

async def echo_over_loopback():
    async def handle(reader, writer):
        writer.write(await reader.read(5))
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
    writer.write(b'hello')
    answer = await reader.read(5)
    writer.close()
    server.close()
    return answer.decode()

def zmq_round_trip():
    context = zmq.Context()
    a, b = context.socket(zmq.PAIR), context.socket(zmq.PAIR)
    port = a.bind_to_random_port('tcp://127.0.0.1')
    b.connect(f'tcp://127.0.0.1:{port}')
    b.send(b'kernel')
    answer = a.recv().decode()
    context.destroy()
    return answer

if __name__ == '__main__':
    left, right = socket.socketpair()
    left.send(b'unix')
    with concurrent.futures.ThreadPoolExecutor(4) as threads:
        squares = sorted(threads.map(square, range(8)))
    with multiprocessing.get_context('fork').Pool(2) as pool:
        forked = pool.map(square, range(4))
    with multiprocessing.get_context('spawn').Pool(2) as pool:
        spawned = pool.map(square, range(4))
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    libc = ctypes.CDLL(None, use_errno=True)
    print(json.dumps({
        "threads": squares, "fork_pool": forked, "spawn_pool": spawned,
        "fork": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]),
        "subprocess": subprocess.run(['sh', '-c', 'echo $((6 * 7))'], capture_output=True,
                                     text=True).stdout.strip(),
        "thread_count": threading.active_count(),
        "unix_socket": right.recv(4).decode(),
        "loopback_tcp": asyncio.run(echo_over_loopback()),
        "zmq": zmq_round_trip(),
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
        "localhost": sorted({a[4][0] for a in socket.getaddrinfo('localhost', 80)}),
        "sqlite": sqlite3.connect(':memory:').execute('select 6 * 7').fetchone()[0],
        "personality_linux": libc.personality(0),
    }))
"""


def test_ordinary_work_still_runs(world: World) -> None:
    (world.host_path("lung-ai", "workspace") / "work.py").write_text(ORDINARY_WORK)
    ran = world.run("import runpy; runpy.run_path('/workspace/work.py', run_name='__main__')")
    assert ran.result == SandboxResult(0), ran.err
    assert ran.json() == {
        "threads": [0, 1, 4, 9, 16, 25, 36, 49], "fork_pool": [0, 1, 4, 9],
        "spawn_pool": [0, 1, 4, 9], "fork": 7, "subprocess": "42", "thread_count": 1,
        "unix_socket": "unix", "loopback_tcp": "hello", "zmq": "kernel",
        "interfaces": ["lo"], "localhost": ["127.0.0.1"], "sqlite": 42,
        "personality_linux": 0}


def test_a_filter_bwrap_cannot_load_stops_the_sandbox_before_the_command(
        world: World, ws_settings: WorkspaceSettings) -> None:
    broken = dataclasses.replace(world, backend=BwrapBackend(ws_settings,
                                                             syscall_filter=b"\0" * 7))
    ran = broken.run("open('/workspace/ran', 'w').close()")
    assert ran.result == SandboxResult(1, started=False)
    assert "seccomp" in ran.err
    assert not world.host_path("lung-ai", "workspace", "ran").exists()
    finished = audit_details(world.node, "job.finish")
    [(actor, action, _job, outcome)] = audit_trail(world.node)[-1:]
    assert (actor, action, outcome, finished["error"]) == (
        "bob", "job.finish", "failed", NOT_STARTED)


def sandboxed(pid: int) -> dict[str, list[str]]:
    """The ``Seccomp`` mode of each process below ``pid`` that runs in a pid namespace of its
    own (the sandboxes), by command name."""
    modes: dict[str, set[str]] = {}
    tree = descendants(pid) | {pid}
    for child in tree:
        try:
            status = dict(line.split(":\t", 1) for line in
                          Path(f"/proc/{child}/status").read_text().splitlines() if ":\t" in line)
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        if int(status["PPid"]) in tree and len(status["NSpid"].split()) > 1:  # not a reused pid
            modes.setdefault(status["Name"], set()).add(status["Seccomp"].strip())
    return {name: sorted(seen) for name, seen in modes.items()}


@pytest.mark.slow
def test_a_hub_spawned_server_runs_under_the_filter(tmp_path: Path) -> None:
    with start_tre(tmp_path) as tre_up:
        alice = log_in(tre_up.url, "alice", PASSWORD)
        assert start(alice, "lung-ai").status_code in (201, 202)
        wait_for(lambda: server_ready(alice, "lung-ai"), "alice's lung-ai server")
        modes = sandboxed(tre_up.process.pid)
    # bwrap is the sandbox's pid 1; /proc cuts names at 15 characters. What else runs at that
    # moment varies (the bridge's socat, JupyterLab's own helpers): all of it is filtered.
    assert {"bwrap", "jupyterhub-sing"} <= modes.keys()
    assert {mode for seen in modes.values() for mode in seen} == {"2"}, modes
