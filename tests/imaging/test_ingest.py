"""Ingestion end to end: versions, audit, determinism, and bad input (a test each)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom
import pytest
from deid_data.data import get_dataset
from pydicom.data import get_testdata_file

from factories import audit_trail
from tre.errors import InvalidInput
from tre.imaging.ingest import IngestRequest, ingest, verify
from tre.imaging.layout import MANIFEST, QUALITY_HTML, QUALITY_JSON, Manifest, datasets_root
from tre.imaging.pseudonyms import PseudonymKey, load_key
from tre.imaging.quality import write_report
from tre.imaging.synth import generate
from tre.services.node import Node

KEY = PseudonymKey(b"0123456789abcdef0123456789abcdef")
TRE = [sys.executable, "-m", "tre.cli.app"]


def corpus(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(get_testdata_file(name), folder / name)
    return folder


def run(node: Node, tmp_path: Path, src: Path, **options: object) -> object:
    return ingest(node, tmp_path / "home", "host:dan",
                  IngestRequest(src, options.pop("dataset", "lung-ct"),  # type: ignore[arg-type]
                                options.pop("key", KEY), **options))  # type: ignore[arg-type]


def test_publishes_an_immutable_version_audited(node: Node, tmp_path: Path) -> None:
    src = corpus(tmp_path / "src", "CT_small.dcm", "MR_small.dcm", "rtplan.dcm")
    before = {p: p.read_bytes() for p in src.iterdir()}
    result = ingest(node, tmp_path / "home", "host:dan", IngestRequest(src, "lung-ct", KEY))
    assert {p: p.read_bytes() for p in src.iterdir()} == before  # SRC untouched
    assert result.counts["published"] == 3
    assert not result.already_published
    assert result.path == datasets_root(tmp_path / "home") / "lung-ct" / result.version
    manifest = Manifest.read(result.path)
    assert manifest.version == result.version
    assert sorted(f.path.split("/")[0] for f in manifest.files) == [
        "dicom", "dicom", "dicom", "ingest-report.json"] or "quality.json" in {
        f.path for f in manifest.files}
    assert all(not p.stat().st_mode & 0o222 for p in [result.path, *result.path.rglob("*")])
    assert list((datasets_root(tmp_path / "home") / ".staging").iterdir()) == []
    assert verify(node, tmp_path / "home", "host:dan", "lung-ct").intact
    assert [a[1:] for a in audit_trail(node)] == [
        ("dataset.publish", f"lung-ct@{result.version}", "allowed"),
        ("dataset.ingest", f"lung-ct@{result.version}", "allowed"),
        ("dataset.verify", f"lung-ct@{result.version}", "allowed")]
    again = ingest(node, tmp_path / "home", "host:dan", IngestRequest(src, "lung-ct", KEY))
    assert again.already_published
    assert again.version == result.version
    assert [a[1] for a in audit_trail(node)][-1] == "dataset.ingest"


def test_verify_reports_a_changed_file(node: Node, tmp_path: Path) -> None:
    result = ingest(node, tmp_path / "home", "host:dan",
                    IngestRequest(corpus(tmp_path / "src", "CT_small.dcm"), "lung-ct", KEY))
    victim = next(result.path.rglob("*.dcm"))
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:-1] + b"\1")
    check = verify(node, tmp_path / "home", "host:dan", "lung-ct", result.version)
    assert not check.intact
    assert check.changed == [victim.relative_to(result.path).as_posix()]
    assert audit_trail(node)[-1][1:] == ("dataset.verify", f"lung-ct@{result.version}",
                                         "failed")


def test_output_does_not_depend_on_process_count(node: Node, tmp_path: Path) -> None:
    src = corpus(tmp_path / "src", "CT_small.dcm", "MR_small.dcm", "rtplan.dcm",
                 "JPEG2000.dcm", "MR_small_implicit.dcm")
    one = run(node, tmp_path, src, dataset="one", jobs=1)
    two = run(node, tmp_path, src, dataset="two", jobs=2)
    assert one.version == two.version  # type: ignore[attr-defined]


def test_bytes_path_and_pydicom_path_publish_the_same_version(node: Node, tmp_path: Path
                                                              ) -> None:
    src = corpus(tmp_path / "src", "CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm",
                 "JPEG2000.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm")
    fast = run(node, tmp_path, src, dataset="fast", jobs=3)
    safe = run(node, tmp_path, src, dataset="safe", jobs=1, raw_path=False)
    assert fast.version == safe.version  # type: ignore[attr-defined]


@pytest.mark.parametrize("jobs", [1, 2])
def test_quality_report_from_worker_summaries_equals_reading_the_files(
        node: Node, tmp_path: Path, jobs: int) -> None:
    src = corpus(tmp_path / "src", "CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm",
                 "MR_small_RLE.dcm", "rtplan.dcm", "rtdose.dcm", "liver_1frame.dcm",
                 "JPEG2000.dcm")
    generate(tmp_path / "synth", patients=2, studies=1, series=1, slices=6, size=32, seed=5)
    shutil.copytree(tmp_path / "synth" / "dicom", src / "synth")
    ct = pydicom.dcmread(src / "CT_small.dcm")  # same series and SOP instance, another patient
    ct.PatientID = "ANOTHER"
    ct.PixelData = bytes(len(ct.PixelData))  # and other pixels: only one file of the two counts
    ct.save_as(src / "CT_small_other_patient.dcm")
    result = run(node, tmp_path, src, jobs=jobs, clinical=tmp_path / "synth" / "clinical.csv")
    published = result.path  # type: ignore[attr-defined]
    reread = tmp_path / "reread"
    shutil.copytree(published, reread)
    for name in (MANIFEST, QUALITY_JSON, QUALITY_HTML):
        (reread / name).chmod(0o644)
        (reread / name).unlink()
    report = write_report(reread)  # the way before summaries: read every published file
    assert report["counts"]["instances"] == result.counts["published"] - 1  # type: ignore
    assert {p["code"] for p in report["problems"]} >= {"duplicate_sop_instance_uid"}
    assert [s["files"] - s["instances"] for s in report["series"]].count(1) == 1
    assert (published / QUALITY_JSON).read_bytes() == (reread / QUALITY_JSON).read_bytes()
    assert (published / QUALITY_HTML).read_bytes() == (reread / QUALITY_HTML).read_bytes()


def test_uid_references_stay_consistent_across_files(node: Node, tmp_path: Path) -> None:
    src = corpus(tmp_path / "src", "rtstruct.dcm", "rtplan.dcm", "rtdose.dcm")
    with warnings.catch_warnings():  # pydicom's rtdose.dcm has a UID pydicom finds invalid
        warnings.simplefilter("ignore", UserWarning)
        dose_in = pydicom.dcmread(src / "rtdose.dcm")
        plan = dose_in.ReferencedRTPlanSequence[0]
        plan.ReferencedSOPInstanceUID = pydicom.dcmread(src / "rtplan.dcm").SOPInstanceUID
        dose_in.save_as(src / "rtdose.dcm")
    result = run(node, tmp_path, src)
    files = {pydicom.dcmread(p).Modality: pydicom.dcmread(p)
             for p in result.path.rglob("*.dcm")}  # type: ignore[attr-defined]
    plan_out, dose = files["RTPLAN"], files["RTDOSE"]
    assert dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == plan_out.SOPInstanceUID
    assert all(p.name.startswith("2.25.") for p in result.path.rglob("*.dcm"))  # type: ignore


@pytest.mark.parametrize(("name", "status", "reason", "syntax"), [
    ("MR_small_bigendian.dcm", "published", "", "Explicit VR Big Endian"),
    ("MR_small_implicit.dcm", "published", "", "Implicit VR Little Endian"),
    ("MR_small_jpeg_ls_lossless.dcm", "published", "", "JPEG-LS Lossless Image Compression"),
    ("MR_small_RLE.dcm", "published", "", "RLE Lossless"),
    ("ExplVR_BigEndNoMeta.dcm", "published", "", "Explicit VR Big Endian"),
    ("MR_truncated.dcm", "unreadable", "file truncated in PixelData", ""),
    ("rtplan_truncated.dcm", "unreadable", "truncated", ""),
    ("no_meta.dcm", "unreadable", "not a DICOM file", ""),
    ("notes.txt", "unreadable", "not a DICOM file", ""),
    ("JPEG2000.dcm", "quarantined", "secondary capture", ""),
    ("SC_rgb_small_odd.dcm", "quarantined", "modality OT often has burned-in text", ""),
])
def test_bad_or_unusual_input_is_reported_and_the_rest_goes_on(
        node: Node, tmp_path: Path, name: str, status: str, reason: str, syntax: str) -> None:
    src = corpus(tmp_path / "src", "CT_small.dcm")
    if name.endswith(".txt"):
        (src / name).write_text("not an image")
    else:
        shutil.copy(get_testdata_file(name), src / name)
    result = run(node, tmp_path, src)
    problems = {Path(p["source"]).name: (p["status"], p["reason"])
                for p in result.problems}  # type: ignore[attr-defined]
    counts = result.counts  # type: ignore[attr-defined]
    if status == "published":
        assert problems == {}
        assert counts["published"] == 2
        syntaxes = {pydicom.dcmread(p).file_meta.TransferSyntaxUID.name
                    for p in result.path.rglob("*.dcm")}  # type: ignore[attr-defined]
        assert syntax in syntaxes
    else:
        assert list(problems) == [name]
        assert problems[name][0] == status
        assert reason in problems[name][1]
        assert counts["published"] == 1
        assert counts[status] == 1
    holder = json.loads(result.holder_report.read_text())  # type: ignore[attr-defined]
    assert sorted(Path(f["source"]).name for f in holder["files"]) == sorted(["CT_small.dcm",
                                                                             name])
    assert oct(result.holder_report.stat().st_mode)[-3:] == "600"  # type: ignore
    report = (result.path / "ingest-report.json").read_text()  # type: ignore[attr-defined]
    assert str(src) not in report  # source paths may name people: only keyed refs inside


def test_quarantined_files_are_kept_for_review_outside_the_version(
        node: Node, tmp_path: Path) -> None:
    src = corpus(tmp_path / "src", "CT_small.dcm", "SC_rgb_small_odd.dcm")
    result = run(node, tmp_path, src)
    quarantine = result.quarantine  # type: ignore[attr-defined]
    assert quarantine is not None
    assert len(list(quarantine.rglob("*.dcm"))) == 1
    assert not str(quarantine).startswith(str(result.path))  # type: ignore[attr-defined]
    allowed = run(node, tmp_path, src, dataset="with-risk", allow_pixel_risk=True)
    assert allowed.counts["published"] == 2  # type: ignore[attr-defined]


def test_duplicate_sop_instance_uids_are_reported(node: Node, tmp_path: Path) -> None:
    # pydicom's MR_small variants share one SOP Instance UID
    src = corpus(tmp_path / "src", "MR_small.dcm", "MR_small_implicit.dcm")
    shutil.copy(src / "MR_small.dcm", src / "MR_small_copy.dcm")
    result = run(node, tmp_path, src)
    problems = {Path(p["source"]).name: p for p in result.problems}  # type: ignore[attr-defined]
    assert set(problems) == {"MR_small_copy.dcm", "MR_small_implicit.dcm"}
    assert "identical content" in problems["MR_small_copy.dcm"]["reason"]
    assert "different content" in problems["MR_small_implicit.dcm"]["reason"]
    assert result.counts["published"] == 1  # type: ignore[attr-defined]


def test_duplicate_sop_instance_with_different_content_is_not_published(
        node: Node, tmp_path: Path) -> None:
    src = corpus(tmp_path / "src", "CT_small.dcm")
    ds = pydicom.dcmread(src / "CT_small.dcm")
    ds.InstanceNumber = 99
    ds.save_as(src / "z_changed.dcm")
    result = run(node, tmp_path, src)
    assert result.counts["published"] == 1  # type: ignore[attr-defined]
    [problem] = result.problems  # type: ignore[attr-defined]
    assert problem["status"] == "duplicate"
    assert "different content" in problem["reason"]


def test_zip_with_escaping_member_names_is_refused(node: Node, tmp_path: Path) -> None:
    archive = tmp_path / "in" / "upload.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        z.write(get_testdata_file("CT_small.dcm"), "ok/CT_small.dcm")
        z.write(get_testdata_file("MR_small.dcm"), "../../escape.dcm")
        absolute = zipfile.ZipInfo("x")
        absolute.filename = "/abs/escape.dcm"  # ZipInfo() would strip the leading slash
        z.writestr(absolute, Path(get_testdata_file("MR_small.dcm")).read_bytes())
    result = run(node, tmp_path, archive.parent)
    assert result.counts["published"] == 1  # type: ignore[attr-defined]
    reasons = sorted(p["reason"].split(":")[0] for p in result.problems)  # type: ignore
    assert reasons == ["absolute member name in zip", "member name contains '..'"]
    assert not (tmp_path / "escape.dcm").exists()
    assert not Path("/abs").exists()


def test_real_zip_archives_and_deid_data(node: Node, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(get_dataset("humans"), src / "humans")
    shutil.copytree(get_dataset("dicom-cookies"), src / "cookies")
    shutil.copytree(get_dataset("ultrasounds"), src / "us")
    result = run(node, tmp_path, src)
    counts = result.counts  # type: ignore[attr-defined]
    # dicom-cookies and humans are secondary captures, ultrasounds are US: all quarantined
    assert counts["published"] == 0
    assert counts["quarantined"] >= 10
    assert counts["inputs"] == counts["published"] + counts["quarantined"] + \
        counts["unreadable"] + counts["skipped"] + counts["duplicates"]


def test_clinical_csv_with_unknown_and_duplicate_ids(node: Node, tmp_path: Path) -> None:
    src = corpus(tmp_path / "src", "CT_small.dcm")
    patient = str(pydicom.dcmread(src / "CT_small.dcm").PatientID)
    csv = tmp_path / "clinical.csv"
    csv.write_text(f"patient_id,name,age,diagnosis_date\n{patient},Jane,61,2020-01-02\n"
                   f"unknown-9,John,40,2021-03-04\n{patient},Jane,62,2020-01-03\n")
    result = run(node, tmp_path, src, clinical=csv)
    lines = (result.path / "clinical.csv").read_text().splitlines()  # type: ignore
    assert lines[0] == "patient_id,age,diagnosis_date"
    assert len(lines) == 3
    assert all(line.startswith("P-") for line in lines[1:])
    assert patient not in "".join(lines)
    assert "Jane" not in "".join(lines)
    assert "2020-01-02" not in lines[1]
    holder = json.loads(result.holder_report.read_text())  # type: ignore[attr-defined]
    assert holder["clinical"] == {"rows_without_images": [3], "duplicate_rows_left_out": [4],
                                  "dropped_columns": ["name"]}


def test_clinical_csv_without_patient_column_is_refused(node: Node, tmp_path: Path) -> None:
    csv = tmp_path / "clinical.csv"
    csv.write_text("who,age\nx,1\n")
    with pytest.raises(InvalidInput, match="no patient id column"):
        run(node, tmp_path, corpus(tmp_path / "src", "CT_small.dcm"), clinical=csv)
    assert list((datasets_root(tmp_path / "home") / ".staging").iterdir()) == []


@pytest.mark.parametrize(("content", "mode", "message"), [
    (None, 0o600, "does not exist"),
    (b"", 0o600, "is empty"),
    (b"k" * 40, 0o644, "chmod 600"),
    (b"short", 0o600, "fewer than 32"),
])
def test_missing_or_wrong_key_file(tmp_path: Path, content: bytes | None, mode: int,
                                   message: str) -> None:
    key = tmp_path / "pseudonym.key"
    if content is not None:
        key.write_bytes(content)
        key.chmod(mode)
    with pytest.raises(InvalidInput, match=message):
        load_key(key)
    with pytest.raises(InvalidInput, match="head -c 32 /dev/urandom"):
        load_key(None)


@contextmanager
def _unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` unwritable, for root too: a read-only tmpfs over it (root), or chmod."""
    folder.mkdir(parents=True)
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                       check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)


