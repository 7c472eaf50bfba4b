"""`tre users ...`: local users and their node roles."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from tre.cli.common import JsonFlag, node, print_json, print_table
from tre.cli.render import user_json
from tre.domain.roles import Role
from tre.errors import InvalidInput, NotFound
from tre.services import users
from tre.services.bootstrap import load_settings

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


@app.command()
def passwd(name: str, password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (for scripts).")]
        = False) -> None:
    """Set the local hub login password of a user (embedded default login)."""
    from tre.hub.passwords import set_password

    settings = load_settings()
    with node() as n:
        if not any(u.name == name for u in users.list_users(n)):
            raise NotFound(f"unknown user {name!r}: add them with `tre users add {name} --role "
                           "ROLE`")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"new password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise InvalidInput("the two passwords differ: try again")
    set_password(settings.home, name, password)
    typer.echo(f"password set for {name}")
