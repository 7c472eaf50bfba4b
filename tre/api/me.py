"""``/me``: the caller as tre knows them (roles, projects)."""

from __future__ import annotations

from fastapi import APIRouter

from tre.api.access import Seeing
from tre.api.deps import State
from tre.api.schemas import MeOut
from tre.services.permits import list_permits

router = APIRouter(tags=["me"])


@router.get("/me", summary="The caller: node roles and projects")
def me(api: State, who: Seeing) -> MeOut:
    """Who the token belongs to, their node roles and the projects whose permit names them."""
    permits = list_permits(api.node, user=who.name)
    return MeOut.of(who.name, frozenset(r.value for r in who.roles), permits, api.node.clock())
