"""OIDC claims -> tre roles -> hub auth model (pure)."""

from __future__ import annotations

from tre.domain.roles import Role
from tre.hub.roles import hub_auth_model, roles_from_claims, roles_from_groups


def test_groups_map_onto_roles_and_unknown_groups_give_nothing() -> None:
    assert roles_from_groups(["tre-researcher", "staff", "tre-operator"]) == {
        Role.RESEARCHER, Role.OPERATOR}


def test_claims_with_a_custom_group_claim_and_mapping() -> None:
    claims = {"sub": "x", "roles": ["eucaim-hdab"]}
    assert roles_from_claims(claims, groups_claim="roles",
                             mapping={"eucaim-hdab": Role.HDAB_OFFICER}) == {Role.HDAB_OFFICER}


def test_malformed_claims_give_no_role() -> None:
    assert roles_from_claims({"groups": "tre-operator"}) == frozenset()
    assert roles_from_claims({"groups": ["tre-operator", 3]}) == frozenset()
    assert roles_from_claims({}) == frozenset()


def test_only_operators_are_hub_admins_and_roleless_users_are_refused() -> None:
    assert hub_auth_model("ola", {Role.OPERATOR}) == {
        "name": "ola", "admin": True, "groups": ["tre-operator"]}
    assert hub_auth_model("olga", {Role.HDAB_OFFICER, Role.RESEARCHER}) == {
        "name": "olga", "admin": False, "groups": ["tre-hdab_officer", "tre-researcher"]}
    assert hub_auth_model("nobody", set()) is None
