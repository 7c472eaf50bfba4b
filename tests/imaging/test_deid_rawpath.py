"""The bytes path (rawpath.py) against the pydicom path: identical files, or a fallback."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pydicom
import pydicom.data
import pytest
from deid_data.data import get_dataset
from pydicom.data import get_testdata_file

from tre.imaging.deid.engine import Deidentifier
from tre.imaging.deid.profile import DEFAULT_OPTIONS
from tre.imaging.deid.rawpath import RawDeidentifier, Unsupported, read_source_bytes
from tre.imaging.deid.sources import Source
from tre.imaging.deid.worker import FileDeidentifier, FileOutcome
from tre.imaging.pseudonyms import PseudonymKey

KEY = PseudonymKey(b"0123456789abcdef0123456789abcdef")


def _testfile(name: str) -> str:
    return str(get_testdata_file(name))


def _deid_data_files() -> list[str]:
    files: list[str] = []
    for name in ("dicom-cookies", "humans", "animals", "ultrasounds"):
        try:
            folder = Path(get_dataset(name))
        except Exception:  # pragma: no cover - a data set missing from deid-data
            continue
        files += sorted(str(p) for p in folder.rglob("*") if p.is_file())
    return files


def _both(files: list[str], tmp_path: Path) -> tuple[int, list[str]]:
    """Run both paths on every file; return (files the bytes path took, differences)."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "pydicom").mkdir()
    raw = FileDeidentifier(KEY, DEFAULT_OPTIONS, tmp_path / "raw")
    safe = FileDeidentifier(KEY, DEFAULT_OPTIONS, tmp_path / "pydicom", raw_path=False)
    taken, differences = 0, []
    for index, name in enumerate(files):
        before = sum(raw.fallbacks.values())
        fast, slow = raw.run(index, Source(name)), safe.run(index, Source(name))
        if sum(raw.fallbacks.values()) > before:
            continue
        taken += 1
        differences += [f"{name}: {d}" for d in _differences(fast, slow)]
    return taken, differences


def _differences(fast: FileOutcome, slow: FileOutcome) -> list[str]:
    fields = [f for f in fast.__slots__ if f != "written" and getattr(fast, f) != getattr(slow, f)]
    if fast.written and slow.written:
        a, b = Path(fast.written).read_bytes(), Path(slow.written).read_bytes()
        if a != b:
            fields.append("bytes")
        elif hashlib.sha256(a).hexdigest() != fast.sha256:
            fields.append("sha256 of the written file")
    return fields


def test_identical_to_the_pydicom_path_on_pydicom_test_files(tmp_path: Path) -> None:
    folder = Path(pydicom.data.__file__).parent / "test_files"  # local only: no downloads
    files = sorted(str(p) for p in folder.rglob("*.dcm"))
    taken, differences = _both(files, tmp_path)
    assert differences == []
    assert taken >= 30  # the plain ones take the bytes path; the odd ones fall back


def test_identical_to_the_pydicom_path_on_deid_data(tmp_path: Path) -> None:
    files = _deid_data_files()
    if not files:
        pytest.skip("deid-data has no files here")
    taken, differences = _both(files, tmp_path)
    assert differences == []
    assert taken >= len(files) // 2


@pytest.mark.parametrize("size", [16, 64])
def test_identical_to_the_pydicom_path_on_synthetic_ct(tmp_path: Path, size: int) -> None:
    synth = pytest.importorskip("tre.imaging.synth")
    synth.generate(tmp_path / "src", patients=2, studies=2, series=1, slices=3, size=size,
                   seed=11)
    files = sorted(str(p) for p in (tmp_path / "src" / "dicom").rglob("*.dcm"))
    taken, differences = _both(files, tmp_path)
    assert differences == []
    assert taken == len(files)  # the synthetic corpus never needs the fallback


def test_zip_members_take_the_bytes_path_too(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(_testfile("CT_small.dcm"), "a/CT_small.dcm")
    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()
    raw = FileDeidentifier(KEY, DEFAULT_OPTIONS, tmp_path / "w1")
    safe = FileDeidentifier(KEY, DEFAULT_OPTIONS, tmp_path / "w2", raw_path=False)
    source = Source(str(archive), "a/CT_small.dcm")
    fast, slow = raw.run(0, source), safe.run(0, source)
    raw.close()
    safe.close()
    assert not raw.fallbacks
    assert _differences(fast, slow) == []


@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "no_meta.dcm", "rtplan_truncated.dcm"])
def test_what_the_bytes_path_does_not_read_goes_to_the_pydicom_path(tmp_path: Path,
                                                                    name: str) -> None:
    path = _testfile(name)
    raw = RawDeidentifier(Deidentifier(KEY))
    with pytest.raises(Unsupported):
        raw.deidentify(read_source_bytes(path))
    worker = FileDeidentifier(KEY, DEFAULT_OPTIONS, tmp_path)
    outcome = worker.run(0, Source(path))
    assert sum(worker.fallbacks.values()) == 1
    assert outcome.status in ("published", "quarantined", "unreadable")


def test_a_safe_listed_private_tag_falls_back_and_unknown_private_tags_go(tmp_path: Path
                                                                          ) -> None:
    ds = pydicom.dcmread(_testfile("CT_small.dcm"))
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x0C, "FD", 800.0)  # B_value: on the safe list
    ds.add_new(0x00291010, "LO", "SMITH^JOHN")  # no creator: never kept
    ds.save_as(tmp_path / "in.dcm")
    raw = RawDeidentifier(Deidentifier(KEY))
    with pytest.raises(Unsupported, match="safe list"):
        raw.deidentify(read_source_bytes(str(tmp_path / "in.dcm")))
    del ds[block.get_tag(0x0C)]
    ds.save_as(tmp_path / "in.dcm")
    result = raw.deidentify(read_source_bytes(str(tmp_path / "in.dcm")))
    out = pydicom.dcmread(pydicom.filebase.DicomBytesIO(b"".join(result.parts)))
    assert not [e for e in out if e.tag.is_private]
    assert b"SMITH" not in b"".join(result.parts)


def test_ct_small_bytes_path_output_reads_back(tmp_path: Path) -> None:
    src = tmp_path / "ct.dcm"
    shutil.copy(_testfile("CT_small.dcm"), src)
    worker = FileDeidentifier(KEY, DEFAULT_OPTIONS, tmp_path)
    outcome = worker.run(0, Source(str(src)))
    assert not worker.fallbacks
    ds = pydicom.dcmread(outcome.written)
    assert ds.PatientName == ds.PatientID == outcome.pseudonym
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.pixel_array.shape == (128, 128)
