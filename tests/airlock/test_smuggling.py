"""Smuggling attempts: each is blocked, or routed to human review with the right finding."""

from __future__ import annotations

from pathlib import Path

import pytest
from airlock.helpers import (
    PSEUDONYM,
    SERIES_UID,
    ct_png,
    notebook,
    plot_png,
    published_version,
    synthetic_dicom,
    tar_gz_of,
    torch_checkpoint,
    zip_of,
)

from tre.airlock.checks import inspect
from tre.airlock.checks.context import CheckContext
from tre.airlock.identifiers import identifier_set

Outcome = tuple[str, str, list[tuple[str, str, str]]]


@pytest.fixture
def ctx(tmp_path: Path) -> CheckContext:
    version = published_version(tmp_path / "version")
    return CheckContext(identifiers=identifier_set([("lung-ct@v1", version)]))


def outcome(name: str, data: bytes, ctx: CheckContext) -> Outcome:
    """(content, kind, sorted (code, severity, where)) of one inspection."""
    found = inspect(name, data, ctx)
    return (found.content.value, found.kind.value,
            sorted((f.code, f.severity.value, f.where) for f in found.findings))


@pytest.mark.parametrize("name", ["scan.png", "notes.txt", "image.dcm"])
def test_dicom_under_any_name_is_blocked(tmp_path: Path, ctx: CheckContext, name: str) -> None:
    data = synthetic_dicom(tmp_path).read_bytes()
    assert outcome(name, data, ctx) == ("dicom", "dicom", [("dicom", "block", "")])


def test_dicom_named_png_says_it_is_disguised(tmp_path: Path, ctx: CheckContext) -> None:
    found = inspect("scan.png", synthetic_dicom(tmp_path).read_bytes(), ctx)
    assert [f.message for f in found.findings] == [
        "DICOM never leaves the TRE (named .png, but the content is DICOM)"]


def test_dicom_without_preamble_is_blocked(tmp_path: Path, ctx: CheckContext) -> None:
    data = synthetic_dicom(tmp_path).read_bytes()[132:]
    assert outcome("data.bin", data, ctx) == ("dicom", "dicom", [("dicom", "block", "")])


def test_dicom_in_a_zip_in_a_tar_gz_is_blocked(tmp_path: Path, ctx: CheckContext) -> None:
    dicom = synthetic_dicom(tmp_path).read_bytes()
    data = tar_gz_of({"results/inner.zip": zip_of({"figs/fig1.png": dicom}),
                      "results/readme.txt": b"summary of results\n"})
    assert outcome("results.tar.gz", data, ctx) == ("gzip", "archive", [
        ("archive", "warn", ""),
        ("dicom", "block", "results/inner.zip!figs/fig1.png"),
    ])


def test_csv_with_a_count_of_three_is_blocked(ctx: CheckContext) -> None:
    data = b"site,count\nA,25\nB,3\nC,40\n"
    found = inspect("counts.csv", data, ctx)
    assert outcome("counts.csv", data, ctx) == ("csv", "table", [("small-count", "block", "")])
    assert found.findings[0].message == (
        "1 count(s) below the threshold of 10 (row 2 column 'count'): suppress, round or "
        "merge categories")


def test_csv_listing_pseudonyms_is_blocked(ctx: CheckContext) -> None:
    data = f"patient,volume_ml\n{PSEUDONYM},12.5\nP-MNOPQRSTUVWX,8.1\n".encode()
    assert outcome("volumes.csv", data, ctx) == ("csv", "table", [
        ("identifier-column", "block", ""),
        ("no-counts", "info", ""),
        ("pseudonym", "block", ""),
    ])


def test_notebook_printing_a_uid_is_blocked(ctx: CheckContext) -> None:
    data = notebook(f"series {SERIES_UID} has 120 slices")
    assert outcome("analysis.ipynb", data, ctx) == ("notebook", "notebook",
                                                    [("dataset-uid", "block", "")])


def test_png_of_a_ct_slice_goes_to_human_review(tmp_path: Path, ctx: CheckContext) -> None:
    assert outcome("figure.png", ct_png(tmp_path), ctx) == ("png", "image", [
        ("medical-image-like", "warn", "")])


def test_plot_is_not_medical_image_like(ctx: CheckContext) -> None:
    assert outcome("figure.png", plot_png(), ctx) == ("png", "image", [])


def test_torch_checkpoint_goes_to_elevated_review(ctx: CheckContext) -> None:
    assert outcome("model.txt", torch_checkpoint(), ctx) == ("torch", "model", [
        ("membership-inference-not-run", "info", ""),
        ("model-weights", "warn", ""),
    ])


def test_unknown_binary_is_blocked(ctx: CheckContext) -> None:
    assert outcome("blob.csv", bytes(range(256)) * 4, ctx) == (
        "unknown", "unknown", [("unknown-content", "block", "")])
