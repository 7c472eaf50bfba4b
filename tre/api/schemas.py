"""The API's request and response bodies (pydantic), apart from the domain's dataclasses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tre.domain.egress import EgressFile, EgressRequest, EgressStatus, FileKind, Severity, Verdict
from tre.domain.permits import DataPermit

NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Body(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class SubmitBody(Body):
    """A new egress request: files already in the caller's outputs folder of the project."""

    project: NonBlank = Field(description="The project whose outputs leave.")
    justification: NonBlank = Field(description="What the files are and why they leave.")
    files: list[NonBlank] = Field(
        min_length=1, max_length=1000,
        description="Paths relative to your /outputs folder (e.g. `tables/counts.csv`).")


class ReviewBody(Body):
    """An output checker's verdict on one file."""

    verdict: Verdict
    comment: NonBlank = Field(description="Why (recorded in the audit trail).")


class FindingOut(BaseModel):
    """One automated check result."""

    check: str
    code: str
    severity: Severity
    message: str
    where: str


class ReviewOut(BaseModel):
    """A checker's verdict on the file's current content."""

    reviewer: str
    verdict: Verdict
    comment: str
    time: datetime


class FileOut(BaseModel):
    """A file of a request."""

    name: str
    sha256: str
    size: int
    kind: FileKind
    worst: Severity
    findings: list[FindingOut]
    reviews: list[ReviewOut]

    @classmethod
    def of(cls, file: EgressFile) -> FileOut:
        """From the domain's file."""
        return cls(name=file.name, sha256=file.sha256, size=file.size, kind=file.kind,
                   worst=file.worst,
                   findings=[FindingOut(check=f.check, code=f.code, severity=f.severity,
                                        message=f.message, where=f.where)
                             for f in file.findings],
                   reviews=[ReviewOut(reviewer=r.reviewer, verdict=r.verdict,
                                      comment=r.comment, time=r.time)
                            for r in file.current_reviews()])


class EgressRequestOut(BaseModel):
    """An egress request with its files, findings and current reviews."""

    id: str
    project: str
    permit: str
    author: str
    justification: str
    status: EgressStatus
    status_reason: str | None
    created_at: datetime
    released_at: datetime | None
    files: list[FileOut]

    @classmethod
    def of(cls, request: EgressRequest) -> EgressRequestOut:
        """From the domain's request."""
        return cls(id=request.id, project=request.project, permit=request.permit,
                   author=request.author, justification=request.justification,
                   status=request.status, status_reason=request.status_reason,
                   created_at=request.created_at, released_at=request.released_at,
                   files=[FileOut.of(f) for f in request.files])


class ReleaseOut(BaseModel):
    """A released request: the files anyone in the project may download."""

    request: EgressRequestOut
    files: list[str] = Field(description="Names under .../release/files/ to download.")


class ProjectOut(BaseModel):
    """A project the caller is a member of."""

    project: str
    permit: str
    role: str
    permit_status: str


class MeOut(BaseModel):
    """The caller as tre knows them."""

    name: str
    roles: list[str]
    projects: list[ProjectOut]

    @classmethod
    def of(cls, name: str, roles: frozenset[str], permits: list[DataPermit],
           now: datetime) -> MeOut:
        """From the user's roles and the permits naming them."""
        return cls(name=name, roles=sorted(roles),
                   projects=[ProjectOut(project=p.project, permit=p.id, role=m.role.value,
                                        permit_status=p.effective_status(now).value)
                             for p in permits for m in p.members if m.user == name])


class ErrorOut(BaseModel):
    """What went wrong and what to do; policy denials add the policy's reasons."""

    detail: str
    decision: str | None = None
    reasons: list[str] = Field(default_factory=list)
