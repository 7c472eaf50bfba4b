"""Exclusive GPU allocation for container workspaces, kept in a locked JSON file under $TRE_HOME."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tre.errors import InvalidInput, StorageError
from tre.workspaces.errors import WorkspaceRefused

FORMAT = 1


@dataclass(frozen=True, slots=True)
class GpuHold:
    """One device held by one workspace (a running server or job) of a project."""

    device: str
    holder: str
    project: str
    since: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class GpuAllocator:
    """Hands out specific GPU device ids, each to at most one workspace at a time.

    A workspace (``holder``: the container name) gets whole devices, never a share of one, and a
    project never holds more devices across all its workspaces than its permit's quota. Holds
    are written to ``path`` under an exclusive lock before the container starts and removed
    when it stops, so a hub restart (or two tre processes) never gives one device twice. When
    too few are free the request is refused, naming who holds them: never a silent fallback.
    """

    def __init__(self, path: Path, devices: Sequence[str],
                 clock: Callable[[], str] = _now) -> None:
        if len(set(devices)) != len(devices) or any(not d or "," in d for d in devices):
            raise InvalidInput(f"GPU device ids must be distinct and non-empty, without commas, "
                               f"got {list(devices)}: list them as `nvidia-smi -L` numbers or "
                               "UUIDs")
        self.path, self.devices, self._clock = path, tuple(devices), clock

    @contextmanager
    def _locked(self) -> Iterator[dict[str, GpuHold]]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            holds = self._read()
            before = dict(holds)
            yield holds
            if holds != before:
                self._write(holds)
        finally:
            os.close(fd)

    def _read(self) -> dict[str, GpuHold]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read the GPU allocations {self.path}: {exc}; stop the "
                               "GPU workspaces, then delete the file to start afresh") from None
        if not isinstance(raw, dict):
            raw = {}
        devices = raw.get("devices")
        if raw.get("format") != FORMAT or not isinstance(devices, dict):
            raise StorageError(f"the GPU allocations {self.path} are malformed: stop the GPU "
                               "workspaces, then delete the file to start afresh")
        try:
            return {device: GpuHold(device, str(h["holder"]), str(h["project"]),
                                    str(h["since"]))
                    for device, h in devices.items()}
        except (KeyError, TypeError):
            raise StorageError(f"the GPU allocations {self.path} are malformed: stop the GPU "
                               "workspaces, then delete the file to start afresh") from None

    def _write(self, holds: dict[str, GpuHold]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        body = {"format": FORMAT, "devices": {
            d: {"holder": h.holder, "project": h.project, "since": h.since}
            for d, h in sorted(holds.items())}}
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        tmp.chmod(0o600)
        os.replace(tmp, self.path)

    def allocate(self, holder: str, project: str, count: int, quota: int) -> tuple[str, ...]:
        """``count`` free device ids for ``holder`` (the same ones again if it already holds them).

        Raises WorkspaceRefused when the project would exceed ``quota`` or too few are free.
        """
        if count < 0:
            raise InvalidInput(f"{holder} asks for {count} GPUs: ask for 0 or more")
        with self._locked() as holds:
            mine = tuple(d for d, h in sorted(holds.items()) if h.holder == holder)
            if mine:
                if len(mine) == count and all(holds[d].project == project for d in mine):
                    return mine
                raise WorkspaceRefused(
                    f"{holder} already holds GPU(s) {', '.join(mine)}: stop it before "
                    f"starting it again with {count} GPU(s)")
            if count == 0:
                return ()
            project_held = sum(1 for h in holds.values() if h.project == project)
            if project_held + count > quota:
                raise WorkspaceRefused(
                    f"project {project} already holds {project_held} GPU(s) of its quota of "
                    f"{quota}: {_who(holds, lambda h: h.project == project)}; stop one of "
                    f"those workspaces or start {holder} with fewer GPUs")
            free = [d for d in self.devices if d not in holds]
            if len(free) < count:
                raise WorkspaceRefused(
                    f"{holder} asks for {count} GPU(s) but only {len(free)} of "
                    f"{len(self.devices)} are free: {_who(holds, lambda h: True)}; try again "
                    "when one of those stops, or start with gpus=0")
            since = self._clock()
            granted = tuple(free[:count])
            for device in granted:
                holds[device] = GpuHold(device, holder, project, since)
            return granted

    def release(self, holder: str) -> tuple[str, ...]:
        """Free every device ``holder`` holds (none: nothing happens); returns them."""
        with self._locked() as holds:
            freed = tuple(d for d, h in sorted(holds.items()) if h.holder == holder)
            for device in freed:
                del holds[device]
            return freed

    def release_all_but(self, running: set[str]) -> tuple[str, ...]:
        """Free the devices of holders not in ``running`` (after a crash); returns them."""
        with self._locked() as holds:
            freed = tuple(d for d, h in sorted(holds.items()) if h.holder not in running)
            for device in freed:
                del holds[device]
            return freed

    def holds(self) -> tuple[GpuHold, ...]:
        """Every device held now, by device id."""
        with self._locked() as holds:
            return tuple(holds[d] for d in sorted(holds))


def _who(holds: dict[str, GpuHold], keep: Callable[[GpuHold], bool]) -> str:
    held = [f"GPU {d} held by {h.holder} (project {h.project}) since {h.since}"
            for d, h in sorted(holds.items()) if keep(h)]
    return "; ".join(held) if held else "none held"
