"""Helpers of hub tests: what a real hub needs here, and a logged-in user's API client."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tre.hub.settings import HubSettings

RUNTIME = Path(os.environ.get("TRE_TEST_SANDBOX_RUNTIME", "/opt/tre/runtime"))


def need_hub() -> None:
    """Fail in CI, skip elsewhere, when a piece of the real hub + sandbox is missing."""
    problems = []
    for tool, fix in (("bwrap", "scripts/install-system-deps.sh"),
                      ("socat", "scripts/install-system-deps.sh"),
                      ("node", "apt-get install nodejs")):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed ({fix})")
    if not os.access(HubSettings().proxy_command, os.X_OK):
        problems.append("configurable-http-proxy is missing (scripts/install-node-deps.sh)")
    if not (RUNTIME / "bin" / "jupyterhub-singleuser").exists():
        problems.append(f"no sandbox runtime at {RUNTIME} (scripts/make-sandbox-runtime.sh)")
    if os.geteuid() != 0:
        problems.append("sandboxes start as root")
    if not Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        problems.append("no cgroup v1 memory hierarchy")
    if problems:
        if os.environ.get("CI"):
            pytest.fail("the hub cannot run in CI: " + "; ".join(problems))
        pytest.skip("the hub cannot run here: " + "; ".join(problems))


@dataclass
class HubUser:
    """A user logged in through the login form, with an API token of their own."""

    name: str
    base_url: str
    token: str
    cookies: httpx.Cookies
    xsrf: str

    def api(self) -> httpx.Client:
        """A client for the hub API and the user's servers, authenticated by token."""
        return httpx.Client(base_url=self.base_url, timeout=60,
                            headers={"Authorization": f"token {self.token}"})

    def browser(self) -> httpx.Client:
        """A client with the login cookies (as a browser would have)."""
        return httpx.Client(base_url=self.base_url, timeout=60, cookies=self.cookies)


def log_in(base_url: str, name: str, password: str) -> HubUser:
    """Log in through the form, then create a token through the REST API (cookie + XSRF)."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        client.get("/hub/login")
        xsrf = client.cookies["_xsrf"]
        answer = client.post("/hub/login", data={"username": name, "password": password,
                                                 "_xsrf": xsrf})
        assert answer.status_code == 302, answer.text
        client.cookies.clear()
        client.cookies.update(answer.cookies)
        xsrf = answer.cookies["_xsrf"]
        made = client.post(f"/hub/api/users/{name}/tokens", json={"note": "test"},
                           headers={"X-XSRFToken": xsrf})
        assert made.status_code == 201, made.text
        return HubUser(name, base_url, made.json()["token"], httpx.Cookies(client.cookies),
                       xsrf)
