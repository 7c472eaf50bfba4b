"""`tre workspaces ...`: the operator's view of project disk quotas (list, grow, mount)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from tre.cli.common import JsonFlag, console, node, print_json, print_table
from tre.cli.run import workspace_settings
from tre.cli.users import operator
from tre.errors import InvalidInput, TREError
from tre.hub.projects import record
from tre.workspaces.quota import format_size, mounted_device, parse_size

GROW = "workspace.quota.grow"
"""The audit event of a quota grown (or refused) by an operator."""

app = typer.Typer(help="Project workspaces: disk quotas (TRE_WORKSPACES_QUOTA).",
                  no_args_is_help=True)


@app.command()
def quotas(json_out: JsonFlag = False) -> None:
    """List each project's quota image: its size, whether it is mounted, and how full."""
    images = workspace_settings().quotas()
    rows: list[dict[str, Any]] = []
    for project in images.projects():
        folder = images.root / project
        mounted = mounted_device(folder) is not None
        used = None
        if mounted:
            usage = os.statvfs(folder)
            used = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
        rows.append({"project": project, "quota_bytes": images.size_of(project),
                     "mounted": mounted, "used_bytes": used})
    if json_out:
        print_json(rows)
        return
    print_table("Workspace quotas", ["project", "quota", "mounted", "used"],
                [(r["project"], format_size(r["quota_bytes"]), "yes" if r["mounted"] else "no",
                  "" if r["used_bytes"] is None else f"{r['used_bytes'] // 1024**2} MiB")
                 for r in rows])


@app.command()
def grow(
    project: Annotated[str, typer.Argument(help="The project whose quota grows.")],
    size: Annotated[str, typer.Argument(help="The new size, e.g. 40G (only ever larger).")],
) -> None:
    """Grow PROJECT's disk quota to SIZE (offline: stop its servers and jobs first); audited."""
    images = workspace_settings().quotas()
    new = parse_size(size)
    with node() as opened:
        try:
            before = images.size_of(project)
            images.grow(project, new)
        except TREError as exc:
            record(opened, actor=operator(), action=GROW, project=project, outcome="denied",
                   details={"size_bytes": new, "reason": str(exc)})
            raise
        record(opened, actor=operator(), action=GROW, project=project, outcome="allowed",
               details={"from_bytes": before, "size_bytes": new})
    console.print(f"project {project}'s quota: {format_size(before)} -> {format_size(new)}")


@app.command()
def mount(project: Annotated[str, typer.Argument(help="The project.")]) -> None:
    """Mount PROJECT's quota image, making it (TRE_WORKSPACES_QUOTA) if it has none yet."""
    images = workspace_settings().quotas()
    if not images.applies(project):
        raise InvalidInput(f"project {project} has no quota image and TRE_WORKSPACES_QUOTA is "
                           "not set: set it to the size the image should have")
    done = images.ensure_mounted(project)
    console.print(f"{'mounted' if done else 'already mounted:'} the workspace quota image of "
                  f"{project} at {images.root / project}", soft_wrap=True)  # a path: unbroken


@app.command()
def unmount(
    project: Annotated[str | None, typer.Argument(
        help="The project (default: every project image mounted under the root).")] = None,
) -> None:
    """Unmount quota images (the next server or job of the project mounts its image again)."""
    images = workspace_settings().quotas()
    done = images.unmount_all() if project is None else \
        [project] if images.unmount(project) else []
    for name in done:
        console.print(f"unmounted the workspace quota image of {name}")
