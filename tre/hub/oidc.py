"""The hub's OpenID Connect login: GenericOAuthenticator with the provider's groups as tre roles."""

from __future__ import annotations

import functools
import stat
from pathlib import Path
from typing import Any

import httpx
from oauthenticator.generic import GenericOAuthenticator  # type: ignore[import-untyped]
from tornado import web
from traitlets import Bool, Dict, Unicode, default, validate

from tre.domain.roles import Role
from tre.domain.values import check_user_name
from tre.errors import InvalidInput
from tre.hub.context import hub_context
from tre.hub.roles import DEFAULT_GROUP_ROLES, hub_auth_model, roles_from_claims
from tre.services import users

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TIMEOUT_S = 10.0


def discover(issuer: str, *, verify: bool = True) -> dict[str, Any]:
    """The provider's metadata (OpenID Connect Discovery 1.0), checked to be ``issuer``'s own."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        answer = httpx.get(url, timeout=DISCOVERY_TIMEOUT_S, verify=verify)
        answer.raise_for_status()
        metadata = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise InvalidInput(f"cannot read the OpenID provider's metadata at {url}: {exc}; check "
                           "TRE_HUB_OIDC_ISSUER and that the provider is up") from None
    if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
        found = metadata.get("issuer") if isinstance(metadata, dict) else None
        raise InvalidInput(f"{url} names the issuer {found!r}, not {issuer!r}: set "
                           "TRE_HUB_OIDC_ISSUER to exactly the provider's issuer")
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
        if not isinstance(metadata.get(key), str):
            raise InvalidInput(f"{url} has no {key}: tre's login needs an OpenID provider "
                               "with the authorization code flow and a userinfo endpoint")
    return metadata


def read_client_secret(path: Path) -> str:
    """The client secret in ``path``, which only its owner may read (fail closed)."""
    try:
        mode = path.stat().st_mode
        secret = path.read_text().strip()
    except OSError as exc:
        raise InvalidInput(f"cannot read the OIDC client secret file {path}: {exc.strerror}; "
                           "set TRE_HUB_OIDC_CLIENT_SECRET_FILE to a file holding it") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(f"the OIDC client secret file {path} is readable by others: "
                           f"`chmod 600 {path}`")
    if not secret:
        raise InvalidInput(f"the OIDC client secret file {path} is empty")
    return secret


class TREOIDCAuthenticator(GenericOAuthenticator):  # type: ignore[misc]  # untyped base
    """Log in through an OpenID provider; its groups claim decides tre's roles.

    The groups under ``groups_claim`` (in the userinfo answer) map onto tre's node roles through
    ``group_roles`` with :func:`tre.hub.roles.roles_from_claims`, and those roles onto the hub
    with :func:`tre.hub.roles.hub_auth_model`: the same mapping as the local login. The hub's
    groups are the user's roles (``tre-<role>``), only operators are hub admins, and a user
    whose groups give no role is refused. Each login also sets the user's roles in tre's
    database to exactly these (:func:`tre.services.users.sync_from_login`, audited when they
    change), since tre's services read roles from there. Endpoints come from the issuer's
    discovery document, read when the hub starts; the client secret from a file only its owner
    can read.
    """

    oidc_issuer = Unicode(
        "", config=True,
        help="""The OpenID provider's issuer URL, e.g.
        https://login.example.org/realms/eucaim. Its /.well-known/openid-configuration is read
        when the hub starts (the hub refuses to start without it) and gives the authorize,
        token and userinfo endpoints unless they are set explicitly.""")
    client_secret_file = Unicode(
        "", config=True,
        help="""File holding the client secret (mode 0600). The secret is never taken from
        the environment.""")
    groups_claim = Unicode(
        "groups", config=True,
        help="""The userinfo claim listing the user's groups (a list of strings). A missing or
        malformed claim gives no role.""")
    group_roles = Dict(
        key_trait=Unicode(), value_trait=Unicode(), config=True,
        help="""Provider group -> tre role (researcher, hdab_officer, output_checker,
        data_holder, sme_developer, operator...). Default: the group tre-<role> gives <role>.
        Groups not listed give nothing.""")
    manage_groups = Bool(
        True, config=True,
        help="""Must stay True: the hub's groups are the user's tre roles, renewed at every
        login.""")

    @default("group_roles")
    def _group_roles_default(self) -> dict[str, str]:
        return {group: role.value for group, role in DEFAULT_GROUP_ROLES.items()}

    @validate("group_roles")
    def _valid_group_roles(self, proposal: Any) -> dict[str, str]:
        value: dict[str, str] = proposal["value"]
        known = {r.value for r in Role}
        wrong = sorted(set(value.values()) - known)
        if wrong:
            raise InvalidInput(f"group_roles names unknown roles {wrong}: use {sorted(known)}")
        return value

    @validate("manage_groups")
    def _groups_managed(self, proposal: Any) -> bool:
        if not proposal["value"]:
            raise InvalidInput("TREOIDCAuthenticator.manage_groups must be True: the hub's "
                               "groups are the user's tre roles")
        return True

    @default("login_service")
    def _login_service_default(self) -> str:
        return "your organisation's login"

    @default("username_claim")
    def _username_claim_default(self) -> str:
        return "preferred_username"

    @default("scope")
    def _scope_default(self) -> list[str]:
        return ["openid", "profile", "groups"]

    @default("basic_auth")
    def _basic_auth_default(self) -> bool:
        return True  # client_secret_basic: the OpenID Connect default

    @default("custom_403_message")
    def _custom_403_message_default(self) -> str:
        groups = ", ".join(sorted(self.group_roles))
        return ("Your account is in no group that gives a role in tre (one of: "
                f"{groups}). Ask your identity provider's administrator for one.")

    def _client_secret_default(self) -> str:
        if not self.client_secret_file:
            raise InvalidInput("no OIDC client secret: set TRE_HUB_OIDC_CLIENT_SECRET_FILE "
                               "(TREOIDCAuthenticator.client_secret_file) to a mode 0600 file")
        return read_client_secret(Path(self.client_secret_file))

    @functools.cached_property
    def provider_metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (read once)."""
        if not self.oidc_issuer:
            raise InvalidInput("no OpenID provider: set TRE_HUB_OIDC_ISSUER "
                               "(TREOIDCAuthenticator.oidc_issuer)")
        return discover(self.oidc_issuer, verify=self.validate_server_cert)

    @default("authorize_url")
    def _authorize_url_from_issuer(self) -> str:
        return str(self.provider_metadata["authorization_endpoint"])

    @default("token_url")
    def _token_url_from_issuer(self) -> str:
        return str(self.provider_metadata["token_endpoint"])

    @default("userdata_url")
    def _userdata_url_from_issuer(self) -> str:
        return str(self.provider_metadata["userinfo_endpoint"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.client_id:
            raise InvalidInput("no OIDC client id: set TRE_HUB_OIDC_CLIENT_ID "
                               "(TREOIDCAuthenticator.client_id)")
        # Refuse to start, rather than at the first login, without a secret or a provider.
        for name in ("client_secret", "authorize_url", "token_url", "userdata_url"):
            getattr(self, name)

    def tre_roles(self, auth_state: dict[str, Any]) -> frozenset[Role]:
        """The user's tre roles from the provider's userinfo in ``auth_state``."""
        claims = auth_state.get(self.user_auth_state_key)
        mapping = {group: Role(role) for group, role in self.group_roles.items()}
        return roles_from_claims(claims if isinstance(claims, dict) else {},
                                 groups_claim=self.groups_claim, mapping=mapping)

    def _model(self, name: str, auth_state: dict[str, Any]) -> dict[str, Any] | None:
        return hub_auth_model(name, self.tre_roles(auth_state))

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Admin only for operators; a name tre cannot take is refused with the reason."""
        try:
            check_user_name(auth_model["name"])
        except InvalidInput as exc:
            raise web.HTTPError(403, f"{exc}: ask your identity provider's administrator to "
                                f"give you a {self.username_claim} tre accepts") from None
        roles = self.tre_roles(auth_model["auth_state"])
        self.sync_user(auth_model["name"], roles, auth_model["auth_state"])
        model = hub_auth_model(auth_model["name"], roles)
        auth_model["admin"] = model is not None and model["admin"]
        return auth_model

    def sync_user(self, name: str, roles: frozenset[Role], auth_state: dict[str, Any]) -> None:
        """Keep tre's user table in step with the provider: its roles, exactly (audited)."""
        claims = auth_state.get(self.user_auth_state_key)
        display = claims.get("name") if isinstance(claims, dict) else None
        try:
            users.sync_from_login(hub_context().node, f"oidc:{self.oidc_issuer}", name, roles,
                                  display if isinstance(display, str) else "")
        except Exception as exc:  # fail closed: no login on roles tre could not record
            self.log.error("could not record %s's roles from the provider: %s", name, exc)
            raise web.HTTPError(503, "tre could not record your roles from your organisation's "
                                "login; try again shortly or ask the operator") from None

    async def get_user_groups(self, auth_state: dict[str, Any]) -> set[str]:
        """The hub groups: ``tre-<role>`` for each tre role the provider's groups give."""
        model = self._model("", auth_state)
        return set(model["groups"]) if model is not None else set()

    async def check_allowed(self, username: str, auth_model: dict[str, Any] | None) -> bool:
        """Allowed iff the provider's groups give at least one tre role."""
        if auth_model is None:  # the hub asking about an existing user, not a login
            return True
        return bool(auth_model.get("groups"))
