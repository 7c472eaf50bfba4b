"""Copy a file out of an outputs folder into the request store, refusing anything that is not
a plain, single-linked, dense, small enough regular file reached without following a link.

The outputs folder is written by the sandbox, so nothing in it is trusted: every component is
opened relative to the folder's descriptor with ``O_NOFOLLOW`` (no resolve-then-open race), the
checks are made on the open descriptor, and the bytes are hashed while they are copied. A file
that changes size while it is copied is refused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tre.airlock.names import check_name
from tre.errors import InvalidInput
from tre.workspaces.spec import OUTPUTS

CHUNK = 1 << 20
SPARSE_SLACK_BYTES = 64 * 1024
"""Allowed gap between st_size and allocated blocks (file systems round, compress small files)."""


class IntakeRefused(InvalidInput):
    """A file was refused at submission; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A file copied into the store: its name in the request, content hash, size and path."""

    name: str
    sha256: str
    size: int
    path: Path


WORKSPACE_OUTPUTS = Path(OUTPUTS)
"""Where a workspace sees its outputs folder. Messages name the folder so, never by its host
path: a researcher has no business learning the node's layout."""


def relative_name(outputs: Path, given: str) -> str:
    """``given`` (relative to the outputs folder, or absolute inside it as the host or the
    workspace sees it) as a relative name."""
    path = Path(given)
    if path.is_absolute():
        for root in (outputs, WORKSPACE_OUTPUTS):
            with contextlib.suppress(ValueError):
                return path.relative_to(root).as_posix()
        raise IntakeRefused(f"{given} is outside your outputs folder ({WORKSPACE_OUTPUTS} in "
                            "the workspace): only files under it can be submitted")
    return path.as_posix() if given else given


def _open_under(outputs: Path, raw_name: str) -> int:
    """Open ``raw_name`` under ``outputs`` for reading, following no link at any level."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder = os.open(outputs, flags | os.O_DIRECTORY)
    except OSError as exc:
        raise IntakeRefused(f"cannot open your outputs folder ({WORKSPACE_OUTPUTS} in the "
                            f"workspace): {exc.strerror}; start your workspace once so that it "
                            "is made, or ask the operator") from None
    parts = raw_name.split("/")
    try:
        for part in parts[:-1]:
            inner = os.open(part, flags | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        # O_NONBLOCK: opening a FIFO must not hang; fstat refuses it right after.
        return os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=folder)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise IntakeRefused(f"{raw_name} is (or passes through) a symbolic link: links are "
                                "never followed; copy the real file into outputs") from None
        if exc.errno == errno.ENXIO:
            raise IntakeRefused(f"{raw_name} is a socket, not a regular file") from None
        raise IntakeRefused(f"cannot open {raw_name} in your outputs folder: "
                            f"{exc.strerror}") from None
    finally:
        os.close(folder)


def _check_opened(name: str, info: os.stat_result, max_bytes: int) -> None:
    """Refuse what the descriptor's metadata already shows to be unacceptable."""
    if not stat.S_ISREG(info.st_mode):
        kind = ("a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                else "a named pipe" if stat.S_ISFIFO(info.st_mode)
                else "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file")
        raise IntakeRefused(f"{name} is {kind}: only regular files can be submitted")
    if info.st_nlink > 1:
        raise IntakeRefused(f"{name} has {info.st_nlink} hard links: a hard link may point at "
                            "data outside outputs; submit a copy (cp, not ln)")
    if info.st_size > max_bytes:
        raise IntakeRefused(f"{name} is {info.st_size} bytes, over the airlock limit of "
                            f"{max_bytes}: outputs must be small, aggregate results")
    if info.st_blocks * 512 + SPARSE_SLACK_BYTES < info.st_size:
        raise IntakeRefused(f"{name} is sparse ({info.st_size} bytes, "
                            f"{info.st_blocks * 512} allocated): sparse files are refused")


def copy_in(outputs: Path, given: str, store: Path, max_bytes: int) -> StoredBlob:
    """Copy one file from ``outputs`` into ``store/<sha256>`` (read-only), hashing as it goes."""
    raw = relative_name(outputs, given)
    name = check_name(raw)
    fd = _open_under(outputs, raw)
    store.mkdir(parents=True, exist_ok=True)
    partial = store / f".incoming-{os.getpid()}-{os.urandom(6).hex()}"
    try:
        info = os.fstat(fd)
        _check_opened(name, info, max_bytes)
        digest = hashlib.sha256()
        copied = 0
        out = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            while chunk := os.read(fd, CHUNK):
                copied += len(chunk)
                if copied > info.st_size:
                    break
                digest.update(chunk)
                os.write(out, chunk)
        finally:
            os.close(out)
        if copied != info.st_size:
            raise IntakeRefused(f"{name} changed while it was copied: stop writing it, then "
                                "submit again")
        sha = digest.hexdigest()
        final = store / sha
        os.chmod(partial, 0o400)
        os.replace(partial, final)
        return StoredBlob(name=name, sha256=sha, size=copied, path=final)
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
