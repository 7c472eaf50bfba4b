"""Users' roles kept in step with the identity provider at each login (both databases)."""

from __future__ import annotations

import pytest

from factories import audit_trail
from tre.domain.roles import Role
from tre.errors import InvalidInput
from tre.services import users
from tre.services.node import Node

IDP = "oidc:https://login.example.org"


def _roles(node: Node, name: str) -> set[str] | None:
    found = {u.name: u for u in users.list_users(node)}.get(name)
    return None if found is None else {r.value for r in found.roles}


def _syncs(node: Node) -> list[tuple[str, str, str, str]]:
    return [e for e in audit_trail(node) if e[1] == "user.sync"]


def test_a_first_login_adds_the_user_with_the_providers_roles(any_node: Node) -> None:
    added = users.sync_from_login(any_node, IDP, "ada", frozenset({Role.OUTPUT_CHECKER}),
                                  "Ada Lovelace")
    assert added is not None
    assert added.display_name == "Ada Lovelace"
    assert _roles(any_node, "ada") == {"output_checker"}
    assert _syncs(any_node) == [(IDP, "user.sync", "ada", "allowed")]


def test_the_provider_is_the_authority_on_roles(any_node: Node) -> None:
    users.add_user(any_node, "host:op", "olga", [Role.HDAB_OFFICER, Role.RESEARCHER])
    users.sync_from_login(any_node, IDP, "olga", frozenset({Role.RESEARCHER}))
    assert _roles(any_node, "olga") == {"researcher"}  # the officer role is gone
    users.sync_from_login(any_node, IDP, "olga",
                          frozenset({Role.RESEARCHER, Role.DATA_HOLDER}))
    assert _roles(any_node, "olga") == {"researcher", "data_holder"}
    assert len(_syncs(any_node)) == 2


def test_a_login_that_changes_nothing_writes_nothing(any_node: Node) -> None:
    users.sync_from_login(any_node, IDP, "ada", frozenset({Role.RESEARCHER}))
    before = audit_trail(any_node)
    users.sync_from_login(any_node, IDP, "ada", frozenset({Role.RESEARCHER}))
    assert audit_trail(any_node) == before


def test_losing_every_group_removes_every_role(any_node: Node) -> None:
    users.sync_from_login(any_node, IDP, "ada", frozenset({Role.RESEARCHER}))
    assert users.sync_from_login(any_node, IDP, "ada", frozenset()) is not None
    assert _roles(any_node, "ada") == set()


def test_someone_unknown_without_a_role_is_not_added(any_node: Node) -> None:
    before = audit_trail(any_node)
    assert users.sync_from_login(any_node, IDP, "eve", frozenset()) is None
    assert _roles(any_node, "eve") is None
    assert audit_trail(any_node) == before


@pytest.mark.parametrize("name", ["../etc", "Robert'); DROP TABLE users;--", ""])
def test_a_name_tre_cannot_take_is_refused_and_nothing_written(any_node: Node,
                                                               name: str) -> None:
    before = audit_trail(any_node)
    with pytest.raises(InvalidInput):
        users.sync_from_login(any_node, IDP, name, frozenset({Role.RESEARCHER}))
    assert audit_trail(any_node) == before
