"""What holds a project name: a permit, an SME sandbox, open applications (one statement).

Permits and sandboxes share one namespace (a project's workspace, uid and data mounts are found
by its name), and an open application reserves the name for the permit it may become. Applying
and creating a sandbox both ask here first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, literal, select, union_all

from tre.db.applications import OPEN
from tre.db.driver import Transaction
from tre.db.prepared import Prepared
from tre.db.sandbox_schema import SandboxRow
from tre.db.schema import ApplicationRow, PermitRow

_PERMITS = cast(Table, PermitRow.__table__)
_SANDBOXES = cast(Table, SandboxRow.__table__)
_APPLICATIONS = cast(Table, ApplicationRow.__table__)
_OPEN = {f"open_{s.value}": s.value for s in OPEN}

_CLAIMS = Prepared(union_all(
    select(literal("permit").label("kind"), _PERMITS.c.id.label("id"))
    .where(_PERMITS.c.project == bindparam("name")),
    select(literal("sandbox").label("kind"), _SANDBOXES.c.id.label("id"))
    .where(_SANDBOXES.c.name == bindparam("name")),
    select(literal("application").label("kind"), _APPLICATIONS.c.id.label("id"))
    .where(_APPLICATIONS.c.project == bindparam("name"),
           _APPLICATIONS.c.status.in_([bindparam(key) for key in _OPEN])),
))


@dataclass(frozen=True, slots=True)
class ProjectClaims:
    """Ids of what holds a project name (none of them: the name is free)."""

    permit: str | None
    sandbox: str | None
    open_applications: tuple[str, ...]


def claims(session: Transaction, name: str) -> ProjectClaims:
    """What holds the project name ``name``."""
    found: dict[str, list[str]] = {"permit": [], "sandbox": [], "application": []}
    for row in _CLAIMS.rows(session, {"name": name, **_OPEN}):
        found[row.kind].append(row.id)
    return ProjectClaims(next(iter(found["permit"]), None), next(iter(found["sandbox"]), None),
                         tuple(sorted(found["application"])))
