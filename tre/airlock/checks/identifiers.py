"""Identifier leakage: the project's pseudonyms and UIDs, and patient-id or birth-date-like text.

Candidates are found by patterns that begin with a literal (``P-`` for pseudonyms, each UID
root such as ``2.25.``), which the regular-expression engine scans for at memchr speed, and are
then looked up in the request's :class:`IdentifierSet`: the cost grows with the file, not with
the number of identifiers. Pseudonyms of another shape fall back to splitting the text into
tokens. The keyword-anchored patterns (patient ids, birth dates) run only when a keyword occurs
at all, in any case (and, for patient ids, the ``:`` or ``=`` they need). Every presence test
looks for the needle's bytes one by one first, at memchr speed (see :class:`_Text`).
"""

from __future__ import annotations

import functools
import re

import numpy as np

from tre.airlock.checks.context import IdentifierSet
from tre.domain.egress import Finding, Severity

CHECK = "identifiers"
MAX_SHOWN = 5
FOLD_CHUNK = 1 << 18
"""Bytes case-folded at a time when looking for keywords."""

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


class _Text:
    """Bytes to scan, with presence tests that each search the bytes once.

    A needle can only occur where each of its bytes does, and a single byte is found at memchr
    speed: most needles are ruled out without a slower substring search. Keywords are looked
    for, only when each of their letters occurs in some case, in case-folded chunks (in cache;
    never a folded copy of the whole file).
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._found: dict[bytes, bool] = {}
        self._folded: dict[bytes, bool] = {}

    def has(self, needle: bytes) -> bool:
        """Whether ``needle`` occurs."""
        if needle not in self._found:
            self._found[needle] = (needle in self.data if len(needle) == 1 else
                                   all(self.has(bytes([b])) for b in needle)
                                   and needle in self.data)
        return self._found[needle]

    def has_keyword(self, keywords: tuple[bytes, ...]) -> bool:
        """Whether any keyword (lower-case ASCII letters) occurs, ignoring ASCII case."""
        if not all(k.isalpha() and k.islower() for k in keywords):
            raise ValueError(f"keywords must be lower-case ASCII letters: {keywords!r}")
        possible = [k for k in keywords if all(self.has(bytes([b])) or self.has(bytes([b]).upper())
                                               for b in k)]
        unknown = [k for k in possible if k not in self._folded]
        if unknown:
            self._folded.update(dict.fromkeys(unknown, False))
            self._fold_search(unknown)
        return any(self._folded[k] for k in possible)

    def _fold_search(self, keywords: list[bytes]) -> None:
        # Setting bit 0x20 lower-cases ASCII letters and maps no other byte onto one, so a
        # letters-only keyword is in the folded bytes exactly where it is in any case.
        overlap = max(map(len, keywords)) - 1
        source = np.frombuffer(self.data, dtype=np.uint8)
        folded = bytearray(FOLD_CHUNK + overlap)
        target = np.frombuffer(folded, dtype=np.uint8)
        for start in range(0, source.size, FOLD_CHUNK):
            part = source[start:start + FOLD_CHUNK + overlap]
            np.bitwise_or(part, 0x20, out=target[:part.size])
            for keyword in keywords:
                if not self._folded[keyword] and folded.find(keyword, 0, part.size) >= 0:
                    self._folded[keyword] = True
            if all(self._folded[k] for k in keywords):
                return


def _patient_ids(text: _Text) -> set[bytes]:
    """Patient-identifier-like values: a keyword then ``:`` or ``=``, or an MRN token."""
    found: set[bytes] = set()
    if (text.has(b":") or text.has(b"=")) and text.has_keyword(_PATIENT_KEYWORDS):
        found.update(_PATIENT_ID.findall(text.data))
    if text.has(b"MRN"):
        found.update(_MRN_TOKEN.findall(text.data))
    return found


def scan(data: bytes, ids: IdentifierSet, where: str = "") -> list[Finding]:
    """Findings for identifiers in ``data`` (text, or text extracted from a file)."""
    findings: list[Finding] = []
    text = _Text(data)
    pseudonyms = set(_PSEUDONYM.findall(data)) & ids.pseudonyms if text.has(b"P-") else set()
    if any(not _PSEUDONYM.fullmatch(p) for p in ids.pseudonyms):
        pseudonyms |= _tokens(data) & ids.pseudonyms
    if pseudonyms:
        findings.append(Finding(
            CHECK, "pseudonym", Severity.BLOCK,
            f"contains {len(pseudonyms)} patient pseudonym(s) of the project's datasets "
            f"({_shown(pseudonyms)}): results must not list individuals", where))
    candidates: set[bytes] = set()
    for root in _uid_roots(ids.uids):
        if text.has(root):
            candidates.update(m.rstrip(b".") for m in
                              re.findall(re.escape(root) + rb"[\d.]{1,60}", data))
    known = candidates & ids.uids
    if known:
        findings.append(Finding(
            CHECK, "dataset-uid", Severity.BLOCK,
            f"contains {len(known)} DICOM UID(s) of the project's datasets ({_shown(known)}): "
            "UIDs link results to individual studies and images", where))
    remapped = set(_REMAPPED_UID.findall(data)) - known if text.has(b"2.25.") else set()
    remapped = {u for u in remapped if not any(k.startswith(u) for k in known)}
    if remapped:
        findings.append(Finding(
            CHECK, "uid-like", Severity.WARN,
            f"contains {len(remapped)} value(s) shaped like DICOM UIDs ({_shown(remapped)}): "
            "check they name no study, series or image", where))
    patient = _patient_ids(text)
    if patient:
        findings.append(Finding(
            CHECK, "patient-id-like", Severity.WARN,
            f"contains {len(patient)} patient-identifier-like value(s) ({_shown(patient)})",
            where))
    births = _BIRTH.findall(data) if text.has_keyword(_BIRTH_KEYWORDS) else []
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
