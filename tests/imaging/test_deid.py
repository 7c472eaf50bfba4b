"""De-identification: the profile as data, the engine on real files, zero planted identifiers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tre.imaging.deid import profile
from tre.imaging.deid.engine import Deidentifier, shift_temporal
from tre.imaging.deid.pixels import pixel_risks
from tre.imaging.deid.rules import Op, ProfileError, compile_rules, op_for
from tre.imaging.deid.sources import Source
from tre.imaging.deid.worker import FileDeidentifier
from tre.imaging.ingest import IngestRequest, ingest
from tre.imaging.pseudonyms import PseudonymKey, patient_pseudonym, remap_uid
from tre.services.node import Node

KEY = PseudonymKey(b"0123456789abcdef0123456789abcdef")


def elements(ds: Dataset, where: str = "") -> Iterator[tuple[str, pydicom.DataElement]]:
    """Every element, nested sequences and file meta included."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        yield from elements(meta, "meta.")
    for elem in ds:
        yield where + (elem.keyword or str(elem.tag)), elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                yield from elements(item, f"{where}{elem.keyword}[{i}].")


def test_profile_is_complete_and_disjoint_from_keep_list() -> None:
    basic = {keyword for _, keyword, _ in profile.BASIC}
    assert len(profile.BASIC) == 617
    assert not basic & set(profile.KEEP)
    assert {a for _, _, a in profile.BASIC} <= {a.value for a in profile.Action}
    rules = compile_rules(profile.DEFAULT_OPTIONS)
    assert rules[0x00100010] is Op.PSEUDONYM  # PatientName
    assert rules[0x00080020] is Op.SHIFT_DATE  # StudyDate, Modified Dates option
    assert rules[0x00101010] is Op.KEEP  # PatientAge, Retain Patient Characteristics
    assert rules[0x00081030] is Op.CLEAN_TEXT  # StudyDescription, Clean Descriptors
    assert rules[0x0040A730] is Op.CLEAN_ITEMS  # ContentSequence, Clean Structured Content
    assert rules[0x0020000D] is Op.UID  # StudyInstanceUID
    basic_only = compile_rules(())
    assert basic_only[0x00080020] is Op.EMPTY
    assert basic_only[0x00101010] is Op.REMOVE
    assert basic_only[0x00081030] is Op.REMOVE


def test_unknown_action_raises_instead_of_blanking() -> None:
    with pytest.raises(ProfileError, match="unknown action 'B'"):
        op_for("B", "LO", "StudyDescription")
    with pytest.raises(ProfileError, match="action C is not defined"):
        op_for("C", "US", "Rows")


def test_pseudonyms_are_keyed_stable_and_short() -> None:
    assert patient_pseudonym(KEY, "MRN1") == patient_pseudonym(KEY, " MRN1 ")
    assert patient_pseudonym(KEY, "MRN1") != patient_pseudonym(KEY, "MRN2")
    assert patient_pseudonym(KEY, "MRN1") != patient_pseudonym(PseudonymKey(b"x" * 32), "MRN1")
    assert patient_pseudonym(KEY, "MRN1").startswith("P-")
    uid = remap_uid(KEY, "1.2.3.4")
    assert uid.startswith("2.25.")
    assert len(uid) <= 64
    assert uid == remap_uid(KEY, "1.2.3.4")
    assert remap_uid(KEY, "1.2.840.10008.5.1.4.1.1.2") == "1.2.840.10008.5.1.4.1.1.2"
    with pytest.raises(Exception, match="fewer than 32"):
        PseudonymKey(b"short")


def test_ct_small_is_cleaned_fail_closed() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    original_uid, original_study = ds.SOPInstanceUID, ds.StudyInstanceUID
    done = Deidentifier(KEY).deidentify(ds)
    assert ds.PatientName == ds.PatientID == done.pseudonym
    assert ds.SOPInstanceUID == remap_uid(KEY, original_uid)
    assert ds.StudyInstanceUID == remap_uid(KEY, original_study)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == [
        "113100", "113104", "113105", "113107", "113108"]
    assert not [e for e in ds if e.tag.is_private]
    assert done.removed_private > 0
    allowed = compile_rules(profile.DEFAULT_OPTIONS)
    assert [w for w, e in elements(ds)
            if not w.startswith("meta.") and int(e.tag) not in allowed] == []
    assert "InstitutionName" not in ds or not ds.InstitutionName


@pytest.mark.parametrize("name", ["rtplan.dcm", "rtstruct.dcm", "test-SR.dcm",
                                  "nested_priv_SQ.dcm", "priv_SQ.dcm", "JPEG2000.dcm",
                                  "MR_small_implicit.dcm", "MR_small_bigendian.dcm"])
def test_nested_sequences_keep_only_named_attributes(name: str) -> None:
    ds = pydicom.dcmread(get_testdata_file(name), force=True)
    Deidentifier(KEY).deidentify(ds)
    allowed = compile_rules(profile.DEFAULT_OPTIONS)
    found = [(w, e.tag) for w, e in elements(ds) if not w.startswith("meta.")
             and (e.tag.is_private or int(e.tag) not in allowed)]
    assert found == []