def test_unwritable_target_is_a_clear_error(node: Node, tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "src"
    with _unwritable(datasets_root(home)):
        with pytest.raises(InvalidInput, match="cannot write under"):
            ingest(node, home, "host:dan",
                   IngestRequest(corpus(source, "CT_small.dcm"), "lung-ct", KEY))
        assert list(datasets_root(home).iterdir()) == []
    assert sorted(p.name for p in source.iterdir()) == ["CT_small.dcm"]  # source untouched


def test_cli_ingest_show_and_verify(tmp_path: Path) -> None:
    home, key = tmp_path / "home", tmp_path / "key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update(TRE_HOME=str(home), TRE_PSEUDONYM_KEY_FILE=str(key), COLUMNS="200")

    def tre(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*TRE, *args], capture_output=True, text=True, env=env,
                              timeout=120, check=False)

    assert tre("init").returncode == 0
    src = corpus(tmp_path / "src", "CT_small.dcm", "MR_small.dcm")
    done = tre("datasets", "ingest", str(src), "--dataset", "lung-ct", "--jobs", "1", "--json")
    assert done.returncode == 0, done.stderr
    published = json.loads(done.stdout)
    shown = json.loads(tre("datasets", "show", "lung-ct", "--json").stdout)
    assert shown["path"] == published["path"]
    assert shown["version"] == published["version"]
    again = tre("datasets", "ingest", str(src), "--dataset", "lung-ct", "--jobs", "1")
    assert "already published" in again.stdout
    checked = tre("datasets", "verify", f"lung-ct@{published['version']}")
    assert checked.returncode == 0
    assert "intact" in checked.stdout
    env.pop("TRE_PSEUDONYM_KEY_FILE")
    refused = tre("datasets", "ingest", str(src), "--dataset", "lung-ct")
    assert refused.returncode == 2
    assert "head -c 32 /dev/urandom" in refused.stderr
