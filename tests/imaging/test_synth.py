"""Synthetic corpora: real DICOM with sound geometry, aligned masks, planted identifiers, twins."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import struct
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
import typer
from typer.testing import CliRunner

from tre.cli.synth import synth
from tre.db.datasets import Dataset
from tre.errors import InvalidInput
from tre.imaging.layout import Manifest, ManifestFile
from tre.imaging.synth import CT_IMAGE_STORAGE, generate, generate_from_plan
from tre.imaging.synth_identity import HOSPITAL_UID_ROOT
from tre.imaging.synth_like import OTHER, CategoricalColumn, NumericColumn, profile
from tre.imaging.synth_nifti import dicom_affine, read_labels, write_labels
from tre.imaging.synth_plan import (
    CancerClinicalModel,
    CorpusPlan,
    PatientPlan,
    SeriesPlan,
    StudyPlan,
)
from tre.services import catalogue
from tre.services.bootstrap import initialise, open_node
from tre.settings import Settings


def _series(root: Path) -> dict[str, list[pydicom.Dataset]]:
    """Every series under ``root/dicom`` with its slices in instance order."""
    found: defaultdict[str, list[pydicom.Dataset]] = defaultdict(list)
    for path in sorted((root / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        found[ds.SeriesInstanceUID].append(ds)
    return {uid: sorted(s, key=lambda d: int(d.InstanceNumber)) for uid, s in found.items()}


def _tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "corpus"
    result = generate(out, patients=3, studies=2, series=2, slices=12, size=64, seed=11)
    assert (result.patients, result.studies, result.series, result.instances) == (3, 6, 12, 144)
    return out


def test_series_geometry_and_references_are_consistent(corpus: Path) -> None:
    series = _series(corpus)
    assert len(series) == 12
    frames_by_study: defaultdict[str, set[str]] = defaultdict(set)
    sops = set()
    for uid, slices in series.items():
        first = slices[0]
        assert uid.startswith(HOSPITAL_UID_ROOT)
        assert [int(s.InstanceNumber) for s in slices] == list(range(1, 13))
        orientation = np.array(first.ImageOrientationPatient, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        origin = np.array(first.ImagePositionPatient, dtype=float)
        thickness = float(first.SliceThickness)
        for k, ds in enumerate(slices):
            assert ds.SOPClassUID == CT_IMAGE_STORAGE == ds.file_meta.MediaStorageSOPClassUID
            assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
            assert ds.SeriesInstanceUID == uid
            assert ds.StudyInstanceUID == first.StudyInstanceUID
            assert ds.FrameOfReferenceUID == first.FrameOfReferenceUID
            assert list(ds.ImageOrientationPatient) == list(first.ImageOrientationPatient)
            np.testing.assert_allclose(np.array(ds.ImagePositionPatient, dtype=float),
                                       origin + k * thickness * normal, atol=1e-4)
            assert float(ds.SliceLocation) == pytest.approx(origin @ normal + k * thickness,
                                                            abs=1e-4)
            assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored) == (64, 64, 16, 12)
            assert (ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType) == (1, -1024, "HU")
            assert (ds.WindowCenter, ds.WindowWidth) == (40, 400)
            sops.add(ds.SOPInstanceUID)
        frames_by_study[first.StudyInstanceUID].add(first.FrameOfReferenceUID)
        hu = slices[6].pixel_array.astype(int) * int(first.RescaleSlope) + int(
            first.RescaleIntercept)
        assert hu.min() >= -1024
        assert hu[0, 0] < -900  # air in the corner
        assert 0 < np.median(hu[24:40, 24:40]) < 150 or np.median(hu[24:40, 24:40]) < -700
    assert len(sops) == 144
    assert len(frames_by_study) == 6
    assert all(len(frames) == 1 for frames in frames_by_study.values())


def test_masks_align_with_the_lesions(corpus: Path) -> None:
    series = _series(corpus)
    index = json.loads((corpus / "lesions.json").read_text())["series"]
    assert len(index) == 12
    for entry in index:
        slices = series[entry["series_instance_uid"]]
        volume = read_labels(corpus / entry["mask"])
        assert volume.data.shape == (12, 64, 64)
        first = slices[0]
        expected = dicom_affine(first.ImagePositionPatient, first.ImageOrientationPatient,
                                tuple(float(v) for v in first.PixelSpacing),
                                float(first.SliceThickness))
        np.testing.assert_allclose(volume.affine, expected, atol=1e-3)
        np.testing.assert_allclose(volume.affine, np.array(entry["affine_ras"]), atol=1e-3)
        hu = np.stack([s.pixel_array.astype(int) - 1024 for s in slices])
        assert entry["lesions"]
        for lesion in entry["lesions"]:
            k, j, i = np.nonzero(volume.data == lesion["label"])
            assert len(k) > 0
            # the label's voxels, mapped through the affine, sit around the lesion's centre
            ras = volume.affine @ np.vstack([i, j, k, np.ones_like(i)])
            centroid_lps = ras[:3].mean(axis=1) * np.array([-1, -1, 1])
            step = max(float(first.PixelSpacing[0]), float(first.SliceThickness))
            assert np.linalg.norm(centroid_lps - lesion["centre_lps"]) < 1.5 * step
            # and the pixels under the mask are the lesion's (noise is about 12 HU)
            inside = hu[volume.data == lesion["label"]]
            assert abs(float(np.median(inside)) - lesion["hu"]) < 15


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    args = {"patients": 2, "studies": 1, "series": 1, "slices": 4, "size": 32}
    generate(tmp_path / "a", seed=5, **args)
    generate(tmp_path / "b", seed=5, **args)
    generate(tmp_path / "c", seed=6, **args)
    a, b, c = (_tree_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) == 2 * 4 + 2 + 4  # slices, masks, clinical/planted/lesions/synthetic
    assert set(a.values()).isdisjoint(v for k, v in c.items() if k.endswith(".dcm"))


def test_files_are_what_pydicom_itself_would_write(corpus: Path) -> None:
    for path in sorted((corpus / "dicom").rglob("*.dcm"))[::37]:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, pydicom.dcmread(path), enforce_file_format=True)
        assert buffer.getvalue() == path.read_bytes()


def test_every_planted_value_is_in_the_patients_files(corpus: Path) -> None:
    planted = json.loads((corpus / "planted.json").read_text())
    assert planted["uid_root"] == HOSPITAL_UID_ROOT
    where_expected = {
        "PatientName", "PatientID", "PatientBirthDate", "PatientAddress", "OtherPatientIDs",
        "OtherPatientIDsSequence[0].PatientID", "InstitutionName", "ReferringPhysicianName",
        "AccessionNumber", "StudyDate", "StudyDescription", "SeriesDescription[0]",
        "ImageComments[0]", "RequestAttributesSequence[0].RequestedProcedureDescription",
        "ReferencedPatientSequence[0].ReferencedSOPInstanceUID",
        "ProcedureCodeSequence[0].CodeMeaning", "Private(0009,1001)", "StudyInstanceUID",
        "FrameOfReferenceUID",
    }
    assert set(planted["patients"]) == {p.name for p in (corpus / "dicom").iterdir()}
    for patient_id, marks in planted["patients"].items():
        assert where_expected <= {v["where"] for v in marks["values"]}
        raw = b"".join(p.read_bytes() for p in (corpus / "dicom" / patient_id).rglob("*.dcm"))
        missing = [v for v in marks["values"] if v["value"].encode() not in raw]
        assert missing == []
        assert all(u.encode() in raw and u.startswith(HOSPITAL_UID_ROOT) for u in marks["uids"])
        ds = pydicom.dcmread(next((corpus / "dicom" / patient_id).rglob("*.dcm")))
        block = ds.private_block(0x0009, planted["private_creator"])
        assert block[0x01].value in ds.StudyDescription
        assert ds.PatientName.family_name in ds.SeriesDescription
        nested = ds.RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0].CodeMeaning
        assert ds.PatientName.family_name in nested


def test_clinical_table_is_keyed_by_the_original_patient_id(corpus: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((corpus / "clinical.csv").read_text())))
    assert list(rows[0]) == list(CancerClinicalModel().columns)
    assert {r["patient_id"] for r in rows} == {p.name for p in (corpus / "dicom").iterdir()}
    for row in rows:
        ds = pydicom.dcmread(next((corpus / "dicom" / row["patient_id"]).rglob("*.dcm")))
        assert ds.PatientSex == row["sex"]
        assert int(ds.PatientAge[:3]) == int(row["age"])
    marker = json.loads((corpus / "synthetic.json").read_text())
    assert marker == {"synthetic": True, "like": None, "seed": 11, "generator": "tre.imaging.synth",
                      "patients": 3, "studies": 6, "series": 12, "instances": 144}


def test_nifti_header_is_valid_for_oblique_geometry(tmp_path: Path) -> None:
    c, s = np.cos(0.3), np.sin(0.3)
    affine = dicom_affine((10.0, -20.0, 5.0), (1.0, 0.0, 0.0, 0.0, c, s), (0.8, 0.7), 2.5)
    data = np.zeros((3, 4, 5), dtype=np.uint8)
    data[1, 2, 3] = 7
    path = tmp_path / "m.nii.gz"
    write_labels(path, data, affine)
    back = read_labels(path)
    assert np.array_equal(back.data, data)
    np.testing.assert_allclose(back.affine, affine, atol=1e-5)
    import gzip

    raw = gzip.decompress(path.read_bytes())
    assert struct.unpack_from("<8h", raw, 40)[:4] == (3, 5, 4, 3)
    qfac, *zooms = struct.unpack_from("<4f", raw, 76)
    np.testing.assert_allclose(zooms, (0.7, 0.8, 2.5), rtol=1e-6)
    b, cq, d = struct.unpack_from("<3f", raw, 256)
    a = np.sqrt(max(0.0, 1 - b * b - cq * cq - d * d))
    rotation = np.array([
        [a * a + b * b - cq * cq - d * d, 2 * (b * cq - a * d), 2 * (b * d + a * cq)],
        [2 * (b * cq + a * d), a * a + cq * cq - b * b - d * d, 2 * (cq * d - a * b)],
        [2 * (b * d - a * cq), 2 * (cq * d + a * b), a * a + d * d - b * b - cq * cq]])
    rotation[:, 2] *= qfac
    np.testing.assert_allclose(rotation * np.array(zooms), affine[:3, :3], atol=1e-5)


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("hi")
    with pytest.raises(InvalidInput, match="not an empty folder"):
        generate(tmp_path, patients=1, slices=1, size=16)
    with pytest.raises(InvalidInput, match="--size must be at least 16"):
        generate(tmp_path / "new", size=8)


def _publish(corpus: Path, version_dir: Path, dataset: str) -> str:
    """Lay a corpus out as a published version (files as-is; enough for profiling)."""
    import shutil

    shutil.copytree(corpus / "dicom", version_dir / "dicom")
    shutil.copy(corpus / "clinical.csv", version_dir / "clinical.csv")
    files = tuple(ManifestFile(p.relative_to(version_dir).as_posix(), "0" * 64, p.stat().st_size)
                  for p in sorted(version_dir.rglob("*")) if p.is_file())
    manifest = Manifest(dataset, "2026-01-01T00:00:00+00:00", False, files)
    (version_dir / "manifest.json").write_text(manifest.to_json())
    return manifest.version


def _shape(root: Path) -> list[list[list[tuple[object, ...]]]]:
    """Per patient, per study, per series: modality, slices and geometry (ids left out)."""
    tree: defaultdict[str, defaultdict[str, list[tuple[object, ...]]]] = defaultdict(
        lambda: defaultdict(list))
    for uid, slices in _series(root).items():
        first = slices[0]
        step = float(np.linalg.norm(np.array(slices[1].ImagePositionPatient, dtype=float)
                                    - np.array(first.ImagePositionPatient, dtype=float)))
        tree[first.PatientID][first.StudyInstanceUID].append((
            first.Modality, len(slices), first.Rows, first.Columns,
            tuple(float(v) for v in first.PixelSpacing), float(first.SliceThickness),
            round(step, 4), tuple(float(v) for v in first.ImageOrientationPatient), uid))
    return sorted(sorted(sorted(s[:-1] for s in st) for st in p.values()) for p in tree.values())


def test_twin_copies_structure_geometry_and_distributions_not_values(tmp_path: Path) -> None:
    c, s = round(np.cos(0.2), 6), round(np.sin(0.2), 6)
    oblique = (1.0, 0.0, 0.0, 0.0, c, s)
    plan = CorpusPlan((
        PatientPlan((StudyPlan((SeriesPlan("CT", 5, 32, 48, (0.9, 0.8), 3.0, 2.5, oblique),
                                SeriesPlan("MR", 4, 32, 32, (1.2, 1.2), 5.0, 5.0))),)),
        PatientPlan((StudyPlan((SeriesPlan("CT", 3, 32, 32, (1.0, 1.0), 2.0, 2.0),)),
                     StudyPlan((SeriesPlan("CT", 6, 32, 32, (1.0, 1.0), 1.25, 1.25),)))),
    ) * 3, CancerClinicalModel())
    generate_from_plan(tmp_path / "source", plan, seed=1)
    version = _publish(tmp_path / "source", tmp_path / "version", "lung-ct")

    twin_plan = profile(tmp_path / "version")
    assert twin_plan.like == f"lung-ct@{version}"
    generate_from_plan(tmp_path / "twin", twin_plan, seed=2)

    assert _shape(tmp_path / "twin") == _shape(tmp_path / "source")
    marker = json.loads((tmp_path / "twin" / "synthetic.json").read_text())
    assert (marker["synthetic"], marker["like"]) == (True, f"lung-ct@{version}")
    source_ids = {p.name for p in (tmp_path / "source" / "dicom").iterdir()}
    twin_raw = b"".join(p.read_bytes() for p in (tmp_path / "twin").rglob("*") if p.is_file())
    assert not [i for i in source_ids if i.encode() in twin_raw]
    source_px = {pydicom.dcmread(p).PixelData
                 for p in (tmp_path / "source" / "dicom").rglob("*.dcm")}
    assert source_px.isdisjoint(pydicom.dcmread(p).PixelData
                                for p in (tmp_path / "twin" / "dicom").rglob("*.dcm"))
    modalities = {pydicom.dcmread(p).SOPClassUID
                  for p in (tmp_path / "twin" / "dicom").rglob("*.dcm")}
    assert modalities == {CT_IMAGE_STORAGE, "1.2.840.10008.5.1.4.1.1.4"}

    model = dict(twin_plan.clinical.model)  # type: ignore[attr-defined]
    source_rows = list(csv.DictReader(io.StringIO(
        (tmp_path / "source" / "clinical.csv").read_text())))
    ages = [int(r["age"]) for r in source_rows]
    age = model["age"]
    assert isinstance(age, NumericColumn)
    assert (age.low, age.high, age.decimals) == (min(ages), max(ages), 0)
    assert age.mean == pytest.approx(np.mean(ages))
    sex = model["sex"]
    assert isinstance(sex, CategoricalColumn)
    counts = {v: sum(r["sex"] == v for r in source_rows) for v in ("F", "M")}
    kept = {v: n for v, n in counts.items() if n >= 3}
    pooled = sum(n for v, n in counts.items() if n < 3)
    expected = {**kept, **({OTHER: pooled} if pooled else {})}
    assert dict(zip(sex.values, sex.weights, strict=True)) == pytest.approx(
        {v: n / 6 for v, n in expected.items()})
    twin_rows = list(csv.DictReader(io.StringIO(
        (tmp_path / "twin" / "clinical.csv").read_text())))
    assert len(twin_rows) == 6
    assert all(min(ages) <= int(r["age"]) <= max(ages) for r in twin_rows)
    assert {r["sex"] for r in twin_rows} <= set(sex.values)


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(synth)
    return app


def test_cli_writes_a_corpus_and_a_twin_of_a_catalogued_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(_cli(), [str(tmp_path / "a"), "--patients", "2", "--slices", "3",
                                    "--size", "16", "--seed", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 patients, 2 studies, 2 series, 6 slices" in result.output
    version = _publish(tmp_path / "a", tmp_path / "published", "demo-ct")
    home = tmp_path / "home"
    settings = Settings(home=home)
    initialise(settings).dispose()
    node = open_node(settings)
    try:
        catalogue.register_version(
            node, "host:test", Dataset("demo-ct", "Demo", "", "Holder", False,
                                       datetime(2026, 1, 1, tzinfo=UTC)),
            version, str(tmp_path / "published"))
    finally:
        node.close()
    for name in ("TRE_DATABASE_URL", "TRE_POLICY_ENGINE", "TRE_OPA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRE_HOME", str(home))
    result = runner.invoke(_cli(), [str(tmp_path / "twin"), "--like", "demo-ct", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "synthetic twin of demo-ct" in result.output
    marker = json.loads((tmp_path / "twin" / "synthetic.json").read_text())
    assert marker["like"] == f"demo-ct@{version}"
    assert _shape(tmp_path / "twin") == _shape(tmp_path / "a")


@pytest.mark.slow
def test_two_thousand_full_size_slices_in_well_under_a_minute(tmp_path: Path) -> None:
    import time

    start = time.perf_counter()
    result = generate(tmp_path / "big", patients=20, slices=100, size=512, seed=1)
    elapsed = time.perf_counter() - start
    assert result.instances == 2000
    assert elapsed < 40, f"2,000 slices of 512x512 took {elapsed:.1f} s"