def test_dates_shift_consistently() -> None:
    from datetime import timedelta

    shift = timedelta(days=-10, seconds=7200)
    assert shift_temporal("20240131", "DA", shift) == "20240121"
    assert shift_temporal("2024", "DA", shift) is None
    assert shift_temporal("235900", "TM", shift) == "015900"
    assert shift_temporal("20240131-20240201", "DA", shift) == "20240121-20240122"


def test_pixel_risk_is_separate_from_header_cleaning() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert pixel_risks(ds) == []
    ds.BurnedInAnnotation = "YES"
    assert pixel_risks(ds) == ["BurnedInAnnotation is YES"]
    sc = pydicom.dcmread(get_testdata_file("SC_rgb_small_odd.dcm"))
    assert pixel_risks(sc)


@pytest.mark.parametrize("raw_path", [True, False], ids=["bytes-path", "pydicom-path"])
def test_synthetic_corpus_has_zero_planted_identifiers(node: Node, tmp_path: Path,
                                                       raw_path: bool) -> None:
    synth = pytest.importorskip("tre.imaging.synth")
    src = tmp_path / "src"
    synth.generate(src, patients=3, studies=2, series=1, slices=3, size=16, seed=7)
    planted = json.loads((src / "planted.json").read_text())["patients"]
    result = ingest(node, tmp_path / "home", "host:test",
                    IngestRequest(src / "dicom", "lung-ct", KEY, clinical=src / "clinical.csv",
                                  raw_path=raw_path))
    assert result.counts["published"] == 3 * 2 * 3
    assert result.counts["unreadable"] == result.counts["quarantined"] == 0
    values = {v["value"] for p in planted.values() for v in p["values"]} | set(planted)
    uids = {u for p in planted.values() for u in p["uids"]}
    needles = {v for v in values | uids if len(v) >= 4}
    outputs = sorted(result.path.rglob("*"))
    assert len([p for p in outputs if p.suffix == ".dcm"]) == 18
    leaks = []
    for path in outputs:
        if not path.is_file():
            continue
        raw = path.read_bytes()
        leaks += [(path.name, v) for v in needles
                  if v.encode() in raw or v.upper().encode() in raw.upper()]
        if path.suffix == ".dcm":
            ds = pydicom.dcmread(path)
            assert ds.preamble == b"\0" * 128
            assert {e.keyword for e in ds.file_meta} == {
                "FileMetaInformationGroupLength", "FileMetaInformationVersion",
                "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID",
                "ImplementationClassUID", "ImplementationVersionName"}
            for where, elem in elements(ds):
                assert not elem.tag.is_private, where
                text = str(elem.value).upper() if elem.VR != "SQ" else ""
                leaks += [(where, v) for v in needles if v.upper() in text]
    assert leaks == []
    clinical = (result.path / "clinical.csv").read_text()
    dicom_patients = {p.name for p in (result.path / "dicom").iterdir()}
    assert {line.split(",")[0] for line in clinical.splitlines()[1:]} == dicom_patients


def test_pydicom_path_cleans_a_kept_attribute_encoded_as_a_sequence(tmp_path: Path) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    item = Dataset()
    item.PatientName = "DOE^JOHN"
    item.OperatorsName = "ROE^RICHARD"
    item.Modality = "CT"
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.10.543.7"
    item.add_new(0x00191001, "LO", "JOHN DOE 1960")  # private, no creator
    del ds.Manufacturer
    ds.add_new(0x00080070, "SQ", Sequence([item]))  # Manufacturer (kept, LO) as a sequence
    source = tmp_path / "in.dcm"
    ds.save_as(source)
    worker = FileDeidentifier(KEY, profile.DEFAULT_OPTIONS, tmp_path)
    outcome = worker.run(0, Source(str(source)))
    assert (outcome.status, dict(worker.fallbacks)) == (
        "published", {"sequence VR on an attribute kept as a value": 1})
    written = Path(outcome.written).read_bytes()
    assert not [v for v in (b"DOE", b"ROE", b"JOHN", b"1.2.826.0.1.3680043.10.543.7")
                if v in written]
    out = pydicom.dcmread(outcome.written).Manufacturer
    assert [{e.keyword or str(e.tag): e.value for e in i} for i in out] == [{
        "OperatorsName": "", "ReferencedSOPInstanceUID": remap_uid(
            KEY, "1.2.826.0.1.3680043.10.543.7"),
        "Modality": "CT", "PatientName": patient_pseudonym(KEY, str(ds.PatientID))}]


def test_pydicom_path_drops_a_kept_sequence_that_is_not_one() -> None:
    engine = Deidentifier(KEY)
    referenced = 0x00081140  # ReferencedImageSequence: as if the keep-list named it
    engine.rules = {**engine.rules, referenced: Op.KEEP}
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    unknown = DataElement(referenced, "OB", b"\x01\x02JOHN DOE\x00")
    unknown.VR = "UN"  # bytes that cannot be inspected (as read with UN left as it is)
    ds[referenced] = unknown
    before = Deidentifier(KEY).deidentify(pydicom.dcmread(get_testdata_file("CT_small.dcm")))
    done = engine.deidentify(ds)
    assert referenced not in ds
    assert done.removed_by_profile == before.removed_by_profile + 1
    assert (done.removed_private, done.removed_unlisted) == (before.removed_private,
                                                             before.removed_unlisted)
