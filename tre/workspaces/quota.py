"""Per-project disk quota: the project's folder is a fixed-size ext4 image, loop-mounted by root.

``<root>/<project>`` (holding ``workspace`` and ``outputs/<user>``) is the mount point of
``<root>/.images/<project>.ext4``. The kernel stops writes at the image's size (ENOSPC) for that
project only; the file is fully allocated on the host (never sparse), so quotas can never add
up to more than the disk. An image is made the first time a workspace of the project starts
while ``TRE_WORKSPACES_QUOTA`` is set, mounted whenever one starts and it is not mounted (under
a lock per project), grows only through :meth:`ProjectQuotas.grow`, and stays mounted until
:meth:`ProjectQuotas.unmount_all` (``tre up`` calls it when it stops). Once a project has an
image it is always mounted, whatever the setting says: its files are in there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tre.domain.values import check_slug
from tre.errors import InvalidInput, NotFound
from tre.workspaces.errors import SandboxUnavailable, WorkspaceRefused

IMAGES = ".images"
"""Folder under the workspaces root holding the images (never a project name: slugs have no
dot)."""
MIN_BYTES = 16 * 1024**2
"""The smallest image worth an ext4 journal."""
MOUNT_OPTIONS = "loop,nosuid,nodev,errors=remount-ro"
"""Not noexec: researchers run their own scripts from /workspace (and ``python3 x.py`` would
pass noexec anyway). nosuid and nodev although the project uid has no way to make use of
either: a second lock on the door."""
DETACH_S = 10.0
"""How long an unmounted image's loop device may take to go (the kernel frees it later)."""
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
"""Where mount, mkfs.ext4 and the like are looked up (never the caller's PATH)."""
TOOLS = ("mount", "umount", "mkfs.ext4", "e2fsck", "resize2fs")
"""The system tools quotas run."""
LOOP_CONTROL = Path("/dev/loop-control")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)
_FIX = ("this node needs root, util-linux and e2fsprogs, and loop devices (`modprobe loop`; "
        "inside a container: /dev/loop-control and /dev/loop*)")


