"""Quality reports on real synthetic versions, clean and deliberately broken."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from tre.imaging.deid.profile import DEFAULT_OPTIONS
from tre.imaging.deid.sources import Source
from tre.imaging.deid.worker import FileDeidentifier
from tre.imaging.layout import Manifest, ManifestFile
from tre.imaging.pseudonyms import PseudonymKey
from tre.imaging.quality import SEVERITY, assess, write_report
from tre.imaging.quality_instances import (
    FileSummary,
    read_summary,
    summarise,
    summarise_plain,
)
from tre.imaging.synth import generate


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quality") / "corpus"
    generate(out, patients=2, studies=1, series=2, slices=8, size=32, seed=3)
    return out


def _version(source: Path, folder: Path) -> Path:
    shutil.copytree(source / "dicom", folder / "dicom")
    shutil.copy(source / "clinical.csv", folder / "clinical.csv")
    return folder


def _files(version: Path) -> list[Path]:
    """Slice files, grouped by series folder then instance (IM00001...)."""
    return sorted((version / "dicom").rglob("*.dcm"))


def _keys(report: dict[str, Any]) -> set[tuple[object, ...]]:
    """Each problem as (code, the detail that says where)."""
    keys = set()
    for p in report["problems"]:
        detail = {k: v for k, v in p.items() if k not in ("severity", "message")}
        keys.add(tuple(sorted((k, json.dumps(v)) for k, v in detail.items())))
    return keys


def _key(**detail: object) -> tuple[object, ...]:
    return tuple(sorted((k, json.dumps(v)) for k, v in detail.items()))


def test_clean_version_passes_with_full_counts(source: Path, tmp_path: Path) -> None:
    version = _version(source, tmp_path / "v")
    report = write_report(version)
    assert report["problems"] == []
    label = report["label"]
    assert (label["status"], label["patients"], label["studies"], label["series"],
            label["instances"], label["modalities"]) == ("pass", 2, 2, 4, 32, ["CT"])
    assert label["linkage_rate"] == 1.0
    assert report["counts"]["by_modality"] == {"CT": {"series": 4, "instances": 32}}
    assert [p["instances"] for p in report["counts"]["per_patient"]] == [16, 16]
    for series in report["series"]:
        assert series["orientation_consistent"] is True
        assert series["spacing"]["step_mm"] == series["slice_thickness"][0]
        assert series["values"]["unit"] == "HU"
        assert series["values"]["min"] >= -1024
        assert series["values"]["p1"] <= series["values"]["p50"] <= series["values"]["p99"]
        assert series["missing_attributes"] == {}
    clinical = report["clinical"]
    assert clinical["id_column"] == "patient_id"
    assert clinical["linkage"]["clinical_patients_with_imaging"] == 1.0
    assert set(clinical["columns"]) == {"patient_id", "age", "sex", "diagnosis", "stage",
                                        "histology", "outcome"}
    assert sum(report["histogram"]["counts"]) > 0
    on_disk = json.loads((version / "quality.json").read_text())
    assert on_disk == report
    first = (version / "quality.json").read_bytes(), (version / "quality.html").read_bytes()
    write_report(version)
    assert ((version / "quality.json").read_bytes(),
            (version / "quality.html").read_bytes()) == first


def test_broken_copy_lists_exactly_its_problems(source: Path, tmp_path: Path) -> None:
    version = _version(source, tmp_path / "v")
    files = _files(version)
    series = [pydicom.dcmread(files[i], stop_before_pixels=True).SeriesInstanceUID
              for i in (0, 8, 16, 24)]
    # 1. a missing slice in the middle of the first series
    files[3].unlink()
    # 2. a SOP instance UID reused by a slice of another patient's series
    taken = pydicom.dcmread(files[10]).SOPInstanceUID
    ds = pydicom.dcmread(files[20])
    ds.SOPInstanceUID = taken
    ds.save_as(files[20])
    # 3. a required attribute missing from one file
    ds = pydicom.dcmread(files[30])
    del ds.PixelSpacing
    ds.save_as(files[30])
    # 4. a clinical row for a patient nobody imaged
    with (version / "clinical.csv").open("a") as handle:
        handle.write("MRN000GHOST,70,F,lung cancer,II,adenocarcinoma,deceased\n")

    report = assess(version)
    step = report["series"][[s["series"] for s in report["series"]].index(series[0])][
        "spacing"]["step_mm"]
    heights = sorted(float(pydicom.dcmread(f).SliceLocation) for f in files[:8] if f.exists())
    assert _keys(report) == {
        _key(code="slice_gap", series=series[0], after_mm=round(heights[2], 3),
             gap_mm=round(2 * step, 3), step_mm=round(step, 3), missing_slices=1),
        _key(code="duplicate_sop_instance_uid", sop_instance_uid=taken,
             files=sorted(f.relative_to(version).as_posix() for f in (files[10], files[20]))),
        _key(code="missing_attribute", series=series[3], attribute="PixelSpacing", files=1),
        _key(code="clinical_row_without_imaging", patients=["MRN000GHOST"]),
    }
    assert [p["severity"] for p in report["problems"]] == [
        SEVERITY[p["code"]] for p in report["problems"]]
    label = report["label"]
    assert (label["status"], label["errors"], label["warnings"]) == ("fail", 3, 1)
    assert report["clinical"]["linkage"]["clinical_patients_with_imaging"] == pytest.approx(2 / 3,
                                                                                             abs=1e-4)
    assert report["clinical"]["linkage"]["imaging_patients_with_clinical"] == 1.0


def test_orientation_spacing_position_and_manifest_problems(source: Path, tmp_path: Path) -> None:
    version = _version(source, tmp_path / "v")
    files = _files(version)
    uids = [pydicom.dcmread(files[i], stop_before_pixels=True).SeriesInstanceUID
            for i in (0, 8, 16, 24)]
    ds = pydicom.dcmread(files[2])  # series 0: tilt one slice
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.9950042, 0.0998334]
    ds.save_as(files[2])
    ds = pydicom.dcmread(files[12])  # series 1: nudge one slice off its step
    ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], ds.ImagePositionPatient[2] + 0.3]
    ds.save_as(files[12])
    ds = pydicom.dcmread(files[23])  # series 2: its last slice moved onto the one before
    ds.ImagePositionPatient = pydicom.dcmread(files[22]).ImagePositionPatient
    ds.save_as(files[23])
    (version / "clinical.csv").write_text((version / "clinical.csv").read_text().splitlines()[0]
                                          + "\n")
    manifest = Manifest("demo", "2026-01-01T00:00:00+00:00", True,
                        (ManifestFile("dicom/gone.dcm", "0" * 64, 1),))
    (version / "manifest.json").write_text(manifest.to_json())

    report = assess(version, pixels=False)
    codes = sorted((p["code"], p.get("series") or p.get("file") or p.get("patients"))
                   for p in report["problems"])
    patients = sorted({s["patient"] for s in report["series"]})
    assert codes == [
        ("duplicate_position", uids[2]),
        ("imaging_without_clinical_row", patients),
        ("manifest_file_missing", "dicom/gone.dcm"),
        ("mixed_orientation", uids[0]),
        ("uneven_spacing", uids[1]),
    ]
    assert (report["dataset"], report["version"], report["synthetic"]) == (
        "demo", manifest.version, True)
    assert all("values" not in s for s in report["series"])
    assert report["label"]["linkage_rate"] == 0.0


def test_html_is_self_contained_with_plots_and_label(source: Path, tmp_path: Path) -> None:
    version = _version(source, tmp_path / "v")
    (version / "dicom" / "junk.dcm").write_bytes(b"not dicom <script>")
    report = write_report(version)
    html = (version / "quality.html").read_text()
    assert [p["code"] for p in report["problems"]] == ["unreadable_file"]
    assert html.startswith("<!DOCTYPE html>")
    assert 'aria-label="quality label"' in html
    assert html.count("<svg") == 3  # slices per series, HU histogram, completeness
    assert "<script" not in html
    assert not re.search(r"(src|href)=", html)
    assert set(re.findall(r"https?://[^\"' ]+", html)) == {"http://www.w3.org/2000/svg"}
    for series in report["series"]:
        assert series["series"] in html


def _plain(summary: FileSummary | None) -> dict[str, Any]:
    assert summary is not None
    doc = asdict(summary)
    if summary.pixels is not None:
        doc["pixels"].update(bins=summary.pixels.bins.tolist(),
                             counts=summary.pixels.counts.tolist())
    return doc


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "rtdose.dcm",
                                  "rtplan.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm",
                                  "MR_small.dcm", "liver_1frame.dcm"])
def test_an_ingest_worker_summarises_what_it_writes(tmp_path: Path, name: str) -> None:
    worker = FileDeidentifier(PseudonymKey(b"k" * 32), DEFAULT_OPTIONS, tmp_path,
                              allow_pixel_risk=True, summarise=True)  # all published
    outcome = worker.run(0, Source(get_testdata_file(name)))
    assert outcome.status == "published"
    written = Path(outcome.written).name
    from_file = replace(read_summary(tmp_path, written), relative=outcome.relpath)
    assert _plain(outcome.quality) == _plain(from_file)
    assert (from_file.pixels is None) == (name == "rtplan.dcm")


@pytest.mark.parametrize(("signed", "stored"), [(0, 12), (1, 12), (1, 16), (0, 16)])
def test_plain_pixels_summarised_as_pydicom_decodes_them(tmp_path: Path, signed: int,
                                                         stored: int) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = stored, stored - 1, signed
    noise = np.random.default_rng(stored + signed).integers(0, 2**16, ds.Rows * ds.Columns)
    ds.PixelData = noise.astype(np.uint16).tobytes()  # unused high bits set too
    ds.save_as(tmp_path / "x.dcm")
    plain = summarise_plain(pydicom.dcmread(tmp_path / "x.dcm"), "x.dcm")
    ds = pydicom.dcmread(tmp_path / "x.dcm")
    ds.NumberOfFrames = 1  # not the plain layout: pydicom decodes the same pixels
    assert summarise_plain(ds, "x.dcm") is None
    decoded = summarise(ds, "x.dcm")
    assert decoded.pixels is not None
    assert _plain(plain) == _plain(decoded)
