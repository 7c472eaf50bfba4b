"""Egress (airlock) requests: files asking to leave, their findings, reviews, state machine."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from tre.domain.state_machine import check_transition
from tre.errors import InvalidInput


class EgressStatus(StrEnum):
    """Where an egress request stands."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"
    RELEASED = "released"
    WITHDRAWN = "withdrawn"


E = EgressStatus
EGRESS_TRANSITIONS: dict[EgressStatus, frozenset[EgressStatus]] = {
    E.DRAFT: frozenset({E.SUBMITTED, E.WITHDRAWN}),
    E.SUBMITTED: frozenset({E.IN_REVIEW, E.WITHDRAWN}),
    # A decided request goes back to review when its author updates a file (reviews reset).
    E.IN_REVIEW: frozenset({E.IN_REVIEW, E.APPROVED, E.PARTIALLY_APPROVED, E.REJECTED,
                            E.WITHDRAWN}),
    E.APPROVED: frozenset({E.RELEASED, E.IN_REVIEW, E.WITHDRAWN}),
    E.PARTIALLY_APPROVED: frozenset({E.RELEASED, E.IN_REVIEW, E.WITHDRAWN}),
    E.REJECTED: frozenset({E.IN_REVIEW, E.WITHDRAWN}),
    E.RELEASED: frozenset(),
    E.WITHDRAWN: frozenset(),
}
"""Every allowed change of an egress request's status; released and withdrawn are final."""

OPEN: frozenset[EgressStatus] = frozenset({E.SUBMITTED, E.IN_REVIEW})
"""Statuses in which output checkers review files."""

UPDATABLE: frozenset[EgressStatus] = frozenset(
    {E.SUBMITTED, E.IN_REVIEW, E.APPROVED, E.PARTIALLY_APPROVED, E.REJECTED})
"""Statuses in which the author may replace a file (which resets that file's reviews)."""


class Severity(StrEnum):
    """How much a finding matters: ``block`` can never be approved, ``warn`` needs more review."""

    INFO = "info"
    WARN = "warn"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of an automated check on a file: a stable code and a plain explanation."""

    check: str
    code: str
    severity: Severity
    message: str
    where: str = ""
    """Inside which member of an archive, or which cell of a table (empty: the file itself)."""

    def as_json(self) -> dict[str, str]:
        """The finding as stored and shown."""
        return {"check": self.check, "code": self.code, "severity": self.severity.value,
                "message": self.message, "where": self.where}

    @classmethod
    def from_json(cls, raw: dict[str, str]) -> Finding:
        """The inverse of :meth:`as_json`."""
        return cls(raw["check"], raw["code"], Severity(raw["severity"]), raw["message"],
                   raw.get("where", ""))


class FileKind(StrEnum):
    """What a file is, by its content (magic bytes and structure), never by its name."""

    TABLE = "table"
    TEXT = "text"
    NOTEBOOK = "notebook"
    IMAGE = "image"
    MODEL = "model"
    ARRAY = "array"
    ARCHIVE = "archive"
    DICOM = "dicom"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    """An output checker's decision on one file."""

    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class FileReview:
    """One checker's verdict on one version (``sha256``) of one file, with a comment."""

    reviewer: str
    sha256: str
    verdict: Verdict
    comment: str
    time: datetime


class FileOutcome(StrEnum):
    """Where one file stands in review."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class EgressFile:
    """A file of a request, as copied into the immutable request store."""

    name: str
    sha256: str
    size: int
    kind: FileKind
    findings: tuple[Finding, ...]
    updated_at: datetime
    reviews: tuple[FileReview, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        """Whether any finding blocks this file outright."""
        return any(f.severity is Severity.BLOCK for f in self.findings)

    @property
    def worst(self) -> Severity:
        """The most severe finding (info when there is none)."""
        order = (Severity.INFO, Severity.WARN, Severity.BLOCK)
        return max((f.severity for f in self.findings), key=order.index,
                   default=Severity.INFO)

    def current_reviews(self) -> tuple[FileReview, ...]:
        """Reviews of this file's current content; reviews of an older version do not count."""
        return tuple(r for r in self.reviews if r.sha256 == self.sha256)


@dataclass(frozen=True, slots=True)
class EgressRequest:
    """A researcher's request to take files out of a project, and where it stands."""

    id: str
    project: str
    permit: str
    author: str
    justification: str
    created_at: datetime
    status: EgressStatus = EgressStatus.DRAFT
    files: tuple[EgressFile, ...] = field(default=())
    status_reason: str | None = None
    released_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.justification.strip():
            raise InvalidInput("an egress request needs a justification (--justification "
                               "TEXT): say what the files are and why they must leave")

    def moved_to(self, status: EgressStatus, reason: str | None = None) -> EgressRequest:
        """This request in ``status``, if the transition table allows it."""
        check_transition("egress request", EGRESS_TRANSITIONS, self.status, status)
        return replace(self, status=status, status_reason=reason)

    def file(self, name: str) -> EgressFile:
        """The file called ``name``, or an error listing the request's files."""
        for f in self.files:
            if f.name == name:
                return f
        names = ", ".join(f.name for f in self.files)
        raise InvalidInput(f"request {self.id} has no file {name!r}: its files are {names}")


def decided_status(outcomes: dict[str, FileOutcome]) -> EgressStatus:
    """The request status once its files have these outcomes (in review while any is pending)."""
    values = set(outcomes.values())
    if not values or FileOutcome.PENDING in values:
        return EgressStatus.IN_REVIEW
    if values == {FileOutcome.APPROVED}:
        return EgressStatus.APPROVED
    if values == {FileOutcome.REJECTED}:
        return EgressStatus.REJECTED
    return EgressStatus.PARTIALLY_APPROVED
