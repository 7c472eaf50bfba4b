"""`tre airlock ...`: submit outputs, review them, release and verify signed releases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tre.airlock import release as releases
from tre.airlock import service
from tre.cli.common import AsUser, JsonFlag, node, print_json, print_table, when
from tre.domain.egress import EgressRequest, EgressStatus, Verdict
from tre.errors import InvalidInput, TREError
from tre.services.bootstrap import load_settings
from tre.workspaces.config import WorkspaceSettings

app = typer.Typer(help="The airlock: submit outputs, review them, release signed results.",
                  no_args_is_help=True)


def _config() -> service.AirlockConfig:
    settings = load_settings()
    return service.AirlockConfig(home=settings.home, workspace_root=WorkspaceSettings().root)


def request_json(request: EgressRequest) -> dict[str, Any]:
    """A request as JSON, with each file's findings and current reviews."""
    return {
        "id": request.id, "project": request.project, "permit": request.permit,
        "author": request.author, "justification": request.justification,
        "status": request.status.value, "status_reason": request.status_reason,
        "created_at": request.created_at.isoformat(),
        "released_at": request.released_at.isoformat() if request.released_at else None,
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size, "kind": f.kind.value,
                   "worst": f.worst.value, "findings": [x.as_json() for x in f.findings],
                   "reviews": [{"reviewer": r.reviewer, "verdict": r.verdict.value,
                                "comment": r.comment, "time": r.time.isoformat()}
                               for r in f.current_reviews()]}
                  for f in request.files],
    }


@app.command()
def submit(
    actor: AsUser,
    project: Annotated[str, typer.Option(help="The project whose outputs leave.")],
    justification: Annotated[str, typer.Option(help="What the files are and why they leave.")],
    files: Annotated[list[str], typer.Argument(help="Files under your outputs folder.")],
    json_out: JsonFlag = False,
) -> None:
    """Copy files from your outputs folder into a new request, check them and submit it."""
    with node() as n:
        request = service.submit(n, _config(), actor, project, justification, files)
    if json_out:
        print_json(request_json(request))
        return
    typer.echo(f"request {request.id}: {request.status}")
    for f in request.files:
        typer.echo(f"  {f.name} ({f.kind}): {f.worst}"
                   + "".join(f"\n    {x.severity}: {x.message}" for x in f.findings))


@app.command()
def update(request: str, file: str, actor: AsUser) -> None:
    """Replace one file of your request with its new version (its reviews start over)."""
    with node() as n:
        done = service.update_file(n, _config(), actor, request, file)
    typer.echo(f"request {done.id}: {done.status}")


@app.command("list")
def list_(
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    status: Annotated[EgressStatus | None, typer.Option(help="Only this status.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List egress requests, newest first."""
    with node() as n:
        found = service.list_requests(n, project=project, status=status)
    if json_out:
        print_json([request_json(r) for r in found])
        return
    print_table("Egress requests", ["id", "project", "author", "status", "files", "created"],
                [(r.id, r.project, r.author, r.status.value, len(r.files), when(r.created_at))
                 for r in found])


@app.command()
def show(request: str, json_out: JsonFlag = False) -> None:
    """Show a request: each file's findings and reviews (what a checker sees)."""
    with node() as n:
        found = service.get_request(n, request)
    if json_out:
        print_json(request_json(found))
        return
    typer.echo(f"request {found.id} of {found.project} by {found.author}: {found.status}")
    typer.echo(f"justification: {found.justification}")
    for f in found.files:
        typer.echo(f"- {f.name} ({f.kind}, {f.size} bytes, sha256 {f.sha256[:12]}): {f.worst}")
        for x in f.findings:
            typer.echo(f"    {x.severity} {x.code}{' in ' + x.where if x.where else ''}: "
                       f"{x.message}")
        for r in f.current_reviews():
            typer.echo(f"    review: {r.reviewer} {r.verdict}: {r.comment}")


@app.command()
def review(
    request: str,
    file: str,
    actor: AsUser,
    verdict: Annotated[Verdict, typer.Option(help="approve or reject this file.")],
    comment: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")],
) -> None:
    """Approve or reject one file of a request (output checkers only)."""
    with node() as n:
        done = service.review(n, actor, request, file, verdict, comment)
    typer.echo(f"request {done.id}: {done.status}")


@app.command()
def withdraw(request: str, actor: AsUser) -> None:
    """Withdraw your request."""
    with node() as n:
        done = service.withdraw(n, actor, request)
    typer.echo(f"request {done.id}: {done.status}")


@app.command("release")
def release_(request: str, actor: AsUser) -> None:
    """Release the approved files of a decided request, with a signed manifest."""
    with node() as n:
        folder = service.release(n, _config(), actor, request)
    typer.echo(f"released to {folder}")


@app.command()
def verify(
    release: Annotated[str, typer.Argument(help="A release folder, or a request id.")],
    json_out: JsonFlag = False,
) -> None:
    """Check a release's signature and every file's SHA-256; exits non-zero if it fails."""
    settings = load_settings()
    folder = Path(release)
    if not folder.is_dir():
        folder = releases.releases_root(settings.home) / release
    if not folder.is_dir():
        raise InvalidInput(f"no release {release}: give a release folder or a released "
                           "request id")
    result = releases.verify(folder, settings.keys_dir)
    if json_out:
        print_json({"release": str(folder), "request": result.request, "files": result.files,
                    "ok": result.ok, "problems": list(result.problems)})
    else:
        typer.echo(f"release {result.request}: {result.files} file(s), "
                   + ("signature and hashes verify" if result.ok else "DOES NOT VERIFY"))
        for problem in result.problems:
            typer.echo(f"  {problem}")
    if not result.ok:
        raise ReleaseDoesNotVerify(f"release {folder} does not verify")


class ReleaseDoesNotVerify(TREError):
    """A release's manifest, signature or files do not match."""

    exit_code = 8
