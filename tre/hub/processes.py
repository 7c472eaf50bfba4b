"""The processes of `tre up`: configurable-http-proxy, the hub, the enforcer and the REST API.

Each runs in a session of its own (a terminal's Ctrl-C reaches only `tre up`), and stopping
kills each whole process group after a grace period, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

import httpx

from tre.errors import TREError
from tre.hub.config import API, API_TOKEN_ENV, ENFORCER_TOKEN_ENV, PROXY_TOKEN_ENV
from tre.hub.settings import HubSettings
from tre.settings import Settings


class HubUnavailable(TREError):
    """The hub could not start on this machine."""

    exit_code = 69


def proxy_argv(hub: HubSettings) -> list[str]:
    """The proxy's command line (pure)."""
    hub_url = f"http://127.0.0.1:{hub.hub_port}"
    return [str(hub.proxy_command), "--ip", hub.ip, "--port", str(hub.port),
            "--api-ip", "127.0.0.1", "--api-port", str(hub.proxy_api_port),
            "--default-target", hub_url, "--error-target", f"{hub_url}/hub/error"]


def hub_argv(hub: HubSettings) -> list[str]:
    """The hub's command line (pure)."""
    return [sys.executable, "-m", "jupyterhub", "--config", str(hub.config_file)]


def enforcer_argv() -> list[str]:
    """The enforcer's command line (pure)."""
    return [sys.executable, "-m", "tre.hub.enforcer"]


def api_argv() -> list[str]:
    """The REST API service's command line (pure)."""
    return [sys.executable, "-m", "tre.api.server"]


def check_installed(hub: HubSettings) -> None:
    """Refuse, naming the fix, when the proxy or the hub configuration is missing."""
    if not os.access(hub.proxy_command, os.X_OK):
        raise HubUnavailable(f"configurable-http-proxy not found at {hub.proxy_command}: run "
                             "scripts/install-node-deps.sh (or set TRE_HUB_PROXY_COMMAND)")
    if not hub.config_file.is_file():
        raise HubUnavailable(f"no hub configuration at {hub.config_file}: set "
                             "TRE_HUB_CONFIG_FILE to tre's jupyterhub_config.py")


@dataclass
class HubProcesses:
    """The running proxy, hub, enforcer and REST API."""

    hub: HubSettings
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, settings: Settings, *, stdout: IO[bytes] | int | None = None,
              environ: Mapping[str, str] | None = None) -> None:
        """Start all four with fresh tokens; stop what started if one fails."""
        check_installed(self.hub)
        env = dict(os.environ if environ is None else environ)
        env.update({PROXY_TOKEN_ENV: secrets.token_hex(32),
                    ENFORCER_TOKEN_ENV: secrets.token_hex(32),
                    API_TOKEN_ENV: secrets.token_hex(32),
                    "TRE_HOME": str(settings.home)})
        enforcer_env = self._service_env(env, ENFORCER_TOKEN_ENV)
        api_env = self._service_env(env, API_TOKEN_ENV)
        proxy_env = {"PATH": env.get("PATH", "/usr/bin:/bin"),
                     PROXY_TOKEN_ENV: env[PROXY_TOKEN_ENV]}
        try:
            self._spawn("proxy", proxy_argv(self.hub), proxy_env, stdout)
            self._spawn("hub", hub_argv(self.hub), env, stdout)
            self._spawn("enforcer", enforcer_argv(), enforcer_env, stdout)
            self._spawn("api", api_argv(), api_env, stdout)
        except BaseException:
            self.stop()
            raise

    def _service_env(self, env: dict[str, str], token_env: str) -> dict[str, str]:
        """A hub service's environment: none of the secrets but its own hub token."""
        secrets_ = (PROXY_TOKEN_ENV, ENFORCER_TOKEN_ENV, API_TOKEN_ENV)
        service_env = {k: v for k, v in env.items() if k not in secrets_}
        service_env.update({"JUPYTERHUB_API_TOKEN": env[token_env],
                            "JUPYTERHUB_API_URL": self.hub.hub_api_url})
        return service_env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str],
               stdout: IO[bytes] | int | None) -> None:
        self.children[name] = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None, start_new_session=True)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the hub and the REST API answer through the proxy; HubUnavailable if a
        child dies."""
        deadline = time.monotonic() + timeout_s
        for url, what in ((f"{self.hub.public_url}hub/api/", "the hub"),
                          (f"{self.hub.public_url}services/{API}/api/v1/openapi.json",
                           "the REST API")):
            while True:
                self.check_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise HubUnavailable(f"{what} did not answer at {url} within "
                                         f"{timeout_s:g} s: see its log above")
                time.sleep(0.2)

    def check_alive(self) -> None:
        """HubUnavailable naming the first child that exited."""
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                raise HubUnavailable(f"the {name} exited with status {code}: see its log above")

    def stop(self, grace_s: float = 20.0) -> None:
        """Hub first (it stops every server), then the services and the proxy; then kill each
        whole process group, so no child survives `tre up`."""
        for name in ("hub", "enforcer", "api", "proxy"):
            child = self.children.get(name)
            if child is None:
                continue
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=grace_s)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        self.children.clear()
