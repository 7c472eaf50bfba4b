"""Identifier leakage: the project's pseudonyms and UIDs, and patient-id or birth-date-like text.

Candidates are found by patterns that begin with a literal (``P-`` for pseudonyms, each UID
root such as ``2.25.``), which the regular-expression engine scans for at memchr speed, and are
then looked up in the request's :class:`IdentifierSet`: the cost grows with the file, not with
the number of identifiers. Pseudonyms of another shape fall back to splitting the text into
tokens. The keyword-anchored patterns (patient ids, birth dates) run only when their keyword
occurs at all.
"""

from __future__ import annotations

import functools
import re

from tre.airlock.checks.context import IdentifierSet
from tre.domain.egress import Finding, Severity

CHECK = "identifiers"
MAX_SHOWN = 5

_TOKEN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
_SEPARATORS = bytes(b if b in _TOKEN_BYTES else 0x20 for b in range(256))
_PSEUDONYM = re.compile(rb"P-[A-Z2-7]{12}")
_REMAPPED_UID = re.compile(rb"2\.25\.\d{10,39}")
_PATIENT_KEYWORDS = (b"patient", b"mrn", b"nhs", b"ssn")
_BIRTH_KEYWORDS = (b"birth", b"dob", b"born")
_PATIENT_ID = re.compile(
    rb"(?i)(?:patient[ _-]?(?:id|identifier|number|no)|\bmrn|\bnhs[ _-]?(?:no|number)|"
    rb"\bssn)\W{0,3}[:=]\s*['\"]?([A-Za-z0-9-]{4,})")
_MRN_TOKEN = re.compile(rb"\bMRN[-_ ]?\d{5,}\b")
_BIRTH = re.compile(
    rb"(?i)(?:birth|\bdob\b|\bborn\b)[^\n]{0,40}?(?:\b(?:19|20)\d\d[-/.]?[01]\d[-/.]?[0-3]\d\b"
    rb"|\b[0-3]?\d[-/.][01]?\d[-/.](?:19|20)\d\d\b)")


def _shown(values: set[bytes]) -> str:
    listed = sorted(v.decode("ascii", "replace") for v in values)
    more = f" and {len(listed) - MAX_SHOWN} more" if len(listed) > MAX_SHOWN else ""
    return ", ".join(listed[:MAX_SHOWN]) + more


def _tokens(data: bytes) -> set[bytes]:
    """Every run of letters, digits, dots and dashes (for identifiers of no fixed shape)."""
    tokens = set(bytes(data).translate(_SEPARATORS).split())
    return tokens | {t.strip(b".-") for t in tokens}


@functools.lru_cache(maxsize=8)
def _uid_roots(uids: frozenset[bytes]) -> tuple[bytes, ...]:
    """The distinct first two components of the UIDs (``2.25.``, ``1.2.``...)."""
    return tuple(sorted({b".".join(u.split(b".")[:2]) + b"." for u in uids}))


def scan(data: bytes, ids: IdentifierSet, where: str = "") -> list[Finding]:
    """Findings for identifiers in ``data`` (text, or text extracted from a file)."""
    findings: list[Finding] = []
    pseudonyms = set(_PSEUDONYM.findall(data)) & ids.pseudonyms
    if any(not _PSEUDONYM.fullmatch(p) for p in ids.pseudonyms):
        pseudonyms |= _tokens(data) & ids.pseudonyms
    if pseudonyms:
        findings.append(Finding(
            CHECK, "pseudonym", Severity.BLOCK,
            f"contains {len(pseudonyms)} patient pseudonym(s) of the project's datasets "
            f"({_shown(pseudonyms)}): results must not list individuals", where))
    candidates: set[bytes] = set()
    for root in _uid_roots(ids.uids):
        if root in data:
            candidates.update(m.rstrip(b".") for m in
                              re.findall(re.escape(root) + rb"[\d.]{1,60}", data))
    known = candidates & ids.uids
    if known:
        findings.append(Finding(
            CHECK, "dataset-uid", Severity.BLOCK,
            f"contains {len(known)} DICOM UID(s) of the project's datasets ({_shown(known)}): "
            "UIDs link results to individual studies and images", where))
    remapped = set(_REMAPPED_UID.findall(data)) - known if b"2.25." in data else set()
    remapped = {u for u in remapped if not any(k.startswith(u) for k in known)}
    if remapped:
        findings.append(Finding(
            CHECK, "uid-like", Severity.WARN,
            f"contains {len(remapped)} value(s) shaped like DICOM UIDs ({_shown(remapped)}): "
            "check they name no study, series or image", where))
    low = bytes(data).lower() if len(data) else b""
    patient: set[bytes] = set()
    if any(k in low for k in _PATIENT_KEYWORDS):
        patient = set(_PATIENT_ID.findall(data)) | set(_MRN_TOKEN.findall(data))
    if patient:
        findings.append(Finding(
            CHECK, "patient-id-like", Severity.WARN,
            f"contains {len(patient)} patient-identifier-like value(s) ({_shown(patient)})",
            where))
    births = _BIRTH.findall(data) if any(k in low for k in _BIRTH_KEYWORDS) else []
    if births:
        findings.append(Finding(
            CHECK, "birth-date-like", Severity.WARN,
            f"contains {len(births)} birth-date-like value(s): dates of birth identify", where))
    if ids.problems:
        findings.append(Finding(
            CHECK, "identifiers-incomplete", Severity.WARN,
            "the project's identifiers could not all be read (" + "; ".join(ids.problems)
            + "): a human must check for pseudonyms and UIDs", where))
    return findings
