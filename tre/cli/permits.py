"""`tre permits ...`: data-access applications, HDAB decisions and permits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from tre.cli.common import AsUser, JsonFlag, node, parse_moment, print_json, print_table, when
from tre.cli.render import application_json, permit_json
from tre.domain.applications import ApplicationStatus
from tre.domain.permits import EgressProfile
from tre.domain.purposes import Purpose
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.errors import InvalidInput
from tre.services import applications, permits
from tre.services.node import Node

app = typer.Typer(help="Apply for data access; HDAB officers decide, suspend and revoke permits.",
                  no_args_is_help=True)

Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail).")]


@app.command()
def apply(
    actor: AsUser,
    project: Annotated[str, typer.Option(help="Project id (lower-case, dashes).")],
    title: Annotated[str, typer.Option(help="Short title of the project.")],
    purpose: Annotated[Purpose, typer.Option(help="EHDS Art. 53 purpose.")],
    until: Annotated[str, typer.Option("--until", help="Last day of use (YYYY-MM-DD).")],
    dataset: Annotated[list[str], typer.Option(
        "--dataset", help="DATASET or DATASET@VERSION (repeat for more).")],
    description: Annotated[str, typer.Option(help="What you will do with the data.")] = "",
    organisation: Annotated[str, typer.Option(help="Your organisation.")] = "",
    member: Annotated[list[str] | None, typer.Option(
        "--member", help="USER or USER:ROLE (lead, researcher, observer); repeat.")] = None,
    start: Annotated[str | None, typer.Option(
        "--from", help="First day of use (YYYY-MM-DD); default now.")] = None,
    cpus: Annotated[float, typer.Option(help="CPU cores.")] = 2.0,
    memory_gb: Annotated[int, typer.Option(help="Memory in GB.")] = 8,
    gpus: Annotated[int, typer.Option(help="GPUs.")] = 0,
    hours: Annotated[int, typer.Option(help="Compute hours.")] = 100,
    draft: Annotated[bool, typer.Option(help="Keep it as a draft (submit later).")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Apply for access to datasets for a project (submitted unless --draft)."""
    with node() as n:
        begin = parse_moment(start) if start else n.clock()
        form = applications.ApplicationForm(
            project=project, title=title, purpose=purpose, description=description,
            organisation=organisation,
            members=tuple(Member.parse(m) for m in member or ()),
            datasets=tuple(DatasetRef.parse(d) for d in dataset),
            compute=Compute(cpus, memory_gb, gpus, hours),
            period=Period(begin, parse_moment(until, end_of_day=True)))
        created = applications.apply(n, actor, form, submit=not draft)
    if json_out:
        print_json(application_json(created))
    else:
        typer.echo(f"application {created.id} for project {created.project}: {created.status}")


def _move(application: str, actor: str, service: Callable[[Node, str, str], Any]) -> None:
    with node() as n:
        done = service(n, actor, application)
    typer.echo(f"application {done.id}: {done.status}")


@app.command()
def submit(application: str, actor: AsUser) -> None:
    """Submit a draft application to the HDAB."""
    _move(application, actor, applications.submit)


@app.command()
def withdraw(application: str, actor: AsUser) -> None:
    """Withdraw an application that is not decided yet."""
    _move(application, actor, applications.withdraw)


@app.command()
def review(application: str, actor: AsUser) -> None:
    """Take a submitted application into review (HDAB officer)."""
    _move(application, actor, applications.start_review)


