"""The bubblewrap backend: render a WorkspaceSpec as a bwrap command line and run it under cgroups.

How a sandbox starts (as root, see docs/workspaces.md):

1. the cgroups of the run are created and the limits written (fail closed);
2. the child joins them, then ``unshare --mount`` gives it a private mount namespace in which
   root binds each mount source onto a small staging tmpfs (so sources may sit under folders
   only root can enter, like $TRE_HOME, and nothing appears on the host);
3. ``setpriv`` drops to the project's dedicated host uid with no capabilities, no groups and
   no_new_privs, and only then execs ``bwrap``; bwrap therefore never acts as host root on a
   bind mount (a root bwrap with ``--uid`` would);
4. bwrap loads tre's syscall filter (:mod:`tre.workspaces.seccomp`, read from a pipe) just before
   it execs the command: every process of the sandbox runs under it.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from tre.workspaces.cgroups import Cgroup
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.seccomp import filter_program
from tre.workspaces.spec import Mount, WorkspaceSpec

STAGE = Path("/run/tre-sandbox")
"""Empty root-owned folder; each launcher covers it with its own tmpfs in a private namespace."""
RUNTIME_TARGET = "/opt/tre/runtime"
ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC_ENTRIES = ("alternatives", "debian_version", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
               "localtime", "mime.types", "nsswitch.conf", "os-release", "python3",
               "python3.11")
"""The only parts of the host's /etc a sandbox sees: no shadow, no ssh keys, no tre config."""
HIDDEN_PROGRAMS = ("usr/bin/node", "usr/local/bin/node")
"""Host programs under /usr that a sandbox must not see (covered by /dev/null): Node.js serves
the host's own tooling, not researchers, and JupyterLab would run it at every start (its
``yarn config`` probe, ~0.7 CPU s) only to find nothing to build."""
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own size-limited tmpfs, not the host's

_JOIN_SCRIPT = """\
while [ "$1" != "--" ]; do
  echo $$ > "$1" || { echo "tre: cannot join the sandbox's cgroup $1" >&2; exit 125; }
  shift
done
shift
exec "$@"
"""
"""Moves itself into the sandbox's cgroups, then execs the launcher: no Python runs between
fork and exec (a ``preexec_fn`` would, in a process with threads: unsafe, and it dropped
other threads' policy engines in the child)."""

_STAGE_SCRIPT = """\
set -eu
stage=$1; shift
mount -t tmpfs -o mode=0755,size=64k,nosuid,nodev,noexec tre-stage "$stage"
while [ "$1" != "--" ]; do
  mkdir "$stage/$2"
  mount --bind "$1" "$stage/$2"
  shift 2
done
shift
exec "$@"
"""


@dataclass(frozen=True, slots=True)
class HostLayout:
    """What of the host's own system a sandbox sees: /usr, the top-level links, some of /etc."""

    root_links: tuple[tuple[str, str | None], ...]
    """``(name, link target)`` for /bin, /lib...: a symlink target, or None for a real folder."""
    etc_entries: tuple[str, ...]
    runtime: Path | None = None
    hidden: tuple[str, ...] = ()
    """Absolute paths under /usr covered by /dev/null in the sandbox (of HIDDEN_PROGRAMS)."""

    @classmethod
    def detect(cls, runtime: Path | None = None, root: Path = Path("/")) -> HostLayout:
        """This host's layout (merged /usr or not; which /etc entries exist)."""
        links: list[tuple[str, str | None]] = []
        for name in ROOT_LINKS:
            path = root / name
            if path.is_symlink():
                links.append((name, os.readlink(path)))
            elif path.is_dir():
                links.append((name, None))
        etc = tuple(e for e in ETC_ENTRIES if (root / "etc" / e).exists())
        hidden = tuple(f"/{p}" for p in HIDDEN_PROGRAMS
                       if (root / p).is_file() and not (root / p).is_symlink())
        return cls(tuple(links), etc, runtime, hidden)


