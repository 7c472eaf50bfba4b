"""Who is calling: the token in the request, turned into a caller by an Authenticator."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tre.errors import TREError

_AUTHORIZATION = re.compile(r"(?:token|bearer)\s+(\S+)\s*", re.IGNORECASE)


class NotAuthenticated(TREError):
    """No token, or one the hub does not know: HTTP 401."""


class TokenLacksScope(TREError):
    """The hub knows the token but it may not call this service: HTTP 403."""


class HubUnreachable(TREError):
    """The hub could not be asked who a token belongs to: HTTP 503 (nothing is allowed)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The person behind a request (a hub user; servers' tokens act for their owner).

    ``decides``: the token carries the decide scope (tre.api.settings.DECIDE_SCOPE), which the
    hub gives users' own tokens and never a server's: a decision (an HDAB officer's on an
    application or permit, an output checker's review or release) is never made with a token
    that code inside a workspace holds.
    """

    name: str
    decides: bool = False


def token_of(authorization: str | None) -> str:
    """The token of an ``Authorization: token ...`` or ``Bearer ...`` header."""
    match = _AUTHORIZATION.fullmatch(authorization or "")
    if match is None:
        raise NotAuthenticated(
            "no JupyterHub token: send `Authorization: token <your hub API token>` (in a "
            "workspace, $JUPYTERHUB_API_TOKEN; elsewhere, make one at /hub/token)")
    return match.group(1)


class Authenticator:
    """Turns a token into a :class:`Caller`. Subclass it: the hub's is
    :class:`tre.api.hub_token.HubTokenAuthenticator`; tests give a table of tokens."""

    async def caller(self, token: str) -> Caller:
        """The caller owning ``token``; NotAuthenticated / TokenLacksScope to refuse."""
        raise NotImplementedError