@app.command()
def approve(
    application: str,
    actor: AsUser,
    reason: Reason,
    condition: Annotated[list[str] | None, typer.Option(
        "--condition", help="A condition of the permit; repeat.")] = None,
    egress: Annotated[EgressProfile, typer.Option(help="What may leave.")] =
        EgressProfile.AGGREGATE,
    until: Annotated[str | None, typer.Option(
        "--until", help="End the permit earlier than requested (YYYY-MM-DD).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Approve an application: issue its permit (HDAB officer, never your own)."""
    with node() as n:
        period = None
        if until is not None:
            requested = applications.get_application(n, application).period
            period = Period(requested.start, parse_moment(until, end_of_day=True))
        permit = applications.approve(n, actor, application, applications.Approval(
            reason=reason, conditions=tuple(condition or ()), egress=egress,
            valid_until=period))
        now = n.clock()
    if json_out:
        print_json(permit_json(permit, now))
    else:
        typer.echo(f"permit {permit.id} issued for project {permit.project} "
                   f"until {when(permit.period.end)} UTC")


@app.command()
def reject(application: str, actor: AsUser, reason: Reason) -> None:
    """Reject an application with a reason (HDAB officer)."""
    _move(application, actor, lambda n, a, app_id: applications.reject(n, a, app_id, reason))


def _change(permit_id: str, actor: str, action: str, reason: str) -> None:
    with node() as n:
        done = permits.change_status(n, actor, permit_id, action, reason)
    typer.echo(f"permit {done.id}: {done.status}")


@app.command()
def suspend(permit: str, actor: AsUser, reason: Reason) -> None:
    """Suspend a permit: its project loses data access until reinstated."""
    _change(permit, actor, "suspend", reason)


@app.command()
def reinstate(permit: str, actor: AsUser, reason: Reason) -> None:
    """Reinstate a suspended permit."""
    _change(permit, actor, "reinstate", reason)


@app.command()
def revoke(permit: str, actor: AsUser, reason: Reason) -> None:
    """Revoke a permit for good."""
    _change(permit, actor, "revoke", reason)


@app.command()
def amend(
    permit: str,
    actor: AsUser,
    add_member: Annotated[list[str] | None, typer.Option(
        "--add-member", help="USER or USER:ROLE to add; repeat.")] = None,
    remove_member: Annotated[list[str] | None, typer.Option(
        "--remove-member", help="USER to remove; repeat.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="New last day.")] = None,
    justification: Annotated[str, typer.Option(help="Why the change is needed.")] = "",
) -> None:
    """Apply to amend a permit (members, end date); it needs a new HDAB decision."""
    with node() as n:
        period = None
        if until is not None:
            current = permits.get_permit(n, permit).period
            period = Period(current.start, parse_moment(until, end_of_day=True))
        created = applications.amend(
            n, actor, permit, add_members=tuple(Member.parse(m) for m in add_member or ()),
            remove_members=tuple(remove_member or ()), until=period,
            justification=justification)
    typer.echo(f"amendment {created.id} of permit {permit}: {created.status}")


@app.command("list")
def list_(
    show_applications: Annotated[bool, typer.Option(
        "--applications", help="List applications instead of permits.")] = False,
    status: Annotated[ApplicationStatus | None, typer.Option(
        help="Only applications in this status.")] = None,
    user: Annotated[str | None, typer.Option(help="Only those of this user.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List permits (or applications)."""
    with node() as n:
        now = n.clock()
        if show_applications or status is not None:
            apps = applications.list_applications(n, status=status, user=user)
            if json_out:
                print_json([application_json(a) for a in apps])
                return
            print_table("Applications", ["id", "project", "applicant", "purpose", "status",
                                         "created"],
                        [[a.id, a.project, a.applicant, a.purpose.value, a.status.value,
                          when(a.created_at)] for a in apps])
            return
        found = permits.list_permits(n, user=user)
    if json_out:
        print_json([permit_json(p, now) for p in found])
        return
    print_table("Permits", ["id", "project", "status", "valid until", "datasets", "members"],
                [[p.id, p.project, p.effective_status(now).value, when(p.period.end),
                  " ".join(str(d) for d in p.datasets), " ".join(m.user for m in p.members)]
                 for p in found])


@app.command()
def show(object_id: Annotated[str, typer.Argument(help="app-... or permit-...")],
         json_out: JsonFlag = False) -> None:
    """Show one application or permit."""
    with node() as n:
        now = n.clock()
        if object_id.startswith("app-"):
            doc = application_json(applications.get_application(n, object_id))
        elif object_id.startswith("permit-"):
            doc = permit_json(permits.get_permit(n, object_id), now)
        else:
            raise InvalidInput(f"{object_id!r} is neither an application (app-...) nor a permit "
                               "(permit-...)")
    if json_out:
        print_json(doc)
        return
    for key, value in doc.items():
        typer.echo(f"{key:>16}: {value}")


@app.command()
def check(
    actor: AsUser,
    project: Annotated[str, typer.Option(help="Project id.")],
    dataset: Annotated[str, typer.Option(help="DATASET@VERSION.")],
    json_out: JsonFlag = False,
) -> None:
    """Ask the data-access decision: may USER read DATASET@VERSION in PROJECT now?"""
    ref = DatasetRef.parse(dataset)
    if ref.version is None:
        raise InvalidInput("name the version: --dataset DATASET@VERSION")
    with node() as n:
        decision = permits.check_data_access(n, actor, project, ref.dataset, ref.version)
    if json_out:
        print_json(decision.as_json())
    else:
        typer.echo(("allowed: " if decision.allow else "denied: ") + "; ".join(decision.reasons))
    if not decision.allow:
        raise typer.Exit(5)


@app.command()
def expire() -> None:
    """Record `expired` on permits past their end (they already count as expired)."""
    with node() as n:
        done = permits.expire_due(n)
    typer.echo(f"{len(done)} permit(s) marked expired")
