"""Submission intake refuses links, specials, sparse and oversized files and trick names."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tre.airlock.intake import IntakeRefused, StoredBlob, copy_in
from tre.errors import InvalidInput

LIMIT = 1024 * 1024


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    folder = tmp_path / "outputs"
    folder.mkdir()
    return folder


def _refused(outputs: Path, tmp_path: Path, name: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        copy_in(outputs, name, tmp_path / "store", LIMIT)
    assert not any((tmp_path / "store").glob("*")) if (tmp_path / "store").exists() else True
    return str(caught.value)


def test_regular_file_is_copied_read_only_with_its_hash(outputs: Path, tmp_path: Path) -> None:
    (outputs / "tables").mkdir()
    (outputs / "tables" / "counts.csv").write_bytes(b"site,n\nA,25\n")
    blob = copy_in(outputs, "tables/counts.csv", tmp_path / "store", LIMIT)
    sha = hashlib.sha256(b"site,n\nA,25\n").hexdigest()
    assert blob == StoredBlob("tables/counts.csv", sha, 12, tmp_path / "store" / sha)
    assert blob.path.read_bytes() == b"site,n\nA,25\n"
    assert oct(blob.path.stat().st_mode & 0o777) == "0o400"


def test_absolute_path_inside_outputs_is_accepted(outputs: Path, tmp_path: Path) -> None:
    (outputs / "a.txt").write_text("x")
    assert copy_in(outputs, str(outputs / "a.txt"), tmp_path / "store", LIMIT).name == "a.txt"


def test_symlink_to_data_is_refused(outputs: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.csv").write_text("patient,age\n")
    (outputs / "results.csv").symlink_to(data / "secret.csv")
    (outputs / "linked").symlink_to(data)
    assert "is (or passes through) a symbolic link" in _refused(outputs, tmp_path,
                                                                "results.csv")
    assert "is (or passes through) a symbolic link" in _refused(outputs, tmp_path,
                                                                "linked/secret.csv")


def test_hard_link_is_refused(outputs: Path, tmp_path: Path) -> None:
    (outputs / "a.csv").write_text("x\n")
    os.link(outputs / "a.csv", outputs / "b.csv")
    assert _refused(outputs, tmp_path, "b.csv") == (
        "b.csv has 2 hard links: a hard link may point at data outside outputs; submit a copy "
        "(cp, not ln)")


def test_fifo_is_refused(outputs: Path, tmp_path: Path) -> None:
    os.mkfifo(outputs / "pipe")
    assert _refused(outputs, tmp_path, "pipe") == (
        "pipe is a named pipe: only regular files can be submitted")


def test_ten_gigabyte_sparse_file_is_refused_unread(outputs: Path, tmp_path: Path) -> None:
    with (outputs / "big.bin").open("wb") as fh:
        fh.truncate(10 * 1024**3)
    assert _refused(outputs, tmp_path, "big.bin") == (
        "big.bin is 10737418240 bytes, over the airlock limit of 1048576: outputs must be "
        "small, aggregate results")
    with pytest.raises(IntakeRefused, match=r"big.bin is sparse \(10737418240 bytes, 0 alloc"):
        copy_in(outputs, "big.bin", tmp_path / "store", 20 * 1024**3)


@pytest.mark.parametrize(("name", "why"), [
    ("../secret.csv", "has an empty, '.' or '..' part"),
    ("tables/../../secret.csv", "has an empty, '.' or '..' part"),
    ("/etc/passwd", "is outside your outputs folder"),
    ("r\u0435sults.csv", "mixes scripts (CYRILLIC, LATIN)"),
    ("results\u202egpj.csv", "contains the invisible or control character U+202E"),
    ("re\u200bsults.csv", "contains the invisible or control character U+200B"),
    ("\uff52esults.csv", "uses compatibility look-alike characters"),
    ("tab\tname.csv", "contains the invisible or control character U+0009"),
])
def test_trick_names_are_refused(outputs: Path, tmp_path: Path, name: str, why: str) -> None:
    assert why in _refused(outputs, tmp_path, name)


@pytest.mark.parametrize("given", ["tables/a.csv", "/outputs/tables/a.csv", "{host}/tables/a.csv"])
def test_a_file_is_named_as_the_workspace_or_the_host_sees_it(outputs: Path, tmp_path: Path,
                                                             given: str) -> None:
    (outputs / "tables").mkdir()
    (outputs / "tables" / "a.csv").write_text("n\n12\n")
    blob = copy_in(outputs, given.format(host=outputs), tmp_path / "store", LIMIT)
    assert blob.name == "tables/a.csv"


@pytest.mark.parametrize("given", ["/etc/passwd", "/outputs/../etc/passwd", "/outputsx/a.csv"])
def test_refusals_never_show_the_host_path_of_the_outputs_folder(outputs: Path, tmp_path: Path,
                                                                 given: str) -> None:
    message = _refused(outputs, tmp_path, given)
    assert str(outputs) not in message
    assert str(tmp_path) not in message


def test_a_missing_outputs_folder_is_named_as_the_workspace_sees_it(tmp_path: Path) -> None:
    message = _refused(tmp_path / "nowhere", tmp_path, "a.csv")
    assert message.startswith("cannot open your outputs folder (/outputs in the workspace)")
    assert str(tmp_path) not in message