@dataclass(frozen=True, slots=True)
class Tools:
    """Absolute paths of the host programs the launcher execs."""

    bwrap: str
    unshare: str
    setpriv: str
    sh: str = "/bin/sh"

    @classmethod
    def find(cls, bwrap: str | None = None) -> Tools:
        """The tools on PATH, bwrap at ``bwrap`` if given; SandboxUnavailable names the fix."""
        if bwrap is not None and not (os.path.isfile(bwrap) and os.access(bwrap, os.X_OK)):
            raise SandboxUnavailable(
                f"bwrap is not an executable file at the configured path {bwrap}: install "
                "bubblewrap (`apt-get install bubblewrap`) or set the path of its bwrap")
        found = {name: shutil.which(name, path=HOST_PATH)
                 for name in ("bwrap", "unshare", "setpriv")}
        if bwrap is not None:
            found["bwrap"] = bwrap
        missing = [name for name, path in found.items() if path is None]
        if missing:
            raise SandboxUnavailable(
                f"{', '.join(missing)} not found: install bubblewrap and util-linux "
                "(`scripts/install-system-deps.sh` or `apt-get install bubblewrap`)")
        return cls(bwrap=str(found["bwrap"]), unshare=str(found["unshare"]),
                   setpriv=str(found["setpriv"]))


def passwd_file(spec: WorkspaceSpec) -> bytes:
    """The sandbox's /etc/passwd: root, the user (as the project uid) and nobody."""
    return (f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
            f"{spec.user}:x:{spec.uid}:{spec.gid}:{spec.project}:{spec.workdir}:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n").encode()


def group_file(spec: WorkspaceSpec) -> bytes:
    """The sandbox's /etc/group: the project's group and nogroup."""
    return (f"root:x:0:\n{spec.project}:x:{spec.gid}:{spec.user}\n"
            "nogroup:x:65534:\n").encode()


HOSTS_FILE = b"127.0.0.1 localhost workspace\n::1 localhost\n"
SECCOMP_FD = "seccomp"
"""The key of the syscall filter's fd among the fds a start hands to bwrap."""
STATUS_FD = "status"
"""The key of the status pipe's write end among them (:meth:`BwrapBackend.start`)."""
STATUS_WAIT_S = 2.0
"""How long an ended sandbox's status report may take to arrive."""


def staged_name(index: int) -> str:
    """The name of mount ``index`` on the staging tmpfs."""
    return f"m{index}"


def render_bwrap(spec: WorkspaceSpec, command: Sequence[str], host: HostLayout, *,
                 tools: Tools, stage: Path, data_fds: Mapping[str, int],
                 seccomp_fd: int, status_fd: int | None = None) -> list[str]:
    """The bwrap part of the command line (pure): what the sandbox sees and how it runs.

    ``data_fds`` maps ``/etc/passwd``, ``/etc/group`` and ``/etc/hosts`` to readable fds;
    ``seccomp_fd`` is a readable fd holding the syscall filter as BPF; ``status_fd``, if given,
    a writable fd where bwrap reports (JSON) the command's exit code, once it ran at all.
    """
    if spec.limits.gpus:
        raise SandboxUnavailable(
            f"{spec.name} asks for {spec.limits.gpus} GPU(s), which the bubblewrap backend "
            "cannot hand out exclusively yet: use a profile with gpus=0 here, or the Docker "
            "backend")
    if not command:
        raise SandboxUnavailable("no command to run: give one after `--`")
    argv = [tools.bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--seccomp", str(seccomp_fd),
            *(() if status_fd is None else ("--json-status-fd", str(status_fd))),
            "--uid", str(spec.uid), "--gid", str(spec.gid), "--hostname", "workspace",
            "--ro-bind", "/usr", "/usr"]
    for program in host.hidden:
        argv += ["--ro-bind", "/dev/null", program]
    for name, target in host.root_links:
        argv += ["--symlink", target, f"/{name}"] if target else ["--ro-bind", f"/{name}",
                                                                  f"/{name}"]
    for entry in host.etc_entries:
        argv += ["--ro-bind", f"/etc/{entry}", f"/etc/{entry}"]
    for target in ("/etc/passwd", "/etc/group", "/etc/hosts"):
        argv += ["--perms", "0444", "--ro-bind-data", str(data_fds[target]), target]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(spec.limits.tmp_bytes), "--perms", "1777", "--tmpfs", SANDBOX_TMP]
    path = spec.env_dict().get("PATH", "")
    if host.runtime is not None:
        argv += ["--ro-bind", str(host.runtime), RUNTIME_TARGET]
        path = f"{RUNTIME_TARGET}/bin:{path}"
    for index, mount in enumerate(spec.mounts):
        argv += ["--ro-bind" if mount.read_only else "--bind",
                 str(stage / staged_name(index)), mount.target]
    argv += ["--remount-ro", "/", "--chdir", spec.workdir, "--clearenv"]
    for name, value in spec.env:
        argv += ["--setenv", name, path if name == "PATH" else value]
    return [*argv, "--", *command]


