"""OIDC login end to end: a real `tre up` logging users in through a real OpenID provider."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest
from hub.conftest import RunningTre, free_port, start_tre
from traitlets.config import Config

from factories import audit_trail
from tre.errors import InvalidInput
from tre.hub.config import configure_login
from tre.hub.oidc import TREOIDCAuthenticator, discover, read_client_secret
from tre.hub.settings import REPO_ROOT, HubSettings
from tre.services import users

OIDC = Path(__file__).parent / "oidc"
ACCOUNTS: dict[str, dict[str, object]] = json.loads((OIDC / "accounts.json").read_text())
CLIENT_ID = "tre-hub"


def _need_provider() -> None:
    if not (REPO_ROOT / "node_modules" / "oidc-provider" / "package.json").exists():
        if os.environ.get("CI"):
            pytest.fail("oidc-provider is not installed: run scripts/install-node-deps.sh")
        pytest.skip("oidc-provider is not installed (scripts/install-node-deps.sh)")


@dataclass
class Provider:
    """The OpenID provider process and what the hub needs to use it."""

    issuer: str
    secret_file: Path
    hub_port: int
    accounts: Path


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """tests/hub/oidc/provider.mjs on a free loopback port, its client registered for the hub."""
    _need_provider()
    root = tmp_path_factory.mktemp("oidc")
    secret = root / "client-secret"
    secret.write_text("a-client-secret-for-tests\n")
    secret.chmod(0o600)
    accounts = root / "accounts.json"  # a copy tests may change: the provider reads it afresh
    accounts.write_text(json.dumps(ACCOUNTS))
    port, hub_port = free_port(), free_port()
    log = root / "provider.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["node", str(OIDC / "provider.mjs"), str(port), CLIENT_ID, str(secret),
             f"http://127.0.0.1:{hub_port}/hub/oauth_callback", str(accounts)],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while (ready := re.search(r"^ready (\S+)$", log.read_text(), re.M)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the OpenID provider did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield Provider(ready.group(1), secret, hub_port, accounts)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def oidc_tre(provider: Provider, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[RunningTre]:
    """`tre up` with TRE_HUB_AUTHENTICATOR=oidc against the provider."""
    env = {"TRE_HUB_AUTHENTICATOR": "oidc", "TRE_HUB_OIDC_ISSUER": provider.issuer,
           "TRE_HUB_OIDC_CLIENT_ID": CLIENT_ID,
           "TRE_HUB_OIDC_CLIENT_SECRET_FILE": str(provider.secret_file)}
    with start_tre(tmp_path_factory.mktemp("hub"), env, port=provider.hub_port) as running:
        yield running


def _login_form(client: httpx.Client, base_url: str) -> tuple[str, str]:
    """Start at the hub's login; follow the real redirects to the provider's form."""
    page = client.get(f"{base_url}/hub/oauth_login", follow_redirects=True)
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None, page.text
    return urljoin(str(page.url), action.group(1)), page.text


def _to_callback(client: httpx.Client, base_url: str, name: str, password: str
                 ) -> httpx.Response:
    """Post the provider's login form and follow redirects up to (not into) the hub's callback."""
    action, _ = _login_form(client, base_url)
    answer = client.post(action, data={"login": name, "password": password})
    while answer.is_redirect:
        target = urljoin(str(answer.url), answer.headers["location"])
        if target.startswith(f"{base_url}/hub/oauth_callback"):
            return answer
        answer = client.get(target)
    return answer


def _callback_url(answer: httpx.Response) -> str:
    assert answer.is_redirect, answer.text
    return urljoin(str(answer.url), answer.headers["location"])


def _logged_in(client: httpx.Client, base_url: str) -> bool:
    return client.get(f"{base_url}/hub/home").status_code == 200


def log_in(client: httpx.Client, base_url: str, name: str) -> httpx.Response:
    """The whole login of ``name``: hub -> provider form -> callback -> the hub's home page."""
    password = str(ACCOUNTS[name]["password"])
    return client.get(_callback_url(_to_callback(client, base_url, name, password)),
                      follow_redirects=True)


def hub_model(client: httpx.Client, base_url: str, name: str) -> dict[str, object]:
    """The user's own hub model, read with a token made through the logged-in session."""
    made = client.post(f"{base_url}/hub/api/users/{name}/tokens", json={"note": "test"},
                       headers={"X-XSRFToken": client.cookies["_xsrf"]})
    assert made.status_code == 201, made.text
    model = client.get(f"{base_url}/hub/api/user",
                       headers={"Authorization": f"token {made.json()['token']}"})
    assert model.status_code == 200, model.text
    return {k: model.json()[k] for k in ("name", "admin", "groups")}


@pytest.mark.slow
@pytest.mark.parametrize(("name", "admin", "groups"), [
    ("alice", False, ["tre-researcher"]),
    ("ola", True, ["tre-operator"]),
])
def test_provider_groups_become_tre_roles(oidc_tre: RunningTre, name: str, admin: bool,
                                         groups: list[str]) -> None:
    with httpx.Client(timeout=60) as client:
        home = log_in(client, oidc_tre.url, name)
        assert home.status_code == 200, home.text
        assert str(home.url) == f"{oidc_tre.url}/hub/home"
        assert hub_model(client, oidc_tre.url, name) == {
            "name": name, "admin": admin, "groups": groups}


def tre_roles(running: RunningTre, name: str) -> set[str] | None:
    """``name``'s roles in tre's database (None: not a user), as tre's services read them."""
    found = {u.name: u for u in users.list_users(running.node)}.get(name)
    return None if found is None else {r.value for r in found.roles}


