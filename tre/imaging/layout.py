"""The on-disk layout and manifest of a published dataset version (the contract every part reads).

A published version is an immutable folder ``$TRE_HOME/datasets/<dataset>/<version>/``::

    manifest.json          this module's Manifest (the version id is the SHA-256 of its files list)
    dicom/<pseudonym>/<study uid>/<series uid>/<sop instance uid>.dcm
    clinical.csv           optional; patient ids replaced by the same pseudonyms
    quality.json           the quality report (tre.imaging.quality)
    quality.html           the same report with plots, for people
    ingest-report.json     what was quarantined or unreadable, and why (nothing silently dropped)

Files are written under ``$TRE_HOME/datasets/.staging/<random>/`` and published by one
``os.rename`` to the final folder, then made read-only; an interrupted ingest leaves no version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
DICOM_DIR = "dicom"
CLINICAL_CSV = "clinical.csv"
QUALITY_JSON = "quality.json"
QUALITY_HTML = "quality.html"
INGEST_REPORT = "ingest-report.json"
STAGING = ".staging"


@dataclass(frozen=True, slots=True)
class ManifestFile:
    """One file of a version: path relative to the version folder, SHA-256, size in bytes."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a version holds; ``version`` is derived from ``files`` (content addressed)."""

    dataset: str
    created_at: str
    synthetic: bool
    files: tuple[ManifestFile, ...]
    source: dict[str, Any] = field(default_factory=dict)
    """How it was made: tool versions, profile and options, counts (no identifying values)."""

    @property
    def version(self) -> str:
        """The first 16 hex digits of the SHA-256 over the sorted files list."""
        return version_id(self.files)

    def to_json(self) -> str:
        """The manifest file's text."""
        doc = {"dataset": self.dataset, "created_at": self.created_at,
               "synthetic": self.synthetic, "source": self.source, "version": self.version,
               "files": [{"path": f.path, "sha256": f.sha256, "size": f.size}
                         for f in sorted(self.files, key=lambda f: f.path)]}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, version_dir: Path) -> Manifest:
        """Read ``version_dir/manifest.json``."""
        doc = json.loads((version_dir / MANIFEST).read_text())
        return cls(dataset=doc["dataset"], created_at=doc["created_at"],
                   synthetic=bool(doc["synthetic"]),
                   files=tuple(ManifestFile(**f) for f in doc["files"]),
                   source=doc.get("source", {}))


def version_id(files: tuple[ManifestFile, ...]) -> str:
    """Content address of a set of files: SHA-256 over ``path sha256 size`` lines, sorted."""
    lines = "".join(f"{f.path}\t{f.sha256}\t{f.size}\n"
                    for f in sorted(files, key=lambda f: f.path))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def datasets_root(home: Path) -> Path:
    """Where published versions live under $TRE_HOME."""
    return home / "datasets"
