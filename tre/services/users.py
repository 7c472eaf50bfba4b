"""Manage users and their node roles: added locally, or kept in step with the identity provider."""

from __future__ import annotations

from tre.audit import log as audit
from tre.db import users as user_store
from tre.db.users import User
from tre.domain.roles import Role
from tre.domain.values import check_user_name
from tre.errors import InvalidInput
from tre.services.node import Node


def add_user(node: Node, operator: str, name: str, roles: list[Role],
             display_name: str = "") -> User:
    """Add a user with at least one role; audited as done by ``operator``."""
    check_user_name(name)
    if not roles:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"give {name} at least one --role ({allowed})")
    user = User(name, display_name, frozenset(roles))
    with node.unit_of_work() as session:
        now = node.clock()
        user_store.add(session, user, now)
        audit.record(session, time=now, actor=operator, action="user.add", object_type="user",
                     object_id=name, outcome="allowed", request_id=audit.new_request_id(),
                     details={"roles": sorted(r.value for r in roles)})
    return user


def grant_roles(node: Node, operator: str, name: str, roles: list[Role]) -> User:
    """Give an existing user more roles; audited."""
    with node.unit_of_work() as session:
        user = user_store.grant(session, name, frozenset(roles))
        audit.record(session, time=node.clock(), actor=operator, action="user.grant",
                     object_type="user", object_id=name, outcome="allowed",
                     request_id=audit.new_request_id(),
                     details={"roles": sorted(r.value for r in roles)})
    return user


def list_users(node: Node) -> list[User]:
    """Every user."""
    with node.db.reading() as session:
        return user_store.list_all(session)


def sync_from_login(node: Node, source: str, name: str, roles: frozenset[Role],
                    display_name: str = "") -> User | None:
    """Make ``name`` hold exactly the roles their identity provider gives (``source``).

    With an identity provider, the provider is the authority on roles: a login adds the user
    with those roles, grants new ones and removes the ones the provider no longer gives, so
    tre's services (which read roles from the database) follow the provider. Changes are
    audited as done by ``source``; a login that changes nothing writes nothing. Someone unknown
    with no role is not added (None).
    """
    check_user_name(name)
    with node.unit_of_work() as session:
        if not roles and user_store.missing(session, {name}):
            return None
        now = node.clock()
        before, after = user_store.set_roles(session, name, roles, display_name, now)
        if before == after:
            return after
        had = frozenset() if before is None else before.roles
        audit.record(session, time=now, actor=source, action="user.sync", object_type="user",
                     object_id=name, outcome="allowed", request_id=audit.new_request_id(),
                     details={"added": before is None,
                              "roles": sorted(r.value for r in after.roles),
                              "granted": sorted(r.value for r in after.roles - had),
                              "removed": sorted(r.value for r in had - after.roles)})
    return after
