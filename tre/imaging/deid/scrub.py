"""Clean free text (action C on descriptors): remove the file's own identifiers and id-like text."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Attributes whose values identify someone; their values are removed from any cleaned text.
IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientBirthDate", "PatientAddress", "PatientTelephoneNumbers",
    "IssuerOfPatientID", "AccessionNumber", "StudyID", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord",
    "RequestingPhysician", "StationName", "DeviceSerialNumber", "MilitaryRank",
    "BranchOfService", "MedicalRecordLocator", "PatientInsurancePlanCodeSequence",
    "ResponsiblePerson", "ResponsibleOrganization", "CountryOfResidence", "RegionOfResidence",
)

_ID_LIKE = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|\b\d{4}[-./]?\d{2}[-./]?\d{2}\b"  # 2024-01-31, 20240131
    r"|\b\d{1,2}[-./]\d{1,2}[-./]\d{2,4}\b"  # 31.01.2024, 1/31/24
    r"|\+?\d[\d ()-]{6,}\d"  # phone numbers, long number ids
    r"|\b[A-Za-z]*\d{5,}[A-Za-z]*\b",  # MRN-like tokens
)
_SPLIT = re.compile(r"[\s^,;=/\\]+")
_SPACES = re.compile(r"\s{2,}")
MIN_TERM = 3


def identifying_terms(values: Iterable[str]) -> list[str]:
    """The whole values and their name parts (3+ characters), longest first."""
    terms: set[str] = set()
    for value in values:
        value = value.strip()
        if len(value) >= MIN_TERM:
            terms.add(value)
        terms.update(p for p in _SPLIT.split(value) if len(p) >= MIN_TERM)
    return sorted(terms, key=lambda t: (-len(t), t))


class TextScrubber:
    """Removes a file's identifying terms and id-like patterns from free text."""

    def __init__(self, terms: Iterable[str]) -> None:
        ordered = list(terms)
        self._terms = (re.compile("|".join(re.escape(t) for t in ordered), re.IGNORECASE)
                       if ordered else None)

    def clean(self, text: str) -> str:
        """``text`` with every identifying term and id-like pattern taken out."""
        if self._terms is not None:
            text = self._terms.sub(" ", text)
        text = _ID_LIKE.sub(" ", text)
        return _SPACES.sub(" ", text).strip(" -_:,;.")
