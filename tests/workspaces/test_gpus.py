"""The GPU allocator: whole devices, never shared, within quota, persisted, freed on stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tre.errors import InvalidInput, StorageError
from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.gpus import GpuAllocator, GpuHold

T = "2026-12-02T09:00:00+00:00"


def allocator(path: Path, devices: tuple[str, ...] = ("0", "1", "2", "3")) -> GpuAllocator:
    return GpuAllocator(path / "gpu-allocations.json", devices, clock=lambda: T)


def test_allocate_persist_release(tmp_path: Path) -> None:
    gpus = allocator(tmp_path)
    assert gpus.allocate("jupyter-bob", "lung-ai", 2, quota=2) == ("0", "1")
    assert gpus.allocate("jupyter-alice", "brain-seg", 1, quota=1) == ("2",)
    # a hub restart reads the same holds: nothing is handed out twice
    again = allocator(tmp_path)
    assert again.holds() == (GpuHold("0", "jupyter-bob", "lung-ai", T),
                             GpuHold("1", "jupyter-bob", "lung-ai", T),
                             GpuHold("2", "jupyter-alice", "brain-seg", T))
    assert again.allocate("jupyter-bob", "lung-ai", 2, quota=2) == ("0", "1")  # idempotent
    assert json.loads((tmp_path / "gpu-allocations.json").read_text()) == {
        "format": 1, "devices": {
            "0": {"holder": "jupyter-bob", "project": "lung-ai", "since": T},
            "1": {"holder": "jupyter-bob", "project": "lung-ai", "since": T},
            "2": {"holder": "jupyter-alice", "project": "brain-seg", "since": T}}}
    assert (tmp_path / "gpu-allocations.json").stat().st_mode & 0o777 == 0o600
    assert again.release("jupyter-bob") == ("0", "1")
    assert again.release("jupyter-bob") == ()
    assert again.allocate("jupyter-carol", "lung-ai", 2, quota=2) == ("0", "1")


def test_none_free_is_refused_naming_the_holders(tmp_path: Path) -> None:
    gpus = allocator(tmp_path, ("0", "1"))
    gpus.allocate("jupyter-bob", "lung-ai", 1, quota=1)
    gpus.allocate("jupyter-alice", "brain-seg", 1, quota=1)
    with pytest.raises(WorkspaceRefused) as refused:
        gpus.allocate("jupyter-carol", "colon-path", 1, quota=4)
    assert str(refused.value) == (
        "jupyter-carol asks for 1 GPU(s) but only 0 of 2 are free: GPU 0 held by jupyter-bob "
        f"(project lung-ai) since {T}; GPU 1 held by jupyter-alice (project brain-seg) since "
        f"{T}; try again when one of those stops, or start with gpus=0")
    assert len(gpus.holds()) == 2


def test_a_project_never_holds_more_than_its_quota(tmp_path: Path) -> None:
    gpus = allocator(tmp_path)
    gpus.allocate("jupyter-bob", "lung-ai", 1, quota=2)
    with pytest.raises(WorkspaceRefused) as refused:
        gpus.allocate("jupyter-alice", "lung-ai", 2, quota=2)
    assert str(refused.value) == (
        "project lung-ai already holds 1 GPU(s) of its quota of 2: GPU 0 held by jupyter-bob "
        f"(project lung-ai) since {T}; stop one of those workspaces or start jupyter-alice "
        "with fewer GPUs")
    assert gpus.allocate("jupyter-alice", "lung-ai", 1, quota=2) == ("1",)


def test_a_holder_cannot_change_its_count_while_holding(tmp_path: Path) -> None:
    gpus = allocator(tmp_path)
    gpus.allocate("jupyter-bob", "lung-ai", 1, quota=2)
    with pytest.raises(WorkspaceRefused, match="jupyter-bob already holds GPU\\(s\\) 0: stop it"):
        gpus.allocate("jupyter-bob", "lung-ai", 2, quota=2)


def test_zero_gpus_holds_nothing(tmp_path: Path) -> None:
    gpus = allocator(tmp_path)
    assert gpus.allocate("jupyter-bob", "lung-ai", 0, quota=0) == ()
    assert gpus.holds() == ()


def test_release_all_but_the_running_after_a_crash(tmp_path: Path) -> None:
    gpus = allocator(tmp_path)
    gpus.allocate("jupyter-bob", "lung-ai", 1, quota=1)
    gpus.allocate("jupyter-alice", "brain-seg", 1, quota=1)
    assert gpus.release_all_but({"jupyter-alice"}) == ("0",)
    assert [h.holder for h in gpus.holds()] == ["jupyter-alice"]


@pytest.mark.parametrize("devices", [("0", "0"), ("",), ("0,1",)])
def test_bad_device_lists_are_refused(tmp_path: Path, devices: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput, match="must be distinct and non-empty"):
        allocator(tmp_path, devices)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": 2, "devices": {}}',
                                     '{"format": 1, "devices": {"0": {"holder": "x"}}}'])
def test_a_damaged_file_fails_closed(tmp_path: Path, content: str) -> None:
    (tmp_path / "gpu-allocations.json").write_text(content)
    with pytest.raises(StorageError, match=r"GPU allocations .* delete the file"):
        allocator(tmp_path).allocate("jupyter-bob", "lung-ai", 1, quota=1)


GRAB = """
import sys
from pathlib import Path
from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.gpus import GpuAllocator
gpus = GpuAllocator(Path(sys.argv[1]), ("0", "1", "2"))
sys.stdin.readline()  # both processes are up: go
try:
    print(",".join(gpus.allocate(sys.argv[2], sys.argv[2], 2, quota=2)))
except WorkspaceRefused as exc:
    print("refused:", exc)
"""


def test_two_processes_never_get_the_same_device(tmp_path: Path) -> None:
    path = str(tmp_path / "gpu-allocations.json")
    procs = [subprocess.Popen([sys.executable, "-c", GRAB, path, holder], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for holder in ("p1", "p2")]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert [p.returncode for p in procs] == [0, 0]
    # 3 devices, each asks for 2: exactly one gets 0 and 1, the other is refused
    assert outputs[0] == "0,1"
    assert outputs[1].startswith("refused: ")
    assert "asks for 2 GPU(s) but only 1 of 3 are free" in outputs[1]
    assert [h.device for h in GpuAllocator(Path(path), ("0",)).holds()] == ["0", "1"]
