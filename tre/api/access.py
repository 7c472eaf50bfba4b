"""Who may see and release egress requests through the API (router dependencies).

Submitting, reviewing, releasing and downloading are decided by policy inside the airlock
services; reading requests is not, so the API keeps it to members of the request's project,
output checkers and HDAB officers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tre.airlock import service
from tre.api.deps import Authenticated, State
from tre.api.errors import Forbidden
from tre.api.settings import DECIDE_SCOPE
from tre.db import permits as permit_store
from tre.db import users as user_store
from tre.domain.egress import EgressRequest
from tre.domain.roles import Role
from tre.errors import NotFound
from tre.services import refusals
from tre.services.node import Node

OVERSEERS = frozenset({Role.OUTPUT_CHECKER, Role.HDAB_OFFICER})
"""Node roles that see every project's requests."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller with their node roles and the projects whose permit names them."""

    name: str
    roles: frozenset[Role]
    projects: frozenset[str]

    @property
    def sees_all(self) -> bool:
        """Output checkers and HDAB officers see every request."""
        return bool(self.roles & OVERSEERS)

    def may_read(self, request: EgressRequest) -> bool:
        """Whether the caller may see ``request``."""
        return self.sees_all or request.project in self.projects


def viewer_of(node: Node, name: str) -> Viewer:
    """``name`` as tre knows them; Forbidden for a hub user tre does not know."""
    with node.db.reading() as session:
        try:
            user = user_store.get(session, name)
        except NotFound:
            raise Forbidden(f"{name} is not a user of this tre node: the operator adds them "
                            f"with `tre users add {name} --role ...`") from None
        projects = frozenset(p.project for p in permit_store.list_all(session, user=name))
    return Viewer(name, user.roles, projects)


def viewer(api: State, caller: Authenticated) -> Viewer:
    """Dependency: the authenticated caller as a :class:`Viewer`."""
    return viewer_of(api.node, caller.name)


Seeing = Annotated[Viewer, Depends(viewer)]


def decider(api: State, caller: Authenticated, who: Seeing, request: Request) -> Viewer:
    """Dependency: the caller, if their token may decide (never a workspace's token: 403,
    audited as ``api.decide`` denied: someone's workspace tried to act with their token).

    Built on :func:`viewer`, which FastAPI runs once a request for every dependency asking it.
    """
    if not caller.decides:
        target = request.url.path.removeprefix(api.settings.prefix)
        refusals.record(api.node, caller.name, "api.decide", f"{request.method} {target}",
                        "a workspace's token cannot decide")
        raise Forbidden(
            f"this token of {caller.name} cannot decide (it lacks the scope {DECIDE_SCOPE}, "
            "which the hub gives users' own tokens and never a workspace's): decide from the "
            "portal or with a token made at /hub/token, never from inside a workspace")
    return who


Deciding = Annotated[Viewer, Depends(decider)]
"""The caller of a decision: an HDAB officer's on an application or permit, an output
checker's review or release. Policy still decides whether they may; this only makes sure the
token is theirs and not one that code in a workspace (a co-member's notebook) could use."""


def readable_request(request_id: str, api: State, who: Seeing) -> EgressRequest:
    """Dependency: the request in the path, if the caller may see it (else 403)."""
    request = service.get_request(api.node, request_id)
    if not who.may_read(request):
        raise Forbidden(f"{who.name} may not see request {request_id}: only members of project "
                        f"{request.project}, output checkers and HDAB officers can")
    return request


Readable = Annotated[EgressRequest, Depends(readable_request)]
