"""Egress (airlock) endpoints: each one a thin call of tre.airlock.service as the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse

from tre.airlock import release as releases
from tre.airlock import service
from tre.api.access import Deciding, Readable, Seeing
from tre.api.deps import State
from tre.api.errors import Forbidden
from tre.api.schemas import EgressRequestOut, ErrorOut, ReleaseOut, ReviewBody, SubmitBody
from tre.domain.egress import EgressStatus
from tre.errors import NotFound
from tre.services.node import refusal

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422, 503)}

def _released_names(folder: Path) -> list[str]:
    return [str(f["name"]) for f in releases.manifest_of(folder)["files"]]


router = APIRouter(prefix="/egress-requests", tags=["egress"], responses=ERRORS)


@router.get("", summary="Egress requests the caller may see, newest first")
def list_requests(api: State, who: Seeing,
                  project: Annotated[str | None, Query(description="Only this project.")] = None,
                  status_: Annotated[EgressStatus | None,
                                     Query(alias="status", description="Only this status.")
                                     ] = None) -> list[EgressRequestOut]:
    """Members see their projects' requests; output checkers and HDAB officers see all."""
    found = service.list_requests(api.node, project=project, status=status_)
    return [EgressRequestOut.of(r) for r in found if who.may_read(r)]


@router.post("", status_code=status.HTTP_201_CREATED,
             summary="Submit files from the caller's /outputs folder")
async def submit(api: State, who: Seeing, body: SubmitBody) -> EgressRequestOut:
    """Copy the named files of the caller's outputs folder into a new request, check and
    submit it (policy ``egress_submit``; intake refuses links, devices and paths outside)."""
    request = await api.run(service.submit, api.node, api.settings.airlock, who.name,
                            body.project, body.justification, body.files)
    return EgressRequestOut.of(request)


@router.get("/{request_id}", summary="One request: files, findings, current reviews")
def get_request(request: Readable) -> EgressRequestOut:
    """What a checker sees (members of the project, output checkers, HDAB officers)."""
    return EgressRequestOut.of(request)


@router.post("/{request_id}/files/{name:path}/reviews", status_code=status.HTTP_201_CREATED,
             summary="Review one file (output checkers outside the project)")
async def review(who: Deciding, request_id: str, name: str, body: ReviewBody,
                 api: State) -> EgressRequestOut:
    """Record an approve/reject verdict with a comment (policy ``egress_review``)."""
    done = await api.run(service.review, api.node, who.name, request_id, name, body.verdict,
                         body.comment)
    return EgressRequestOut.of(done)


@router.post("/{request_id}/release", summary="Release the approved files, signed")
async def release(who: Deciding, request: Readable, api: State) -> ReleaseOut:
    """Copy the approved files of a decided request to its signed release."""
    folder = await api.run(service.release, api.node, api.settings.airlock, who.name,
                           request.id)
    released = await api.run(service.get_request, api.node, request.id)
    return ReleaseOut(request=EgressRequestOut.of(released), files=_released_names(folder))


@router.post("/{request_id}/withdraw", summary="Withdraw the caller's own request")
def withdraw(request: Readable, api: State, who: Seeing) -> EgressRequestOut:
    """The author withdraws a request that is not released."""
    if who.name != request.author:
        raise Forbidden(f"only the author ({request.author}) may withdraw {request.id}")
    return EgressRequestOut.of(service.withdraw(api.node, who.name, request.id))


@router.get("/{request_id}/release/files/{name:path}", response_class=FileResponse,
            summary="Download one released file (members of the project)")
async def download(request_id: str, name: str, api: State, who: Seeing) -> FileResponse:
    """A released file, to members of the project only (policy ``egress_download``)."""
    decision = await api.run(service.check_download, api.node, who.name, request_id, name)
    if not decision.allow:
        raise refusal(decision)
    folder = releases.releases_root(api.settings.airlock.home) / request_id
    released = _released_names(folder)
    if name not in released:
        raise NotFound(f"{name} is not among the released files of {request_id}: "
                       f"{', '.join(released) or 'none were released'}")
    return FileResponse(folder / releases.FILES / name, filename=name.rsplit("/", 1)[-1],
                        media_type="application/octet-stream")
