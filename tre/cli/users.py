"""`tre users ...`: local users and their node roles."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from tre.cli.common import JsonFlag, node, print_json, print_table
from tre.cli.render import user_json
from tre.domain.roles import Role
from tre.services import users

app = typer.Typer(help="Local users and roles (OIDC groups map onto the same roles).",
                  no_args_is_help=True)

Roles = Annotated[list[Role], typer.Option("--role", help="A node role; repeat for more.")]


def operator() -> str:
    """Who runs this command on the host, as the audit trail names them."""
    return f"host:{getpass.getuser()}"


@app.command()
def add(name: str, role: Roles,
        display_name: Annotated[str, typer.Option(help="Full name.")] = "") -> None:
    """Add a user with one or more roles."""
    with node() as n:
        user = users.add_user(n, operator(), name, role, display_name)
    typer.echo(f"user {user.name}: {', '.join(sorted(r.value for r in user.roles))}")


@app.command()
def grant(name: str, role: Roles) -> None:
    """Give an existing user more roles."""
    with node() as n:
        user = users.grant_roles(n, operator(), name, role)
    typer.echo(f"user {user.name}: {', '.join(sorted(r.value for r in user.roles))}")


@app.command("list")
def list_(json_out: JsonFlag = False) -> None:
    """List users and their roles."""
    with node() as n:
        found = users.list_users(n)
    if json_out:
        print_json([user_json(u) for u in found])
        return
    print_table("Users", ["name", "roles", "display name"],
                [[u.name, ", ".join(sorted(r.value for r in u.roles)), u.display_name]
                 for u in found])
