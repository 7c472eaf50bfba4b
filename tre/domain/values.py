"""Value objects of applications and permits: members, dataset references, compute, periods."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from tre.domain.roles import ProjectRole
from tre.errors import InvalidInput

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_USER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_slug(kind: str, value: str) -> str:
    """Validate a project or dataset id: lower-case letters, digits and dashes, 2-63 long."""
    if not _SLUG.fullmatch(value):
        raise InvalidInput(
            f"invalid {kind} id {value!r}: use 2-63 lower-case letters, digits and dashes, "
            "starting with a letter or digit"
        )
    return value


def check_user_name(value: str) -> str:
    """Validate a user name: lower-case letters, digits, '.', '_' and '-', at most 64 long."""
    if not _USER.fullmatch(value):
        raise InvalidInput(
            f"invalid user name {value!r}: use lower-case letters, digits, '.', '_' and '-'"
        )
    return value


@dataclass(frozen=True, slots=True)
class Member:
    """A person in a project and their project role."""

    user: str
    role: ProjectRole

    @classmethod
    def parse(cls, text: str) -> Member:
        """Parse ``user`` or ``user:role`` (role defaults to researcher)."""
        user, _, role = text.partition(":")
        try:
            project_role = ProjectRole(role or ProjectRole.RESEARCHER)
        except ValueError:
            allowed = ", ".join(r.value for r in ProjectRole)
            raise InvalidInput(
                f"unknown project role {role!r} in {text!r}: use one of {allowed}"
            ) from None
        return cls(check_user_name(user), project_role)


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A dataset, optionally pinned to one version (``id@version``)."""

    dataset: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """Parse ``dataset`` or ``dataset@version``."""
        dataset, sep, version = text.partition("@")
        if sep and not version:
            raise InvalidInput(f"empty version in {text!r}: write DATASET or DATASET@VERSION")
        return cls(check_slug("dataset", dataset), version or None)

    def __str__(self) -> str:
        return f"{self.dataset}@{self.version}" if self.version else self.dataset


@dataclass(frozen=True, slots=True)
class Compute:
    """Compute requested for (and granted to) a project."""

    cpus: float = 2.0
    memory_gb: int = 8
    gpus: int = 0
    hours: int = 100

    def __post_init__(self) -> None:
        if not 0 < self.cpus <= 256:
            raise InvalidInput(f"cpus must be between 0 and 256, got {self.cpus}")
        if not 0 < self.memory_gb <= 4096:
            raise InvalidInput(f"memory must be between 1 and 4096 GB, got {self.memory_gb}")
        if not 0 <= self.gpus <= 64:
            raise InvalidInput(f"gpus must be between 0 and 64, got {self.gpus}")
        if not 0 < self.hours <= 1_000_000:
            raise InvalidInput(f"hours must be positive, got {self.hours}")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open period [start, end): valid at ``start``, no longer valid at ``end``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInput("dates need a time zone (e.g. 2027-01-01T00:00:00Z)")
        if self.end <= self.start:
            raise InvalidInput(
                f"the period ends ({self.end.isoformat()}) before it starts "
                f"({self.start.isoformat()}): give an end date after the start date"
            )

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside the period."""
        return self.start <= moment < self.end