def parse_size(text: str) -> int:
    """Bytes of a size such as ``20G``, ``512M`` or ``1073741824`` (K, M, G, T: powers of 1024)."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise InvalidInput(f"not a size: {text!r}: write a whole number with an optional unit "
                           "K, M, G or T (powers of 1024), e.g. 20G")
    return int(match[1]) * _UNITS[match[2].upper()]


def format_size(size: int) -> str:
    """``size`` bytes in the largest unit that divides it (``21474836480`` -> ``20G``)."""
    for unit in ("T", "G", "M", "K"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def _unescape(field: str) -> str:
    """A path as /proc/self/mountinfo writes it (space, tab, newline, backslash as octal)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def mounted_device(target: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """``major:minor`` of the filesystem mounted last at ``target``, or None if it is no mount
    point."""
    found = None
    for line in mountinfo.read_text().splitlines():
        fields = line.split(" ")
        if _unescape(fields[4]) == str(target):
            found = fields[2]
    return found


def backing_file(device: str) -> Path | None:
    """The file behind loop device ``major:minor``, or None if it is not a loop device."""
    try:
        text = Path(f"/sys/dev/block/{device}/loop/backing_file").read_text().rstrip("\n")
    except FileNotFoundError:
        return None
    return Path(text.removesuffix(" (deleted)"))


def attached_loops(image: Path, *, settle_s: float = 0.0) -> list[str]:
    """The loop devices backed by ``image`` (there while any mount of it lives, in any mount
    namespace: a sandbox's too).

    The kernel detaches a loop device after its last unmount asynchronously: ``settle_s``
    waits up to that long for them to go.
    """
    deadline = time.monotonic() + settle_s
    while True:
        found = []
        for backing in sorted(Path("/sys/block").glob("loop*/loop/backing_file")):
            with contextlib.suppress(FileNotFoundError):  # detached meanwhile
                if Path(backing.read_text().rstrip("\n").removesuffix(" (deleted)")) == image:
                    found.append("/dev/" + backing.parts[-3])
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def _run(argv: Sequence[str], what: str, *, fix: str = _FIX, ok: Sequence[int] = (0,)) -> None:
    """Run a system tool; SandboxUnavailable with its message and ``fix`` if it fails."""
    tool = shutil.which(argv[0], path=SYSTEM_PATH)
    if tool is None:
        raise SandboxUnavailable(f"{argv[0]} not found, needed to {what}: {fix}")
    done = subprocess.run([tool, *argv[1:]], capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, env={"PATH": SYSTEM_PATH, "LANG": "C"})
    if done.returncode not in ok:
        message = (done.stderr or done.stdout).strip().replace("\n", " ")
        raise SandboxUnavailable(f"cannot {what}: {message or f'exit {done.returncode}'}: {fix}")


def _allocate(path: Path, size: int, fix: str) -> None:
    """Give ``path`` ``size`` bytes of real disk blocks (extending it, filling any holes)."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        free = shutil.disk_usage(path.parent).free
        raise SandboxUnavailable(
            f"cannot reserve {format_size(size)} for {path} ({os.strerror(exc.errno or 0)}; "
            f"{free // 1024**2} MiB free on its filesystem): {fix}") from None
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class ProjectQuotas:
    """The quota images of the projects under one workspaces root.

    ``size`` is the size of a new image (``TRE_WORKSPACES_QUOTA``); None makes no new image but
    still mounts the ones that exist.
    """

    root: Path
    size: int | None = None

    @property
    def images(self) -> Path:
        """The folder of the images (root's, 0700)."""
        return self.root / IMAGES

    def image(self, project: str) -> Path:
        """The image of ``project``."""
        return self.images / f"{check_slug('project', project)}.ext4"

    def applies(self, project: str) -> bool:
        """Whether ``project``'s folder is (to be) an image: a quota is set, or it has one."""
        return self.size is not None or self.image(project).exists()

    def preflight(self, *, loop_control: Path = LOOP_CONTROL) -> list[str]:
        """What this node lacks to make and mount images (empty: nothing), each with its fix.

        ``tre up`` asks before it starts anything, so a node that cannot keep its quota promise
        says so at once rather than at the first project's start.
        """
        problems = []
        if os.geteuid() != 0:
            problems.append("mounting the images needs root: run `tre up` as root")
        missing = [tool for tool in TOOLS if shutil.which(tool, path=SYSTEM_PATH) is None]
        if missing:
            problems.append(f"{', '.join(missing)} not found in {SYSTEM_PATH}: install "
                            "util-linux (mount, umount) and e2fsprogs (mkfs.ext4, e2fsck, "
                            "resize2fs)")
        try:
            loops = stat.S_ISCHR(os.stat(loop_control).st_mode)
        except OSError:
            loops = False
        if not loops:
            problems.append(f"no loop devices ({loop_control} is missing): `modprobe loop`; "
                            "inside a container, pass /dev/loop-control and /dev/loop*")
        return problems

    def prepare(self, project: str) -> None:
        """Mount ``project``'s image when its folder is (to be) one; nothing otherwise."""
        if self.applies(project):
            self.ensure_mounted(project)

    @contextmanager
    def _locked(self, project: str) -> Iterator[None]:
        """Hold the project's lock (across processes: hub, `tre run`, `tre up`)."""
        try:
            self.images.mkdir(mode=0o700, exist_ok=True)
        except PermissionError:
            raise SandboxUnavailable(f"cannot create {self.images}: {_FIX}") from None
        info = os.lstat(self.images)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise SandboxUnavailable(f"{self.images} is not a folder of tre's own (a symlink, "
                                     "a file or another owner's): move it away")
        fd = os.open(self.images / f"{project}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _mounted(self, project: str) -> str | None:
        """``major:minor`` of the project's image if it is what is mounted at its folder; None
        if nothing is; SandboxUnavailable if something else is."""
        target = self.root / project
        device = mounted_device(target)
        if device is None:
            return None
        if backing_file(device) != self.image(project):
            raise SandboxUnavailable(
                f"{target} is a mount point of something other than project {project}'s quota "
                f"image {self.image(project)}: unmount it (`umount {target}`) and start again")
        return device

    def ensure_mounted(self, project: str) -> bool:
        """Mount the project's image at ``<root>/<project>``, making it first if need be.

        Idempotent (True when this call mounted it). Fails closed: a quota that cannot be set
        up raises SandboxUnavailable naming the fix, and nothing is left mounted.
        """
        if os.geteuid() != 0:
            raise SandboxUnavailable(f"project {project} has a disk quota (TRE_WORKSPACES_QUOTA "
                                     f"or an image in {self.images}); mounting it needs root: "
                                     "run tre as root")
        image = self.image(project)
        with self._locked(project):
            if self._mounted(project) is not None:
                return False
            target = self.root / project
            self._refuse_hidden_files(project)
            if not image.exists():
                if self.size is None:
                    raise NotFound(f"project {project} has no quota image {image}")
                self._create(image, self.size)
            size = image.stat().st_size
            # Re-reserve every time: a trim through the loop device may have punched holes.
            _allocate(image, size, f"free space there for project {project}'s "
                      f"{format_size(size)} quota, or move TRE_WORKSPACES_ROOT to a bigger disk")
            # A loop device left by an unmount a moment ago is still being freed: let it go
            # (one a running sandbox holds stays, and mount shares it: the same filesystem).
            attached_loops(image, settle_s=DETACH_S)
            if not target.exists():
                target.mkdir(mode=0o700)
            if not stat.S_ISDIR(os.lstat(target).st_mode):
                raise WorkspaceRefused(f"{target} exists but is not a folder (a symlink or "
                                       "file): move it away so tre can mount the project there")
            self._mount(project)
            return True

    def _mount(self, project: str) -> None:
        image, target = self.image(project), self.root / project
        _run(["mount", "-t", "ext4", "-o", MOUNT_OPTIONS, "--", str(image), str(target)],
             f"mount project {project}'s disk quota image {image} at {target}",
             fix=f"{_FIX}; a damaged image: `e2fsck -f {image}`")

    def _refuse_hidden_files(self, project: str) -> None:
        """Refuse to mount over files (they would vanish from view): written before the quota
        was set, or while the image was not mounted."""
        target = self.root / project
        if target.is_dir() and not target.is_symlink() and any(target.iterdir()):
            raise WorkspaceRefused(
                f"{target} holds files outside project {project}'s quota image, which mounted "
                "over them would hide them: move them into the image as docs/operations.md "
                "(Workspace disk quotas) describes")

    @staticmethod
    def _create(image: Path, size: int) -> None:
        """Make a fully allocated ext4 image of ``size`` bytes (atomically: whole, or absent)."""
        new = image.with_name(image.name + ".new")
        new.unlink(missing_ok=True)
        os.close(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        try:
            _allocate(new, size, "lower TRE_WORKSPACES_QUOTA, free space, or move "
                      "TRE_WORKSPACES_ROOT to a bigger disk")
            # nodiscard: mkfs would otherwise punch the reservation back out of the file;
            # -m 0: no blocks reserved for root, the project gets the whole size.
            _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard,root_owner=0:0", "--",
                  str(new)], f"make the ext4 quota image {image}")
            os.replace(new, image)
        finally:
            new.unlink(missing_ok=True)

    def size_of(self, project: str) -> int:
        """The size of ``project``'s image (its quota); NotFound if it has none."""
        try:
            return self.image(project).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"project {project} has no quota image {self.image(project)}: one "
                           "is made at its first start while TRE_WORKSPACES_QUOTA is set") from None

    def grow(self, project: str, size: int) -> int:
        """Grow ``project``'s image and its filesystem to ``size`` bytes; returns ``size``.

        Offline, so no sandbox may be using it: a mounted image is unmounted first (and mounted
        again after), and refused while a server or job still has it (online growth would need
        CAP_SYS_RESOURCE, which containers often lack). A quota only grows: shrinking ext4 is
        not safe, so a smaller size is refused; the same size again finishes a growth that
        stopped halfway (the image grown, not yet its filesystem).
        """
        with self._locked(project):
            current = self.size_of(project)
            if size < current:
                raise InvalidInput(f"project {project}'s quota is {format_size(current)}: a quota "
                                   "only grows, give a larger size")
            image = self.image(project)
            was_mounted = self._mounted(project) is not None
            if was_mounted:
                self._unmount(project, lazy=False)
            try:
                in_use = attached_loops(image, settle_s=DETACH_S)
                if in_use:
                    raise InvalidInput(
                        f"project {project}'s image is in use by a running server or job "
                        f"({', '.join(in_use)}): stop them, then grow it")
                _allocate(image, size, "free space there first, or move the image to a "
                          "bigger disk")
                # e2fsck: 0 clean, 1 errors fixed; resize2fs wants a freshly checked filesystem
                _run(["e2fsck", "-f", "-p", str(image)], f"check {image}", ok=(0, 1))
                _run(["resize2fs", str(image)], f"grow the filesystem of {image}")
            finally:
                if was_mounted:
                    self._mount(project)
            return size

    def unmount(self, project: str) -> bool:
        """Unmount ``project``'s image (True if it was mounted).

        A mount still in use (a process of the host has a file open in it) is detached lazily:
        it leaves the mount table now and is released, with its loop device, when the last
        user is gone. Sandboxes hold their own copies of the mount and keep working.
        """
        with self._locked(project):
            if self._mounted(project) is None:
                return False
            self._unmount(project, lazy=True)
            return True

    def _unmount(self, project: str, *, lazy: bool) -> None:
        target = str(self.root / project)
        try:
            _run(["umount", "--", target], f"unmount {target}",
                 fix="stop what uses it (`fuser -vm` lists it)")
        except SandboxUnavailable:
            if not lazy:
                raise
            _run(["umount", "--lazy", "--", target], f"unmount {target}")

    def projects(self) -> list[str]:
        """The projects that have an image."""
        try:  # a root tre cannot read (not root) holds nothing this process mounted
            return sorted(p.name.removesuffix(".ext4") for p in self.images.glob("*.ext4"))
        except PermissionError:
            return []

    def unmount_all(self) -> list[str]:
        """Unmount every project image mounted under the root; the projects unmounted."""
        return [p for p in self.projects() if self.unmount(p)]