def render_launcher(spec: WorkspaceSpec, bwrap_argv: Sequence[str], *, tools: Tools,
                    stage: Path) -> list[str]:
    """The whole command line: private mount namespace, staging binds, drop to the uid, bwrap."""
    argv = [tools.unshare, "--mount", "--propagation", "private", "--",
            tools.sh, "-c", _STAGE_SCRIPT, "tre-stage", str(stage)]
    for index, mount in enumerate(spec.mounts):
        argv += [str(mount.source), staged_name(index)]
    argv += ["--", tools.setpriv, f"--reuid={spec.uid}", f"--regid={spec.gid}",
             "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
             "--", *bwrap_argv]
    return argv


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """How a sandboxed command ended."""

    exit_code: int
    oom_killed: bool = False
    stopped: str | None = None
    """Why tre stopped it early (e.g. the permit was suspended), if it did."""
    started: bool = True
    """False when the sandbox ended before the command ran (a syscall filter bwrap could not
    load, a mount, a command not found): ``exit_code`` is then bwrap's own."""


@dataclass
class BwrapBackend:
    """Runs a WorkspaceSpec under bubblewrap as the project's uid, limited by cgroup v1 and
    tre's syscall filter (built here, so a node that cannot build it refuses before anything
    starts)."""

    settings: WorkspaceSettings
    tools: Tools = field(default_factory=Tools.find)
    host: HostLayout | None = None
    stage: Path = STAGE
    syscall_filter: bytes = field(default_factory=filter_program)

    def _host(self) -> HostLayout:
        if self.host is None:
            self.host = HostLayout.detect(self.settings.runtime)
        return self.host

    def _check_runtime(self) -> None:
        runtime = self.settings.runtime
        if runtime is not None and not (runtime / "bin").is_dir():
            raise SandboxUnavailable(f"TRE_WORKSPACES_RUNTIME={runtime} has no bin/ folder: "
                                     "point it at a Python prefix or venv readable by all")

    def _limits(self, spec: WorkspaceSpec) -> Cgroup | None:
        try:
            return Cgroup.create(self.settings.cgroup_root,
                                 f"{spec.name}-{secrets.token_hex(4)}", spec.limits)
        except SandboxUnavailable:
            if self.settings.allow_no_limits:
                return None
            raise

    def start(self, spec: WorkspaceSpec, command: Sequence[str], *,
              stdin: IO[bytes] | int | None = None, stdout: IO[bytes] | int | None = None,
              stderr: IO[bytes] | int | None = None,
              extra_mounts: Sequence[Mount] = (), report_status: bool = False
              ) -> RunningSandbox:
        """Start ``command`` in the sandbox and return at once (a server; see :meth:`run`).

        ``extra_mounts`` are bound after the spec's own (e.g. the hub bridge's run folder);
        the caller must :meth:`RunningSandbox.stop` it, which also removes its cgroups.
        ``report_status``: keep bwrap's status report, read by :meth:`RunningSandbox.started`.
        """
        if os.geteuid() != 0:
            raise SandboxUnavailable("starting a sandbox needs root (to drop to the project's "
                                     "own uid and set cgroup limits): run tre as root")
        self._check_runtime()
        self.stage.mkdir(parents=True, exist_ok=True, mode=0o755)
        if extra_mounts:
            spec = replace(spec, mounts=(*spec.mounts, *extra_mounts))
        # the filter is at most 4096 BPF instructions (32 KiB): it fits a pipe's buffer too
        data = {"/etc/passwd": passwd_file(spec), "/etc/group": group_file(spec),
                "/etc/hosts": HOSTS_FILE, SECCOMP_FD: self.syscall_filter}
        fds: dict[str, int] = {}
        status: int | None = None
        cgroup = self._limits(spec)
        try:
            for target, content in data.items():
                read_end, write_end = os.pipe()
                os.write(write_end, content)  # far below a pipe's buffer
                os.close(write_end)
                fds[target] = read_end
            if report_status:  # bwrap writes to this end; we read the other
                status, fds[STATUS_FD] = os.pipe()
            bwrap_argv = render_bwrap(spec, command, self._host(), tools=self.tools,
                                      stage=self.stage, data_fds=fds,
                                      seccomp_fd=fds[SECCOMP_FD], status_fd=fds.get(STATUS_FD))
            argv = render_launcher(spec, bwrap_argv, tools=self.tools, stage=self.stage)
            if cgroup is not None:
                argv = [self.tools.sh, "-c", _JOIN_SCRIPT, "tre-join",
                        *(str(f) for f in cgroup.procs_files()), "--", *argv]
            process = subprocess.Popen(
                argv, stdin=stdin, stdout=stdout, stderr=stderr, pass_fds=tuple(fds.values()),
                env={"PATH": HOST_PATH, "LANG": "C.UTF-8"}, close_fds=True)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            if status is not None:
                os.close(status)
            raise
        finally:
            for fd in fds.values():
                os.close(fd)
        return RunningSandbox(process, cgroup, status)

    def run(self, spec: WorkspaceSpec, command: Sequence[str], *,
            stdin: IO[bytes] | int | None = None, stdout: IO[bytes] | int | None = None,
            stderr: IO[bytes] | int | None = None,
            keep_running: Callable[[], str | None] | None = None,
            poll_s: float = 10.0) -> SandboxResult:
        """Run ``command`` in the sandbox and wait; streams pass straight through.

        ``keep_running`` is asked every ``poll_s`` seconds; a reason it returns stops the
        sandbox (SIGKILL to everything in its cgroup) and is reported as ``stopped``.
        """
        sandbox = self.start(spec, command, stdin=stdin, stdout=stdout, stderr=stderr,
                             report_status=True)
        try:
            stopped = _wait(sandbox.process, keep_running, poll_s)
            code = sandbox.process.returncode
            oom_killed = sandbox.cgroup.oom_killed() if sandbox.cgroup is not None else False
            # Killed for memory (bwrap too, maybe) or by tre: whatever bwrap reported, it ran.
            return SandboxResult(exit_code=128 - code if code < 0 else code,
                                 oom_killed=oom_killed, stopped=stopped,
                                 started=oom_killed or stopped is not None or sandbox.started())
        finally:
            sandbox.close_status()
            if sandbox.cgroup is not None:
                sandbox.cgroup.remove()


