"""The hub's local login: users of tre's database with a password set by `tre users passwd`."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyterhub.auth import Authenticator

from tre.db import users as user_store
from tre.errors import NotFound
from tre.hub.context import hub_context
from tre.hub.passwords import check_password
from tre.hub.roles import hub_auth_model


def _login(name: str, password: str) -> dict[str, Any] | None:
    ctx = hub_context()
    with ctx.node.db.transaction() as session:
        try:
            user = user_store.get(session, name)
        except NotFound:
            return None
    if not check_password(ctx.settings.home, name, password):
        return None
    return hub_auth_model(user.name, user.roles)


class TREAuthenticator(Authenticator):  # type: ignore[misc]  # jupyterhub is untyped
    """Local users of tre (``tre users add``) with their hub password (``tre users passwd``).

    Hub admin is given to operators only (:func:`tre.hub.roles.is_hub_admin`); a user with no
    node role cannot log in. The OIDC login (:class:`tre.hub.oidc.TREOIDCAuthenticator`) feeds
    the provider's groups through :func:`tre.hub.roles.roles_from_claims` into the same
    :func:`tre.hub.roles.hub_auth_model`.
    """

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        """The user's auth model if the name and password match, else None."""
        name = str(data.get("username", "")).strip()
        password = str(data.get("password", ""))
        if not name or not password:
            return None
        return await asyncio.to_thread(_login, name, password)

    def check_allowed(self, username: str, authentication: Any = None) -> bool:
        """Who exists in tre's database is allowed; tre's roles decide everything else."""
        return authentication is not None or _known(username)


def _known(name: str) -> bool:
    with hub_context().node.db.transaction() as session:
        return not user_store.missing(session, {name})
