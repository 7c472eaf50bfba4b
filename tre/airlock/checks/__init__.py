"""Automated checks: what a file is (by content) and what each check found in it.

:func:`inspect` is the one entry point. Every content type has a route; anything unrecognised,
unreadable or beyond a bound is a ``block`` finding, never a pass (fail closed).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from tre.airlock.checks import archives, images, models, tables
from tre.airlock.checks.context import CheckContext
from tre.airlock.checks.identifiers import scan
from tre.airlock.checks.sniff import ARCHIVES, IMAGES, TABLES, Content, sniff
from tre.domain.egress import FileKind, Finding, Severity

CHECK = "content"

KINDS: dict[Content, FileKind] = {
    Content.EMPTY: FileKind.TEXT, Content.DICOM: FileKind.DICOM,
    Content.NIFTI: FileKind.DICOM, Content.NRRD: FileKind.DICOM,
    Content.NPY: FileKind.ARRAY, Content.NPZ: FileKind.ARRAY, Content.HDF5: FileKind.MODEL,
    Content.PICKLE: FileKind.MODEL, Content.TORCH: FileKind.MODEL,
    Content.PNG: FileKind.IMAGE, Content.JPEG: FileKind.IMAGE, Content.TIFF: FileKind.IMAGE,
    Content.GIF: FileKind.IMAGE, Content.ZIP: FileKind.ARCHIVE, Content.TAR: FileKind.ARCHIVE,
    Content.GZIP: FileKind.ARCHIVE, Content.BZIP2: FileKind.ARCHIVE, Content.XZ: FileKind.ARCHIVE,
    Content.PARQUET: FileKind.TABLE, Content.XLSX: FileKind.TABLE, Content.CSV: FileKind.TABLE,
    Content.NOTEBOOK: FileKind.NOTEBOOK, Content.JSON: FileKind.TEXT, Content.TEXT: FileKind.TEXT,
    Content.PDF: FileKind.UNKNOWN, Content.UNKNOWN: FileKind.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class Inspection:
    """What a file is and what the checks found."""

    content: Content
    kind: FileKind
    findings: tuple[Finding, ...]


def _where(outer: str, inner: str) -> str:
    return f"{outer}!{inner}" if outer else inner


def _notebook_images(data: bytes, ctx: CheckContext, where: str) -> list[Finding]:
    """Pictures in notebook outputs (base64 PNG/JPEG) get the picture checks too."""
    findings: list[Finding] = []
    doc = json.loads(data)
    for index, cell in enumerate(doc.get("cells", []) if isinstance(doc, dict) else []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            bundle = output.get("data", {}) if isinstance(output, dict) else {}
            for mime in ("image/png", "image/jpeg"):
                raw = bundle.get(mime) if isinstance(bundle, dict) else None
                if raw is None:
                    continue
                text = "".join(raw) if isinstance(raw, list) else str(raw)
                try:
                    picture = base64.b64decode(text, validate=False)
                except (binascii.Error, ValueError):
                    findings.append(Finding(CHECK, "unreadable-output", Severity.BLOCK,
                                            "a picture output cannot be decoded",
                                            _where(where, f"cell {index + 1}")))
                    continue
                findings += images.check(picture, ctx, _where(where, f"cell {index + 1}"))
    return findings


def _route(name: str, content: Content, data: bytes, ctx: CheckContext, where: str,
           budget: archives.Budget, depth: int) -> list[Finding]:
    """The findings of every check that applies to ``content``."""
    if content is Content.DICOM:
        suffix = PurePosixPath(name).suffix.lower()
        disguise = "" if suffix in (".dcm", ".dicom", "") else \
            f" (named {suffix}, but the content is DICOM)"
        return [Finding(CHECK, "dicom", Severity.BLOCK,
                        f"DICOM never leaves the TRE{disguise}", where)]
    if content in (Content.NIFTI, Content.NRRD):
        return [Finding(CHECK, "medical-volume", Severity.BLOCK,
                        f"a {content.value.upper()} image volume: imaging data never leaves "
                        "the TRE", where)]
    if content in (Content.PDF, Content.UNKNOWN):
        return [Finding(CHECK, "unknown-content", Severity.BLOCK,
                        f"the content is {'a PDF' if content is Content.PDF else 'not recognised'}"
                        ": only files the checks can read may leave (tables as CSV, figures as "
                        "PNG, text as UTF-8)", where)]
    if content is Content.EMPTY:
        return [Finding(CHECK, "empty", Severity.INFO, "the file is empty", where)]
    if content in ARCHIVES:
        return _archive(content, data, ctx, where, budget, depth)
    if content in IMAGES:
        return images.check(data, ctx, where)
    if content in (Content.TORCH, Content.PICKLE, Content.HDF5, Content.NPY, Content.NPZ):
        found = models.check(name, content, data, ctx, where)
        if content is Content.NPZ:
            found += _archive(Content.ZIP, data, ctx, where, budget, depth)
        return found
    if content in TABLES:
        found = scan(data, ctx.identifiers, where) if content is Content.CSV else []
        return found + tables.check(content, data, ctx, where)
    found = scan(data, ctx.identifiers, where)
    if content is Content.NOTEBOOK:
        found += _notebook_images(data, ctx, where)
    return found


def _archive(content: Content, data: bytes, ctx: CheckContext, where: str,
             budget: archives.Budget, depth: int) -> list[Finding]:
    if depth >= ctx.limits.max_archive_depth:
        return [Finding(archives.CHECK, "archive-too-deep", Severity.BLOCK,
                        f"archives nested more than {ctx.limits.max_archive_depth} deep cannot "
                        "be checked", where)]
    findings: list[Finding] = [Finding(archives.CHECK, "archive", Severity.WARN,
                                       "an archive: every member is checked, and reviewers "
                                       "must look inside", where)] if depth == 0 else []
    try:
        for item in archives.members(content, data, budget, ctx.limits):
            if isinstance(item, Finding):
                findings.append(Finding(item.check, item.code, item.severity, item.message,
                                        _where(where, item.where)))
                continue
            member, payload = item
            inner = sniff(member, payload)
            findings += _route(member, inner, payload, ctx, _where(where, member), budget,
                               depth + 1)
    except archives.ArchiveLimitExceeded as exc:
        findings.append(Finding(archives.CHECK, "archive-bomb", Severity.BLOCK,
                                f"{exc}: the archive cannot be checked", where))
    return findings


def inspect(name: str, data: bytes, ctx: CheckContext) -> Inspection:
    """Sniff ``data`` and run every check that applies; never raises on bad content."""
    content = sniff(name, data)
    findings = _route(name, content, data, ctx, "", archives.Budget.of(ctx.limits), 0)
    return Inspection(content, KINDS[content], tuple(findings))
