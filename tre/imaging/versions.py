"""Immutable dataset versions: stage, hash into a manifest, publish by one rename, verify."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tre.errors import InvalidInput, TREError
from tre.imaging.layout import MANIFEST, STAGING, Manifest, ManifestFile, datasets_root

CHUNK = 1024 * 1024


class VersionIntegrityError(TREError):
    """A published version's files no longer match its manifest."""

    exit_code = 9


@dataclass(frozen=True, slots=True)
class Published:
    """Where a version lies and whether this call put it there."""

    version: str
    path: Path
    already_published: bool


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of re-hashing a version against its manifest."""

    dataset: str
    version: str
    path: Path
    files: int
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    version_mismatch: bool = False

    @property
    def intact(self) -> bool:
        """True when every file matches and nothing was added or removed."""
        return not (self.changed or self.missing or self.extra or self.version_mismatch)

    def as_json(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {"dataset": self.dataset, "version": self.version, "path": str(self.path),
                "files": self.files, "intact": self.intact, "changed": self.changed,
                "missing": self.missing, "extra": self.extra,
                "version_mismatch": self.version_mismatch}


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def new_staging(home: Path) -> Path:
    """A fresh private folder under ``datasets/.staging`` (same file system as the versions)."""
    root = datasets_root(home) / STAGING
    try:
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="ingest-", dir=root))
    except OSError as exc:
        raise InvalidInput(f"cannot write under {root}: {exc.strerror}; make $TRE_HOME "
                           "writable by you or set TRE_HOME to a writable folder") from None


def manifest_files(version_dir: Path,
                   known: Mapping[str, tuple[str, int]] | None = None) -> tuple[ManifestFile, ...]:
    """Every file under ``version_dir`` but the manifest, hashed (or taken from ``known``)."""
    known = known or {}
    files = []
    for rel in sorted(_file_names(version_dir)):
        if rel == MANIFEST:
            continue
        sha, size = known.get(rel) or sha256_file(version_dir / rel)
        files.append(ManifestFile(rel, sha, size))
    return tuple(files)


def _file_names(root: Path, prefix: str = "") -> Iterator[str]:
    """The relative POSIX names of the files under ``root`` (what ``rglob`` + ``is_file``
    give, from one directory scan per folder: no stat for a regular file)."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _file_names(Path(entry.path), f"{prefix}{entry.name}/")
            elif entry.is_file():
                yield prefix + entry.name


def publish(staged: Path, home: Path, manifest: Manifest) -> Published:
    """Write the manifest, then move ``staged`` to its final place with one rename.

    A version that already exists (same content, same id) is left as it is and ``staged`` is
    removed: re-ingesting identical data never duplicates a version.
    """
    version = manifest.version
    final = datasets_root(home) / manifest.dataset / version
    if final.exists():
        shutil.rmtree(staged)
        return Published(version, final, already_published=True)
    (staged / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    final.parent.mkdir(parents=True, exist_ok=True)
    make_read_only(staged)
    try:
        os.rename(staged, final)
    except OSError:
        if final.exists():  # another ingest published the same content meanwhile
            make_writable(staged)
            shutil.rmtree(staged)
            return Published(version, final, already_published=True)
        raise
    return Published(version, final, already_published=False)


def make_read_only(root: Path) -> None:
    """Files 0444, folders 0555 (deepest first, so the walk can finish)."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.chmod(Path(folder) / name, 0o444)
        for name in dirs:
            os.chmod(Path(folder) / name, 0o555)  # noqa: S103 - read-only on purpose
    os.chmod(root, 0o555)  # noqa: S103 - read-only on purpose


def make_writable(root: Path) -> None:
    """Undo :func:`make_read_only` for the owner (to clean up a staged copy)."""
    os.chmod(root, stat.S_IRWXU)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(Path(folder) / name, stat.S_IRWXU)
        for name in files:
            os.chmod(Path(folder) / name, stat.S_IRUSR | stat.S_IWUSR)


def discard(staged: Path) -> None:
    """Remove a staging folder whatever its modes (an interrupted ingest leaves no litter)."""
    if staged.exists():
        make_writable(staged)
        shutil.rmtree(staged, ignore_errors=True)


def verify(version_dir: Path) -> Verification:
    """Re-hash every file of a version against its manifest."""
    try:
        manifest = Manifest.read(version_dir)
    except FileNotFoundError:
        raise VersionIntegrityError(f"{version_dir / MANIFEST} is missing: the version was "
                                    "tampered with or never published") from None
    expected = {f.path: f for f in manifest.files}
    present = {f.path: f for f in manifest_files(version_dir)}
    changed = sorted(p for p, f in expected.items()
                     if p in present and (present[p].sha256, present[p].size) != (f.sha256, f.size))
    return Verification(
        manifest.dataset, manifest.version, version_dir, len(expected), changed,
        sorted(set(expected) - set(present)), sorted(set(present) - set(expected)),
        version_mismatch=version_dir.name != manifest.version)
