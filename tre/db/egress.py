"""Store and load egress requests, their files and reviews."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from tre.db.egress_schema import EgressFileRow, EgressRequestRow, EgressReviewRow
from tre.domain.egress import (
    EgressFile,
    EgressRequest,
    EgressStatus,
    FileKind,
    FileReview,
    Finding,
    Verdict,
)
from tre.errors import NotFound

_REQUESTS = cast(Table, EgressRequestRow.__table__)
_FILES = cast(Table, EgressFileRow.__table__)
_REVIEWS = cast(Table, EgressReviewRow.__table__)


def add(session: Session, request: EgressRequest, now: datetime) -> None:
    """Insert a new request and its files."""
    session.execute(insert(_REQUESTS).values(
        id=request.id, project=request.project, permit=request.permit, author=request.author,
        justification=request.justification, status=request.status.value,
        status_reason=request.status_reason, created_at=request.created_at, updated_at=now,
        released_at=request.released_at))
    for file in request.files:
        put_file(session, request.id, file, new=True)


def put_file(session: Session, request_id: str, file: EgressFile, *, new: bool) -> None:
    """Insert a file, or replace a file's content and findings."""
    values = {"sha256": file.sha256, "size": file.size, "kind": file.kind.value,
              "findings": [f.as_json() for f in file.findings], "updated_at": file.updated_at}
    if new:
        session.execute(insert(_FILES).values(request=request_id, name=file.name, **values))
        return
    done = session.execute(update(_FILES).where(
        _FILES.c.request == request_id, _FILES.c.name == file.name).values(**values))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"request {request_id} has no file {file.name!r}")


def save_status(session: Session, request: EgressRequest, now: datetime) -> None:
    """Write a request's status (and release time)."""
    done = session.execute(update(_REQUESTS).where(_REQUESTS.c.id == request.id).values(
        status=request.status.value, status_reason=request.status_reason, updated_at=now,
        released_at=request.released_at))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"no egress request {request.id}")


def add_review(session: Session, request_id: str, name: str, review: FileReview) -> None:
    """Record (or replace) one reviewer's verdict on one version of a file."""
    session.execute(delete(_REVIEWS).where(
        _REVIEWS.c.request == request_id, _REVIEWS.c.name == name,
        _REVIEWS.c.sha256 == review.sha256, _REVIEWS.c.reviewer == review.reviewer))
    session.execute(insert(_REVIEWS).values(
        request=request_id, name=name, sha256=review.sha256, reviewer=review.reviewer,
        verdict=review.verdict.value, comment=review.comment, time=review.time))


def _files(session: Session, request_ids: list[str]) -> dict[str, list[EgressFile]]:
    reviews: dict[tuple[str, str], list[FileReview]] = defaultdict(list)
    for r in session.execute(select(_REVIEWS).where(_REVIEWS.c.request.in_(request_ids))
                             .order_by(_REVIEWS.c.time, _REVIEWS.c.reviewer)):
        reviews[(r.request, r.name)].append(
            FileReview(r.reviewer, r.sha256, Verdict(r.verdict), r.comment, r.time))
    files: dict[str, list[EgressFile]] = defaultdict(list)
    for f in session.execute(select(_FILES).where(_FILES.c.request.in_(request_ids))
                             .order_by(_FILES.c.name)):
        files[f.request].append(EgressFile(
            name=f.name, sha256=f.sha256, size=int(f.size), kind=FileKind(f.kind),
            findings=tuple(Finding.from_json(x) for x in f.findings), updated_at=f.updated_at,
            reviews=tuple(reviews[(f.request, f.name)])))
    return files


def _to_domain(row: Any, files: list[EgressFile]) -> EgressRequest:
    return EgressRequest(
        id=row.id, project=row.project, permit=row.permit, author=row.author,
        justification=row.justification, created_at=row.created_at,
        status=EgressStatus(row.status), files=tuple(files), status_reason=row.status_reason,
        released_at=row.released_at)


def get(session: Session, request_id: str) -> EgressRequest:
    """The request ``request_id`` with its files and reviews."""
    row = session.execute(select(_REQUESTS).where(_REQUESTS.c.id == request_id)).first()
    if row is None:
        raise NotFound(f"no egress request {request_id!r}: `tre airlock list` lists them")
    return _to_domain(row, _files(session, [request_id])[request_id])


def list_all(session: Session, *, project: str | None = None,
             status: EgressStatus | None = None) -> list[EgressRequest]:
    """Requests, newest first, optionally of one project or status."""
    query = select(_REQUESTS).order_by(_REQUESTS.c.created_at.desc(), _REQUESTS.c.id)
    if project is not None:
        query = query.where(_REQUESTS.c.project == project)
    if status is not None:
        query = query.where(_REQUESTS.c.status == status.value)
    rows = list(session.execute(query))
    files = _files(session, [r.id for r in rows]) if rows else {}
    return [_to_domain(r, files[r.id]) for r in rows]
