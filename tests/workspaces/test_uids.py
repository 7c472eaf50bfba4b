"""Project uids: stable, dedicated, never 0, never a host account's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tre.errors import StorageError
from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.uids import ProjectUids, host_id_taken


def test_each_project_gets_its_own_stable_uid_skipping_taken_ones(tmp_path: Path) -> None:
    taken = {200001}
    registry = tmp_path / "uids.json"
    uids = ProjectUids(registry, 200000, 10, taken=taken.__contains__)
    assert [uids.uid_of(p) for p in ("lung-ai", "brain-seg", "lung-ai", "mammo")] == [
        200000, 200002, 200000, 200003]
    again = ProjectUids(registry, 200000, 10, taken=taken.__contains__)
    assert again.known() == {"lung-ai": 200000, "brain-seg": 200002, "mammo": 200003}
    assert registry.stat().st_mode & 0o777 == 0o600


def test_root_and_existing_accounts_are_taken() -> None:
    assert host_id_taken(0)
    assert not host_id_taken(200_000 + 4321)


def test_a_uid_later_given_to_a_host_account_is_refused(tmp_path: Path) -> None:
    taken: set[int] = set()
    uids = ProjectUids(tmp_path / "uids.json", 200000, 10, taken=taken.__contains__)
    uids.uid_of("lung-ai")
    taken.add(200000)
    with pytest.raises(WorkspaceRefused, match="uid 200000 of project lung-ai now belongs to "
                       "a host account or group"):
        uids.uid_of("lung-ai")


def test_range_exhausted(tmp_path: Path) -> None:
    uids = ProjectUids(tmp_path / "uids.json", 200000, 1, taken=lambda _: False)
    uids.uid_of("lung-ai")
    with pytest.raises(WorkspaceRefused,
                       match=re.escape("no free project uid left in 200000..200000")):
        uids.uid_of("brain-seg")


def test_a_damaged_registry_is_never_guessed_around(tmp_path: Path) -> None:
    registry = tmp_path / "uids.json"
    registry.write_text('{"format": 1, "projects": {"lung-ai": "x"}}')
    with pytest.raises(StorageError, match="is malformed: restore it from backup"):
        ProjectUids(registry, 200000, 10).uid_of("lung-ai")


def test_zero_base_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceRefused, match="project uid base 0 must be above 0"):
        ProjectUids(tmp_path / "uids.json", 0, 10)
