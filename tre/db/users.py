"""Store and load users and their node roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.orm import Session

from tre.db.driver import Transaction
from tre.db.prepared import Prepared
from tre.db.schema import UserRoleRow, UserRow
from tre.domain.roles import Role
from tre.errors import InvalidInput, NotFound


@dataclass(frozen=True, slots=True)
class User:
    """A person known to this node, with their node roles."""

    name: str
    display_name: str
    roles: frozenset[Role]


def add(session: Session, user: User, now: datetime) -> None:
    """Insert a user; an existing name is an error."""
    if session.get(UserRow, user.name) is not None:
        raise InvalidInput(
            f"user {user.name!r} exists already: `tre users grant` adds roles to a user")
    session.add(UserRow(name=user.name, display_name=user.display_name, created_at=now))
    session.flush()
    session.add_all(UserRoleRow(user=user.name, role=r.value) for r in sorted(user.roles))
    session.flush()


def grant(session: Session, name: str, roles: frozenset[Role]) -> User:
    """Give ``name`` more roles; returns the user as they are now."""
    have = get(session, name)
    session.add_all(UserRoleRow(user=name, role=r.value) for r in sorted(roles - have.roles))
    session.flush()
    return get(session, name)


def set_roles(session: Session, name: str, roles: frozenset[Role], display_name: str,
              now: datetime) -> tuple[User | None, User]:
    """Make ``name`` hold exactly ``roles`` (adding the user if new): (before, after).

    ``before`` is None when the user was added. The display name is updated when given.
    """
    row = session.get(UserRow, name)
    if row is None:
        add(session, User(name, display_name, roles), now)
        return None, get(session, name)
    before = get(session, name)
    if display_name and row.display_name != display_name:
        row.display_name = display_name
    dropped = before.roles - roles
    if dropped:
        session.execute(delete(UserRoleRow).where(
            UserRoleRow.user == name, UserRoleRow.role.in_(sorted(r.value for r in dropped))))
    session.add_all(UserRoleRow(user=name, role=r.value) for r in sorted(roles - before.roles))
    session.flush()
    return before, get(session, name)


_USERS = cast(Table, UserRow.__table__)
_ROLES = cast(Table, UserRoleRow.__table__)
# Looked up on every request: compiled once, run on the driver (tre.db.prepared).
_GET = Prepared(select(_USERS.c.name, _USERS.c.display_name, _ROLES.c.role)
                .outerjoin(_ROLES, _ROLES.c.user == _USERS.c.name)
                .where(_USERS.c.name == bindparam("name")))
_KNOWN = Prepared(select(_USERS.c.name).where(_USERS.c.name == bindparam("name")))


def get(session: Transaction, name: str) -> User:
    """The user ``name``, or NotFound saying how to add them (one query: user and roles)."""
    rows = _GET.rows(session, {"name": name})
    if not rows:
        raise NotFound(f"unknown user {name!r}: add them with `tre users add {name} --role ROLE`")
    return User(rows[0].name, rows[0].display_name,
                frozenset(Role(r.role) for r in rows if r.role is not None))


def missing(session: Transaction, names: set[str]) -> list[str]:
    """The names in ``names`` that are not users, sorted."""
    # One prepared lookup a name: applications name a few people, and an IN list of varying
    # length cannot be compiled once.
    return sorted(name for name in names if _KNOWN.first(session, {"name": name}) is None)


def list_all(session: Session) -> list[User]:
    """Every user, by name."""
    roles: dict[str, set[Role]] = {}
    for user, role in session.execute(select(UserRoleRow.user, UserRoleRow.role)):
        roles.setdefault(user, set()).add(Role(role))
    return [User(r.name, r.display_name, frozenset(roles.get(r.name, ())))
            for r in session.scalars(select(UserRow).order_by(UserRow.name))]
