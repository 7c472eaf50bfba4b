"""cgroup v1 limits for one sandbox: memory, pids and CPU, created before start, removed after."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.spec import Limits

CONTROLLERS = ("memory", "pids", "cpu")
PARENT = "tre"
CFS_PERIOD_US = 100_000
_FIX = ("run tre as root on a host with cgroup v1 mounted at TRE_WORKSPACES_CGROUP_ROOT "
        "(memory, pids and cpu), or set TRE_WORKSPACES_ALLOW_NO_LIMITS=true to run WITHOUT "
        "cpu/memory/pids limits (development only, never with real data)")


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:  # one write(2): cgroup files take a value per write
        handle.write(value)


@dataclass(frozen=True, slots=True)
class Cgroup:
    """The sandbox's folders in each v1 hierarchy (``<root>/<controller>/tre/<name>``)."""

    folders: tuple[Path, ...]

    @classmethod
    def create(cls, root: Path, name: str, limits: Limits) -> Cgroup:
        """Make the cgroups and write the limits; SandboxUnavailable (fail closed) if we cannot."""
        if (root / "cgroup.controllers").exists():
            raise SandboxUnavailable(f"{root} is cgroup v2, which the bubblewrap backend does "
                                     f"not drive yet: {_FIX}")
        folders = []
        try:
            for controller in CONTROLLERS:
                hierarchy = root / controller
                if not (hierarchy / "cgroup.procs").exists():
                    raise SandboxUnavailable(f"no cgroup v1 {controller} hierarchy at "
                                             f"{hierarchy}: {_FIX}")
                parent = hierarchy / PARENT
                parent.mkdir(exist_ok=True)
                folder = parent / name
                folder.mkdir()
                folders.append(folder)
            cgroup = cls(tuple(folders))
            cgroup._limit(limits)
        except OSError as exc:
            cls(tuple(folders)).remove()
            raise SandboxUnavailable(f"cannot set up cgroups for {name} ({exc}): {_FIX}") from None
        except SandboxUnavailable:
            cls(tuple(folders)).remove()
            raise
        return cgroup

    def _folder(self, controller: str) -> Path:
        return next(f for f in self.folders if f.parent.parent.name == controller)

    def _limit(self, limits: Limits) -> None:
        memory = self._folder("memory")
        _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
        swap = memory / "memory.memsw.limit_in_bytes"
        if swap.exists():  # no swap beyond the memory limit, where the kernel accounts swap
            _write(swap, str(limits.memory_bytes))
        _write(self._folder("pids") / "pids.max", str(limits.pids))
        cpu = self._folder("cpu")
        _write(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
        _write(cpu / "cpu.cfs_quota_us", str(max(1000, round(limits.cpus * CFS_PERIOD_US))))

    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` file of each hierarchy: a process writing its pid there moves
        in (the sandbox's launcher does, before it execs bwrap)."""
        return [folder / "cgroup.procs" for folder in self.folders]

    def pids(self) -> set[int]:
        """Processes still inside."""
        found: set[int] = set()
        for folder in self.folders:
            with contextlib.suppress(FileNotFoundError):
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
        return found

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process here for going over the memory limit."""
        try:
            control = (self._folder("memory") / "memory.oom_control").read_text()
        except (FileNotFoundError, StopIteration):
            return False
        for line in control.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return False

    def remove(self, timeout_s: float = 5.0) -> None:
        """Kill whatever is left inside (again, while it forks), then remove the folders."""
        deadline = time.monotonic() + timeout_s
        left = list(self.folders)
        while left:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for folder in list(left):
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:  # EBUSY until the killed processes are gone
                    continue
                left.remove(folder)
            if left and time.monotonic() > deadline:
                raise SandboxUnavailable(
                    f"cannot remove cgroup {left[0]}: processes are still inside; kill them "
                    f"(cat {left[0]}/cgroup.procs) and rmdir it")
            if left:
                time.sleep(0.02)
