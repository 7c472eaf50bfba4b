"""Releases: approved files copied to ``$TRE_HOME/releases/<request>/`` with a signed manifest.

``manifest.json`` names the request, permit, dataset versions, author, reviewers and times, and
the SHA-256 and size of each released file; ``manifest.sig`` is the node's Ed25519 signature of
the manifest's exact bytes. :func:`verify` checks both and every file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tre.airlock import signing
from tre.errors import InvalidInput

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FILES = "files"


def releases_root(home: Path) -> Path:
    """Where releases live under $TRE_HOME."""
    return home / "releases"


def write_release(home: Path, keys_dir: Path, request_id: str, blobs: dict[str, Path],
                  manifest: dict[str, Any]) -> Path:
    """Copy ``blobs`` (name -> stored file) and write the signed manifest; returns the folder.

    Written to a staging folder and published by one rename: a crash leaves no half release.
    """
    root = releases_root(home)
    final = root / request_id
    if final.exists():
        raise InvalidInput(f"release {final} already exists: a request is released once")
    staging = root / f".staging-{request_id}-{os.urandom(4).hex()}"
    (staging / FILES).mkdir(parents=True)
    try:
        for name, blob in blobs.items():
            target = staging / FILES / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(blob, target)
            os.chmod(target, 0o444)
        text = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        (staging / MANIFEST).write_bytes(text)
        key = signing.ensure_key(keys_dir)
        (staging / SIGNATURE).write_text(signing.sign(key, text) + "\n")
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def manifest_of(release: Path) -> dict[str, Any]:
    """The manifest of a release folder."""
    try:
        doc = json.loads((release / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{release} has no readable {MANIFEST}: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidInput(f"{release / MANIFEST} is not a JSON object")
    return doc


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``tre airlock verify`` found: no problems means the release is intact."""

    release: Path
    request: str
    files: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the signature and every file check out."""
        return not self.problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(release: Path, keys_dir: Path) -> Verification:
    """Check the manifest's signature, each file's hash and size, and that nothing was added."""
    problems: list[str] = []
    text = (release / MANIFEST).read_bytes() if (release / MANIFEST).is_file() else b""
    signature = (release / SIGNATURE).read_text().strip() if (release / SIGNATURE).is_file() \
        else ""
    if not text or not signature:
        return Verification(release, "", 0, (f"{release} has no {MANIFEST} or {SIGNATURE}",))
    if not signing.verify(signing.public_key(keys_dir), text, signature):
        problems.append("the manifest signature does not verify: the manifest was changed or "
                        "signed by another key")
    doc = manifest_of(release)
    listed = {str(f["name"]): f for f in doc.get("files", [])}
    on_disk = {p.relative_to(release / FILES).as_posix()
               for p in (release / FILES).rglob("*") if p.is_file() or p.is_symlink()}
    for name in sorted(on_disk - set(listed)):
        problems.append(f"{name} is in the release but not in its manifest")
    for name, entry in sorted(listed.items()):
        path = release / FILES / name
        if name not in on_disk:
            problems.append(f"{name} is listed but missing")
        elif path.is_symlink() or not path.is_file():
            problems.append(f"{name} is not a regular file")
        elif path.stat().st_size != entry.get("size") or _sha256(path) != entry.get("sha256"):
            problems.append(f"{name} does not match its SHA-256 or size in the manifest")
    return Verification(release, str(doc.get("request", "")), len(listed), tuple(problems))


def stamp(moment: datetime) -> str:
    """Times in manifests: ISO 8601 UTC."""
    return moment.isoformat()
