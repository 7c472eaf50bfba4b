"""The one error hierarchy of tre: every message says what was wrong and what to do."""

from __future__ import annotations

from collections.abc import Sequence


class TREError(Exception):
    """Base of every error tre raises on purpose; the CLI prints it and exits non-zero."""

    exit_code = 1


class InvalidInput(TREError):
    """The caller gave something tre cannot accept (a bad date, an unknown flag value...)."""

    exit_code = 2


class NotFound(TREError):
    """A named object (user, dataset, application, permit) does not exist."""

    exit_code = 3


class InvalidStateTransition(TREError):
    """A state machine was asked for a change its transition table does not allow."""

    exit_code = 4

    def __init__(self, kind: str, current: str, requested: str) -> None:
        self.kind, self.current, self.requested = kind, current, requested
        super().__init__(
            f"cannot change {kind} status from {current} to {requested}"
        )


class PolicyDenied(TREError):
    """The policy engine said no (or could not answer, which counts as no)."""

    exit_code = 5

    def __init__(self, decision: str, reasons: Sequence[str]) -> None:
        self.decision, self.reasons = decision, list(reasons)
        super().__init__(f"denied by policy {decision}: " + "; ".join(self.reasons))


class PolicyEngineUnavailable(TREError):
    """The policy engine could not be reached or failed; every decision is then a deny."""

    exit_code = 6


class StorageError(TREError):
    """The database is missing, locked, or not at the schema this tre expects."""

    exit_code = 7


class AuditIntegrityError(TREError):
    """The audit trail does not verify: something was modified, removed, inserted or reordered."""

    exit_code = 8
