"""`tre sandboxes ...`: SME sandboxes on synthetic data, no permit needed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tre.cli.common import AsUser, JsonFlag, node, print_json, print_table, when
from tre.domain.sandboxes import Sandbox
from tre.domain.values import Compute, DatasetRef, check_user_name
from tre.services import sandboxes
from tre.services.bootstrap import load_settings

app = typer.Typer(help="SME sandboxes: prototype on synthetic datasets without a permit.",
                  no_args_is_help=True)


def sandbox_json(sandbox: Sandbox) -> dict[str, Any]:
    """A sandbox as JSON."""
    c = sandbox.compute
    return {"id": sandbox.id, "name": sandbox.name, "owner": sandbox.owner,
            "members": list(sandbox.members), "datasets": [str(d) for d in sandbox.datasets],
            "compute": {"cpus": c.cpus, "memory_gb": c.memory_gb, "gpus": c.gpus,
                        "hours": c.hours},
            "status": sandbox.status.value, "status_reason": sandbox.status_reason,
            "created_at": sandbox.created_at.isoformat()}


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Sandbox name (a project id: lower-case, dashes).")],
    actor: AsUser,
    dataset: Annotated[list[str], typer.Option(
        "--dataset", help="A synthetic DATASET@VERSION (or DATASET: its newest); repeat.")],
    member: Annotated[list[str] | None, typer.Option(
        "--member", help="Another user who may use the sandbox; repeat.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Create a sandbox over synthetic datasets (real data needs `tre permits apply`)."""
    settings = load_settings()
    compute = Compute(cpus=settings.sandbox_cpus, memory_gb=settings.sandbox_memory_gb, gpus=0)
    with node() as n:
        created = sandboxes.create_sandbox(
            n, actor, name, tuple(DatasetRef.parse(d) for d in dataset),
            tuple(check_user_name(m) for m in member or ()), compute)
    if json_out:
        print_json(sandbox_json(created))
    else:
        typer.echo(f"sandbox {created.name} ({created.id}) created over "
                   f"{' '.join(str(d) for d in created.datasets)}")


@app.command("list")
def list_(
    user: Annotated[str | None, typer.Option(help="Only those this user may use.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List sandboxes."""
    with node() as n:
        found = sandboxes.list_sandboxes(n, user=user)
    if json_out:
        print_json([sandbox_json(s) for s in found])
        return
    print_table("Sandboxes", ["name", "owner", "status", "datasets", "members", "created"],
                [[s.name, s.owner, s.status.value, " ".join(str(d) for d in s.datasets),
                  " ".join(s.members), when(s.created_at)] for s in found])


@app.command()
def show(name: str, json_out: JsonFlag = False) -> None:
    """Show one sandbox."""
    with node() as n:
        doc = sandbox_json(sandboxes.get_sandbox(n, name))
    if json_out:
        print_json(doc)
        return
    for key, value in doc.items():
        typer.echo(f"{key:>14}: {value}")


@app.command()
def close(
    name: str,
    actor: AsUser,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail).")]
        = "closed by its owner",
) -> None:
    """Close a sandbox (its owner): no server or job starts in it again."""
    with node() as n:
        done = sandboxes.close_sandbox(n, actor, name, reason)
    typer.echo(f"sandbox {done.name}: {done.status}")