@pytest.mark.slow
def test_groups_that_give_no_role_are_refused(oidc_tre: RunningTre) -> None:
    with httpx.Client(timeout=60) as client:
        refused = log_in(client, oidc_tre.url, "eve")
        assert refused.status_code == 403
        assert "Your account is in no group that gives a role in tre" in refused.text
        assert not _logged_in(client, oidc_tre.url)
    assert tre_roles(oidc_tre, "eve") is None  # never added to tre's users


@pytest.mark.slow
def test_each_login_sets_the_users_tre_roles_to_the_providers(provider: Provider,
                                                               oidc_tre: RunningTre) -> None:
    accounts = json.loads(provider.accounts.read_text())
    try:
        for groups, roles in ((["tre-operator", "tre-output_checker"],
                               {"operator", "output_checker"}),
                              (["tre-output_checker"], {"output_checker"})):
            accounts["ola"]["groups"] = groups
            provider.accounts.write_text(json.dumps(accounts))
            with httpx.Client(timeout=60) as client:
                assert log_in(client, oidc_tre.url, "ola").status_code == 200
                assert hub_model(client, oidc_tre.url, "ola")["groups"] == sorted(groups)
            assert tre_roles(oidc_tre, "ola") == roles
        with httpx.Client(timeout=60) as client:
            assert log_in(client, oidc_tre.url, "alice").status_code == 200
        alice = {u.name: u for u in users.list_users(oidc_tre.node)}["alice"]
        assert alice.display_name == "Alice Researcher"
        assert {r.value for r in alice.roles} == {"researcher"}
        synced = [e for e in audit_trail(oidc_tre.node) if e[1] == "user.sync"]
        assert (f"oidc:{provider.issuer}", "user.sync", "ola", "allowed") in synced
    finally:
        provider.accounts.write_text(json.dumps(ACCOUNTS))


@pytest.mark.slow
def test_a_wrong_password_never_reaches_the_hub(oidc_tre: RunningTre) -> None:
    with httpx.Client(timeout=60) as client:
        answer = _to_callback(client, oidc_tre.url, "alice", "not-alices-password")
        assert answer.status_code == 200
        assert "Wrong user name or password." in answer.text
        assert not _logged_in(client, oidc_tre.url)


def _tampered(url: str, key: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query[key] = query[key][:-4] + ("AAAA" if not query[key].endswith("AAAA") else "BBBB")
    return parts._replace(query=urlencode(query)).geturl()


@pytest.mark.slow
@pytest.mark.parametrize(("key", "status"), [("state", 400), ("code", 500)])
def test_a_tampered_callback_logs_nobody_in(oidc_tre: RunningTre, key: str,
                                            status: int) -> None:
    with httpx.Client(timeout=60) as client:
        callback = _callback_url(_to_callback(client, oidc_tre.url, "alice",
                                              str(ACCOUNTS["alice"]["password"])))
        answer = client.get(_tampered(callback, key), follow_redirects=True)
        assert answer.status_code == status
        assert not _logged_in(client, oidc_tre.url)


def test_oidc_login_refuses_to_start_without_its_settings() -> None:
    hub = HubSettings(authenticator="oidc", oidc_issuer="https://login.example.org")
    with pytest.raises(InvalidInput, match=r"^TRE_HUB_AUTHENTICATOR=oidc needs "
                       r"TRE_HUB_OIDC_CLIENT_ID, TRE_HUB_OIDC_CLIENT_SECRET_FILE: set them"):
        configure_login(Config(), hub)


def test_the_local_login_is_the_default() -> None:
    c = Config()
    configure_login(c, HubSettings(authenticator="local"))
    assert c.JupyterHub.authenticator_class == "tre.hub.auth.TREAuthenticator"
    assert c.Authenticator.manage_groups is True


def test_the_client_secret_file_must_be_private(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o640)
    with pytest.raises(InvalidInput, match=f"is readable by others: `chmod 600 {secret}`"):
        read_client_secret(secret)
    secret.chmod(0o600)
    assert read_client_secret(secret) == "s3cret"
    with pytest.raises(InvalidInput, match="cannot read the OIDC client secret file"):
        read_client_secret(tmp_path / "missing")


def test_discovery_must_name_the_configured_issuer(provider: Provider) -> None:
    assert discover(provider.issuer)["token_endpoint"] == f"{provider.issuer}/token"
    with pytest.raises(InvalidInput, match="set TRE_HUB_OIDC_ISSUER to exactly the provider's"):
        discover(provider.issuer + "/")


def test_a_federations_own_group_names_map_onto_roles(provider: Provider) -> None:
    auth = TREOIDCAuthenticator(oidc_issuer=provider.issuer, client_id=CLIENT_ID,
                                client_secret_file=str(provider.secret_file),
                                group_roles={"eucaim-hdab": "hdab_officer", "ops": "operator"})
    assert auth.token_url == f"{provider.issuer}/token"
    assert auth.client_secret == "a-client-secret-for-tests"

    def groups(claims: dict[str, object]) -> set[str]:
        return asyncio.run(auth.get_user_groups({"oauth_user": claims}))

    assert groups({"groups": ["eucaim-hdab", "tre-researcher"]}) == {"tre-hdab_officer"}
    assert groups({"groups": "ops"}) == set()
    with pytest.raises(InvalidInput, match=r"group_roles names unknown roles \['root'\]"):
        auth.group_roles = {"admins": "root"}
