"""Data permits: what the HDAB grants on approval, its state machine, and when it is in force."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from tre.domain.roles import DATA_ROLES
from tre.domain.state_machine import check_transition
from tre.domain.values import Compute, Member, Period
from tre.errors import InvalidInput


class PermitStatus(StrEnum):
    """Where a permit stands. ``expired`` is also reported for any permit past its end."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


P = PermitStatus
PERMIT_TRANSITIONS: dict[PermitStatus, frozenset[PermitStatus]] = {
    P.ACTIVE: frozenset({P.SUSPENDED, P.REVOKED, P.EXPIRED}),
    P.SUSPENDED: frozenset({P.ACTIVE, P.REVOKED, P.EXPIRED}),
    P.REVOKED: frozenset(),
    P.EXPIRED: frozenset(),
}
"""Every allowed change of a permit's status; revoked and expired are final."""


class EgressProfile(StrEnum):
    """What kinds of results the airlock may release for this permit."""

    AGGREGATE = "aggregate"
    """Aggregate tables, plots and reports only."""
    MODELS = "models"
    """Also trained model weights, under elevated review."""
    NONE = "none"
    """Nothing may leave."""


@dataclass(frozen=True, slots=True)
class PinnedDataset:
    """A dataset pinned to the exact version the permit grants."""

    dataset: str
    version: str

    def __str__(self) -> str:
        return f"{self.dataset}@{self.version}"


@dataclass(frozen=True, slots=True)
class DataPermit:
    """The HDAB's grant: who may use which dataset versions, for which project, until when."""

    id: str
    project: str
    application: str
    issued_by: str
    issued_at: datetime
    decision_reason: str
    conditions: tuple[str, ...]
    period: Period
    datasets: tuple[PinnedDataset, ...]
    members: tuple[Member, ...]
    compute: Compute
    egress: EgressProfile = EgressProfile.AGGREGATE
    status: PermitStatus = PermitStatus.ACTIVE
    status_reason: str | None = None

    def effective_status(self, now: datetime) -> PermitStatus:
        """The status that counts at ``now``: a permit past its end is expired at once."""
        if self.status in (P.ACTIVE, P.SUSPENDED) and now >= self.period.end:
            return P.EXPIRED
        return self.status

    def in_force(self, now: datetime) -> bool:
        """Whether the permit grants anything at ``now``."""
        return self.effective_status(now) is P.ACTIVE and self.period.contains(now)

    def may_use_data(self, user: str) -> bool:
        """Whether ``user`` is a member whose project role reads data."""
        return any(m.user == user and m.role in DATA_ROLES for m in self.members)

    def moved_to(self, status: PermitStatus, now: datetime, reason: str) -> DataPermit:
        """This permit in ``status`` (the effective status at ``now`` is where it moves from)."""
        if not reason.strip():
            raise InvalidInput(f"changing a permit to {status} needs a reason (--reason TEXT)")
        current = self.effective_status(now)
        check_transition("permit", PERMIT_TRANSITIONS, current, status)
        return replace(self, status=status, status_reason=reason)

    def expired(self, now: datetime) -> DataPermit:
        """This permit with ``expired`` recorded (it already counted as expired from its end)."""
        if now < self.period.end:
            raise InvalidInput(f"permit {self.id} runs until {self.period.end.isoformat()}")
        check_transition("permit", PERMIT_TRANSITIONS, self.status, P.EXPIRED)
        return replace(self, status=P.EXPIRED, status_reason="the permit's period ended")

    def amended(
        self, members: tuple[Member, ...], period: Period, compute: Compute, reason: str
    ) -> DataPermit:
        """This permit with the members, period and compute of an approved amendment."""
        if self.status in (P.REVOKED, P.EXPIRED):
            raise InvalidInput(f"permit {self.id} is {self.status}: it cannot be amended")
        return replace(self, members=members, period=period, compute=compute, status_reason=reason)
