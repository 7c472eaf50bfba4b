"""Find input files in a folder or .zip, one at a time (an archive is never read whole)."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MAX_MEMBER_BYTES = 2 * 1024**3
"""A member larger than this is skipped (zip bombs; no single DICOM file is that large here)."""


@dataclass(frozen=True, slots=True, order=True)
class Source:
    """One input file: a path, or a member of a zip archive."""

    path: str
    member: str = ""

    @property
    def name(self) -> str:
        """How reports name it (relative to the ingested folder when possible)."""
        return f"{self.path}!{self.member}" if self.member else self.path


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was not even opened, and why."""

    name: str
    reason: str


def discover(src: Path) -> tuple[list[Source], list[Skipped]]:
    """Every file under ``src`` (or ``src`` itself), zip members included, in a stable order."""
    sources: list[Source] = []
    skipped: list[Skipped] = []
    if src.is_file():
        files = [src]
    else:
        files = []
        for folder, dirs, names in os.walk(src, followlinks=False):
            dirs.sort()
            for name in sorted(names):
                files.append(Path(folder) / name)
    for path in files:
        if path.is_symlink():
            skipped.append(Skipped(str(path), "symbolic link: not followed (give the target)"))
        elif path.suffix.lower() == ".zip":
            _archive(path, sources, skipped)
        else:
            sources.append(Source(str(path)))
    return sources, skipped


def _archive(path: Path, sources: list[Source], skipped: list[Skipped]) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        skipped.append(Skipped(str(path), f"not a readable zip archive ({exc})"))
        return
    for info in sorted(members, key=lambda i: i.filename):
        if info.is_dir():
            continue
        name = f"{path}!{info.filename}"
        reason = unsafe_member(info.filename)
        if reason:
            skipped.append(Skipped(name, reason))
        elif info.file_size > MAX_MEMBER_BYTES:
            skipped.append(Skipped(name, f"member of {info.file_size} bytes is too large"))
        elif info.filename.lower().endswith(".zip"):
            skipped.append(Skipped(name, "zip inside a zip: unpack the outer archive first"))
        else:
            sources.append(Source(str(path), info.filename))


def unsafe_member(name: str) -> str:
    """Why a member name could escape the target if extracted ('' when it is safe)."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "absolute member name in zip: refused (never extracted outside the target)"
    if ".." in posix.parts:
        return "member name contains '..': refused (never extracted outside the target)"
    return ""


class SourceReader:
    """Opens sources; keeps the current archive open across its members."""

    def __init__(self) -> None:
        self._archive: zipfile.ZipFile | None = None
        self._archive_path = ""

    def open(self, source: Source) -> str | BinaryIO:
        """A path (files: pydicom may defer large values) or the member's bytes as a stream."""
        if not source.member:
            return source.path
        if self._archive_path != source.path:
            self.close()
            self._archive = zipfile.ZipFile(source.path)
            self._archive_path = source.path
        assert self._archive is not None
        return io.BytesIO(self._archive.read(source.member))

    def close(self) -> None:
        """Close the open archive, if any."""
        if self._archive is not None:
            self._archive.close()
            self._archive, self._archive_path = None, ""
