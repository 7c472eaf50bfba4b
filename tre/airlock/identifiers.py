"""The identifiers of a permit's dataset versions: pseudonyms and UIDs, read once per request.

A published version's layout (tre.imaging.layout) names every image
``dicom/<pseudonym>/<study uid>/<series uid>/<sop instance uid>.dcm``, so its manifest alone
gives every pseudonym and UID without opening a DICOM file; the clinical table adds pseudonyms
of patients without images.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from tre.airlock.checks.context import IdentifierSet
from tre.imaging.layout import CLINICAL_CSV, DICOM_DIR, Manifest

_PSEUDONYM_COLUMNS = ("patient_id", "pseudonym", "PatientID")


def _from_version(folder: Path, pseudonyms: set[bytes], uids: set[bytes]) -> None:
    manifest = Manifest.read(folder)
    for entry in manifest.files:
        parts = entry.path.split("/")
        if len(parts) == 5 and parts[0] == DICOM_DIR:
            pseudonyms.add(parts[1].encode())
            uids.update(p.encode() for p in parts[2:4])
            uids.add(parts[4].removesuffix(".dcm").encode())
    clinical = folder / CLINICAL_CSV
    if clinical.is_file():
        reader = csv.DictReader(io.StringIO(clinical.read_text(encoding="utf-8")))
        column = next((c for c in _PSEUDONYM_COLUMNS if c in (reader.fieldnames or ())), None)
        if column is not None:
            pseudonyms.update(row[column].encode() for row in reader if row.get(column))


def identifier_set(version_paths: Iterable[tuple[str, Path]]) -> IdentifierSet:
    """Identifiers of the versions ``(name, folder)``; unreadable ones are named in problems."""
    pseudonyms: set[bytes] = set()
    uids: set[bytes] = set()
    problems: list[str] = []
    for label, folder in version_paths:
        try:
            _from_version(folder, pseudonyms, uids)
        except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
            problems.append(f"{label}: {type(exc).__name__}")
    return IdentifierSet(frozenset(pseudonyms), frozenset(uids), tuple(problems))
