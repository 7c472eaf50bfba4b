"""SME sandboxes: a permit-free project over synthetic dataset versions, and its state machine."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from tre.domain.permits import PinnedDataset
from tre.domain.state_machine import check_transition
from tre.domain.values import Compute, check_slug, check_user_name
from tre.errors import InvalidInput


class SandboxStatus(StrEnum):
    """Where a sandbox stands; a closed sandbox starts nothing again."""

    ACTIVE = "active"
    CLOSED = "closed"


SANDBOX_TRANSITIONS: dict[SandboxStatus, frozenset[SandboxStatus]] = {
    SandboxStatus.ACTIVE: frozenset({SandboxStatus.CLOSED}),
    SandboxStatus.CLOSED: frozenset(),
}
"""Every allowed change of a sandbox's status; closed is final."""


@dataclass(frozen=True, slots=True)
class Sandbox:
    """An SME developer's project on synthetic look-alike data: no permit, policy-checked."""

    id: str
    name: str
    owner: str
    members: tuple[str, ...]
    datasets: tuple[PinnedDataset, ...]
    compute: Compute
    created_at: datetime
    status: SandboxStatus = SandboxStatus.ACTIVE
    status_reason: str | None = None

    def __post_init__(self) -> None:
        check_slug("sandbox", self.name)
        for user in (self.owner, *self.members):
            check_user_name(user)
        if not self.datasets:
            raise InvalidInput(f"sandbox {self.name} needs at least one synthetic dataset: "
                               "add --dataset DATASET@VERSION (a `tre synth --like` twin)")

    @property
    def users(self) -> tuple[str, ...]:
        """The owner, then the other members."""
        return (self.owner, *(m for m in self.members if m != self.owner))

    def closed(self, reason: str) -> Sandbox:
        """This sandbox closed (nothing starts in it again)."""
        if not reason.strip():
            raise InvalidInput(f"closing sandbox {self.name} needs a reason (--reason TEXT)")
        check_transition("sandbox", SANDBOX_TRANSITIONS, self.status, SandboxStatus.CLOSED)
        return replace(self, status=SandboxStatus.CLOSED, status_reason=reason)
