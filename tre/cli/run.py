"""`tre run`: a batch job in the project's isolated workspace, exit code passed through."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from tre.cli.common import AsUser, node
from tre.errors import InvalidInput
from tre.services.bootstrap import load_settings
from tre.workspaces.bwrap import BwrapBackend, Tools
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.jobs import NOT_STARTED, record_refusal, run_job
from tre.workspaces.spec import GIB, Profile
from tre.workspaces.uids import ProjectUids


def workspace_settings() -> WorkspaceSettings:
    """The TRE_WORKSPACES_* settings; InvalidInput naming the bad variable."""
    try:
        return WorkspaceSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"TRE_WORKSPACES_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors())
        raise InvalidInput(f"bad workspace setting: {problems}") from None


def run(
    project: Annotated[str, typer.Option(
        "--project", help="The approved project, or an SME sandbox.", show_default=False)],
    as_user: AsUser,
    command: Annotated[list[str], typer.Argument(help="The command, after `--`.",
                                                 show_default=False)],
    cpus: Annotated[float | None, typer.Option(
        help="CPUs for this job (default: the permit's quota).")] = None,
    memory_gb: Annotated[float | None, typer.Option(
        help="Memory in GiB (default: the permit's quota).")] = None,
    pids: Annotated[int, typer.Option(help="Most processes at once.")] = 1024,
) -> None:
    """Run CMD in PROJECT's isolated workspace as USER: the permit's (or the SME sandbox's)
    data read-only at /data, /workspace and /outputs writable, no network, cpu/memory/pids
    limits. Exits with CMD's code (125 when tre refuses or cannot start the sandbox)."""
    settings = load_settings()
    workspaces = workspace_settings()
    profile = Profile(name="batch", cpus=cpus, pids=pids,
                      memory_bytes=None if memory_gb is None else int(memory_gb * GIB))
    uids = ProjectUids(workspaces.uid_registry(settings.home), workspaces.uid_base,
                       workspaces.uid_count)
    with node() as opened:
        try:
            backend = BwrapBackend(workspaces, tools=Tools.find(
                bwrap=None if workspaces.bwrap is None else str(workspaces.bwrap)))
        except SandboxUnavailable as exc:  # e.g. no bwrap on this node: refused, and audited
            record_refusal(opened, as_user, project, exc)
            raise
        result = run_job(opened, as_user, project, command, backend=backend,
                         settings=workspaces, uids=uids, profile=profile)
    if not result.started:
        typer.echo(f"tre: {NOT_STARTED}", err=True)
        raise typer.Exit(SandboxUnavailable.exit_code)
    if result.stopped:
        typer.echo(f"tre: job stopped: {result.stopped}", err=True)
    elif result.oom_killed:
        typer.echo("tre: the job ran out of memory and was killed (raise --memory-gb up to "
                   "the permit's quota)", err=True)
    raise typer.Exit(result.exit_code)
