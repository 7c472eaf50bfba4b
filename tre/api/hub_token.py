"""The production Authenticator: the hub's /hub/api/user, through jupyterhub's HubAuth."""

from __future__ import annotations

from typing import Any

from jupyterhub.services.auth import HubAuth
from tornado.web import HTTPError

from tre.api.auth import Authenticator, Caller, HubUnreachable, NotAuthenticated, TokenLacksScope
from tre.api.settings import DECIDE_SCOPE


class HubTokenAuthenticator(Authenticator):
    """Asks the hub's ``/hub/api/user`` with the caller's token (jupyterhub's HubAuth, whose
    answers are cached for ``cache_max_age`` seconds), and requires ``access_scope``."""

    def __init__(self, *, api_url: str, api_token: str, access_scope: str,
                 decide_scope: str = DECIDE_SCOPE, cache_max_age: int = 60) -> None:
        self.access_scope = access_scope
        self.decide_scope = decide_scope
        self.hub = HubAuth(api_url=api_url, api_token=api_token, cache_max_age=cache_max_age,
                           access_scopes={access_scope})

    async def caller(self, token: str) -> Caller:
        """The hub user behind ``token``, if the token may access this service."""
        try:
            model: dict[str, Any] | None = await self.hub.user_for_token(token, sync=False)
        except HTTPError as exc:
            raise HubUnreachable(f"cannot check the token with the hub ({exc.log_message}): "
                                 "try again; if it persists, the operator checks `tre up`"
                                 ) from None
        if not model:
            raise NotAuthenticated("the hub does not know this token (expired or revoked?): "
                                   "make a new one at /hub/token")
        if model.get("kind", "user") != "user":
            raise TokenLacksScope(f"{model.get('kind')} tokens cannot act here: use a user's "
                                  "or a user's server's token")
        if not self.hub.check_scopes({self.access_scope}, model):
            raise TokenLacksScope(
                f"this token lacks the scope {self.access_scope}: make a token with it at "
                "/hub/token (user tokens and servers' tokens get it by default under `tre up`)")
        return Caller(str(model["name"]),
                      decides=bool(self.hub.check_scopes({self.decide_scope}, model)))
