"""Turn domain value objects into JSON columns and back."""

from __future__ import annotations

from typing import Any

from tre.domain.permits import PinnedDataset
from tre.domain.roles import ProjectRole
from tre.domain.values import Compute, DatasetRef, Member


def members_to_json(members: tuple[Member, ...]) -> list[Any]:
    """Members as ``[{"user", "role"}]``."""
    return [{"user": m.user, "role": m.role.value} for m in members]


def members_from_json(raw: list[Any]) -> tuple[Member, ...]:
    """The inverse of :func:`members_to_json`."""
    return tuple(Member(m["user"], ProjectRole(m["role"])) for m in raw)


def refs_to_json(refs: tuple[DatasetRef, ...] | tuple[PinnedDataset, ...]) -> list[Any]:
    """Dataset references as ``[{"dataset", "version"}]`` (version may be null)."""
    return [{"dataset": r.dataset, "version": r.version} for r in refs]


def refs_from_json(raw: list[Any]) -> tuple[DatasetRef, ...]:
    """Requested dataset references."""
    return tuple(DatasetRef(r["dataset"], r["version"]) for r in raw)


def pinned_from_json(raw: list[Any]) -> tuple[PinnedDataset, ...]:
    """Pinned dataset versions of a permit."""
    return tuple(PinnedDataset(r["dataset"], r["version"]) for r in raw)


def compute_to_json(compute: Compute) -> dict[str, Any]:
    """Compute as a JSON object."""
    return {"cpus": compute.cpus, "memory_gb": compute.memory_gb, "gpus": compute.gpus,
            "hours": compute.hours}


def compute_from_json(raw: dict[str, Any]) -> Compute:
    """The inverse of :func:`compute_to_json`."""
    return Compute(float(raw["cpus"]), int(raw["memory_gb"]), int(raw["gpus"]),
                   int(raw["hours"]))
