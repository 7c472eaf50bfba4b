"""Map identity-provider claims onto tre's node roles, and node roles onto the hub (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tre.domain.roles import Role

DEFAULT_GROUP_ROLES: Mapping[str, Role] = {f"tre-{role.value}": role for role in Role}
"""Default: the group ``tre-researcher`` gives the role researcher, and so on for each role."""


def roles_from_groups(groups: Iterable[str],
                      mapping: Mapping[str, Role] = DEFAULT_GROUP_ROLES) -> frozenset[Role]:
    """The node roles the groups give; unknown groups give nothing (never a default role)."""
    return frozenset(mapping[g] for g in groups if g in mapping)


def roles_from_claims(claims: Mapping[str, Any], *, groups_claim: str = "groups",
                      mapping: Mapping[str, Role] = DEFAULT_GROUP_ROLES) -> frozenset[Role]:
    """The node roles of an OIDC userinfo/ID token: the groups under ``groups_claim``.

    A missing or malformed claim (not a list of strings) gives no role at all: fail closed.
    """
    groups = claims.get(groups_claim)
    if not isinstance(groups, list | tuple) or not all(isinstance(g, str) for g in groups):
        return frozenset()
    return roles_from_groups(groups, mapping)


def is_hub_admin(roles: Iterable[Role]) -> bool:
    """Only the operator administers the hub; HDAB officers work through tre, not the hub."""
    return Role.OPERATOR in set(roles)


def hub_auth_model(name: str, roles: Iterable[Role]) -> dict[str, Any] | None:
    """What an Authenticator returns for ``name`` with ``roles``; None (refused) without a role."""
    held = frozenset(roles)
    if not held:
        return None
    return {"name": name, "admin": is_hub_admin(held),
            "groups": sorted(f"tre-{r.value}" for r in held)}
