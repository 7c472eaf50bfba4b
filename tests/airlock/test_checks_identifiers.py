"""Identifier scan: the quick presence tests never hide a match the patterns would find."""

from __future__ import annotations

import pytest
from airlock.helpers import PSEUDONYM, SERIES_UID

from tre.airlock.checks.context import IdentifierSet
from tre.airlock.checks.identifiers import FOLD_CHUNK, scan

IDS = IdentifierSet(frozenset({PSEUDONYM.encode(), b"anon-17"}),
                    frozenset({SERIES_UID.encode(), b"1.2.840.99.1"}))


def codes(data: bytes) -> list[tuple[str, str]]:
    """Sorted (code, message) of the scan's findings."""
    return sorted((f.code, f.message) for f in scan(data, IDS))


PATIENT = "patient-id-like"
BIRTH = "birth-date-like"


@pytest.mark.parametrize(("text", "expected"), [
    (b"PATIENT ID: AB1234\n", [(PATIENT, "contains 1 patient-identifier-like value(s) (AB1234)")]),
    (b"Patient_Number = 55-1234\n",
     [(PATIENT, "contains 1 patient-identifier-like value(s) (55-1234)")]),
    (b"patient id AB1234 (no colon, no equals sign)\n", []),
    (b"record MRN0012345 reviewed\n",
     [(PATIENT, "contains 1 patient-identifier-like value(s) (MRN0012345)")]),
    (b"mrn0012345 in lower case is not an MRN token\n", []),
    (b"DoB 1961-02-03\n", [(BIRTH, "contains 1 birth-date-like value(s): dates of birth "
                                   "identify")]),
    (b"BORN: 03/02/1961\n", [(BIRTH, "contains 1 birth-date-like value(s): dates of birth "
                                     "identify")]),
    (b"date of BiRtH,1961-02-03\n", [(BIRTH, "contains 1 birth-date-like value(s): dates of "
                                             "birth identify")]),
    (b"dob\n1961-02-03\n", []),
    (b"12,3.5,1961-02-03\n" * 1000, []),
])
def test_patient_ids_and_birth_dates_in_any_case(text: bytes,
                                                 expected: list[tuple[str, str]]) -> None:
    assert codes(text) == expected


def test_pseudonyms_of_any_shape_and_uids_of_any_root() -> None:
    data = f"{PSEUDONYM} anon-17, series {SERIES_UID}, image 1.2.840.99.1.\n".encode()
    assert codes(data) == [
        ("dataset-uid", f"contains 2 DICOM UID(s) of the project's datasets (1.2.840.99.1, "
         f"{SERIES_UID}): UIDs link results to individual studies and images"),
        ("pseudonym", f"contains 2 patient pseudonym(s) of the project's datasets "
         f"({PSEUDONYM}, anon-17): results must not list individuals")]


def test_uid_shaped_values_are_flagged_without_known_uids() -> None:
    assert codes(b"model trained on 2.25.9988776655443322\n") == [(
        "uid-like", "contains 1 value(s) shaped like DICOM UIDs (2.25.9988776655443322): check "
        "they name no study, series or image")]


def test_numbers_alone_have_no_identifiers() -> None:
    assert codes(b"0.5,12,2.25,1.2.3\n" * 10_000) == []


@pytest.mark.parametrize("offset", [3, 2, 1, 0])
def test_keyword_across_the_lower_casing_chunks_is_found(offset: int) -> None:
    data = b"." * (FOLD_CHUNK - offset) + b"DoB 1961-02-03\n" + b"." * FOLD_CHUNK
    assert codes(data) == [(BIRTH, "contains 1 birth-date-like value(s): dates of birth identify")]