@dataclass
class RunningSandbox:
    """A sandbox started by :meth:`BwrapBackend.start`: its launcher process and cgroups."""

    process: subprocess.Popen[bytes]
    cgroup: Cgroup | None
    status: int | None = None
    """The read end of bwrap's status reports (``report_status``), until closed."""

    def started(self) -> bool:
        """Whether the command ran (bwrap reports its exit code only then); read once the
        sandbox has ended. True when nothing was reported for lack of a status fd."""
        if self.status is None:
            return True
        report = b""
        # To EOF (bwrap, the only writer, is gone), but never hang on a straggler holding it.
        while select.select([self.status], [], [], STATUS_WAIT_S)[0]:
            chunk = os.read(self.status, 4096)
            if not chunk:
                break
            report += chunk
        return b'"exit-code"' in report

    def close_status(self) -> None:
        """Close the status fd, if one is open."""
        if self.status is not None:
            os.close(self.status)
            self.status = None

    def poll(self) -> int | None:
        """None while the sandbox runs, else its exit code."""
        return self.process.poll()

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``; kill what is left in its cgroups, remove them.

        bwrap is the sandbox's pid 1 (--unshare-pid): when it dies, every process inside dies.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.close_status()
        if self.cgroup is not None:
            self.cgroup.remove()


def _wait(process: subprocess.Popen[bytes], keep_running: Callable[[], str | None] | None,
          poll_s: float) -> str | None:
    """Wait for the launcher; kill it on Ctrl-C or when ``keep_running`` gives a reason."""
    try:
        while True:
            try:
                process.wait(timeout=None if keep_running is None else poll_s)
                return None
            except subprocess.TimeoutExpired:
                assert keep_running is not None
                reason = keep_running()
                if reason is not None:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    return reason
    except BaseException:
        process.kill()
        process.wait()
        raise
