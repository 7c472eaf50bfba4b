"""Policy engines that ask an OPA server over its REST API, and a helper that runs one."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import requests
from opa_client import AsyncOpaClient, OpaClient

import tre
from tre.errors import InvalidInput, PolicyEngineUnavailable
from tre.policy.bundle import PolicyFile, default_policies_dir, load_bundle
from tre.policy.decisions import DECISION_RULE, Decision, deny, from_result
from tre.policy.engine import PolicyEngine, check_decision_name

DEFAULT_OPA_URL = "http://127.0.0.1:8181"
OPA_BINARY_ENV = "TRE_OPA_BINARY"


def parse_opa_url(url: str) -> tuple[str, str, int]:
    """``http://host:port`` -> (scheme, host, port); anything else is an error saying the form."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidInput(
            f"invalid OPA URL {url!r}: write http://HOST:PORT (e.g. {DEFAULT_OPA_URL})"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 8181)
    except ValueError:
        raise InvalidInput(f"invalid port in OPA URL {url!r}: write http://HOST:PORT") from None
    return parts.scheme, parts.hostname, port


def _result(response: Any) -> Any:
    # OPA answers {"result": ...}, or {} when the rule is undefined (from_result denies None).
    return response.get("result") if isinstance(response, Mapping) else None


class OpaServerPolicyEngine(PolicyEngine):
    """Answers decisions by asking an OPA server (``POST /v1/data/<package>/decision``).

    The production engine: policies are deployed to OPA as a bundle, and tre only asks. Every
    failure is a deny: unreachable, timed out, HTTP errors, undefined or malformed answers.
    """

    name = "opa"

    def __init__(
        self,
        url: str = DEFAULT_OPA_URL,
        *,
        timeout_s: float = 1.0,
        retries: int = 0,
        token: str | None = None,
    ) -> None:
        super().__init__()
        if timeout_s <= 0:
            raise InvalidInput(f"the policy engine timeout must be positive, got {timeout_s}")
        scheme, self.host, self.port = parse_opa_url(url)
        self.url = f"{scheme}://{self.host}:{self.port}"
        self.timeout_s = timeout_s
        self._client_options: dict[str, Any] = {
            "host": self.host, "port": self.port, "ssl": scheme == "https",
            "timeout": timeout_s, "retries": retries, "token": token,
        }
        self._client = OpaClient(**self._client_options)

    def _evaluate(self, package: str, input: Mapping[str, Any]) -> Any:
        response = self._client.query_rule(
            input_data=dict(input), package_path=package, rule_name=DECISION_RULE
        )
        return _result(response)

    def _store_permit(self, project: str, permit: Mapping[str, Any]) -> None:
        """PUT the permit to ``/v1/data/permits/<project>`` (project ids are URL-safe slugs)."""
        self._client.update_or_create_data(dict(permit), f"permits/{project}")

    def _failure(self, decision: str, exc: Exception) -> Decision:
        if isinstance(exc, requests.ConnectionError | aiohttp.ClientConnectorError):
            return self._unreachable(decision)
        if isinstance(exc, requests.Timeout | TimeoutError):
            return deny(decision,
                        f"policy engine at {self.url} did not answer within {self.timeout_s}s: "
                        "denied", error="timeout")
        return super()._failure(decision, exc)

    def _unreachable(self, decision: str) -> Decision:
        return deny(
            decision,
            f"policy engine unreachable at {self.url}: start OPA (scripts/install-opa.sh, then "
            f"opa run --server --addr {self.host}:{self.port} policies/) "
            "or set TRE_POLICY_ENGINE=embedded",
            error="unreachable",
        )

    def upload_policies(self, bundle: tuple[PolicyFile, ...]) -> None:
        """PUT each policy module to the server (``/v1/policies/<name>``), verbatim.

        ``rego_compat`` stays off: tre's Rego is v1 and must never be silently rewritten.
        """
        for policy in bundle:
            self._client.update_policy_from_string(policy.text, policy.name, rego_compat=False)

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close_connection()


class AsyncOpaServerPolicyEngine(OpaServerPolicyEngine):
    """The OPA server engine with ``await adecide(...)`` too (aiohttp, one session per loop)."""

    def __init__(
        self,
        url: str = DEFAULT_OPA_URL,
        *,
        timeout_s: float = 1.0,
        retries: int = 0,
        token: str | None = None,
    ) -> None:
        super().__init__(url, timeout_s=timeout_s, retries=retries, token=token)
        self._async_client: AsyncOpaClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _aclient(self) -> AsyncOpaClient:
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._loop is not loop:
            client = AsyncOpaClient(**self._client_options)
            await client.__aenter__()  # opens the aiohttp session on this loop
            self._async_client, self._loop = client, loop
        return self._async_client

    async def adecide(self, decision: str, input: Mapping[str, Any]) -> Decision:
        """Evaluate ``decision`` on ``input`` without blocking the loop; failures are denies."""
        package = check_decision_name(decision)
        try:
            client = await self._aclient()
            response = await client.query_rule(
                input_data=dict(input), package_path=package, rule_name=DECISION_RULE
            )
        except Exception as exc:  # fail closed: any failure is a deny, with the cause
            return self._failure(decision, exc)
        return from_result(decision, _result(response))

    async def aclose(self) -> None:
        """Close the aiohttp session (call on the loop that used it) and the sync session."""
        if self._async_client is not None:
            await self._async_client.close_connection()
            self._async_client, self._loop = None, None
        self.close()


def repo_opa_binary() -> Path:
    """Where scripts/install-opa.sh puts opa: ``.cache/opa/bin/opa`` in the repository."""
    return Path(tre.__file__).resolve().parent.parent / ".cache" / "opa" / "bin" / "opa"


def find_opa_binary() -> Path:
    """The opa to run: $TRE_OPA_BINARY, else the repository's .cache/opa/bin/opa, else PATH."""
    configured = os.environ.get(OPA_BINARY_ENV)
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise PolicyEngineUnavailable(
                f"{OPA_BINARY_ENV}={configured} is not an executable file: point it at an opa "
                "binary, or unset it and run scripts/install-opa.sh"
            )
        return path
    local = repo_opa_binary()
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("opa")
    if found:
        return Path(found)
    raise PolicyEngineUnavailable(
        f"no opa binary found ({OPA_BINARY_ENV}, {local}, PATH): run scripts/install-opa.sh "
        f"or set {OPA_BINARY_ENV}"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class OpaServer:
    """An ``opa run --server`` child process on loopback, for tests, benchmarks and development."""

    def __init__(
        self,
        policies_dir: Path | None = None,
        *,
        binary: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.policies_dir = policies_dir if policies_dir is not None else default_policies_dir()
        self.binary = binary if binary is not None else find_opa_binary()
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The command line that runs the server (tests are not loaded, only policies)."""
        load_bundle(self.policies_dir)  # the same checks as the embedded engine: not empty
        return [
            str(self.binary), "run", "--server", "--addr", f"{self.host}:{self.port}",
            "--disable-telemetry", "--log-level", "error", "--ignore", "*_test.rego",
            str(self.policies_dir),
        ]

    def start(self, timeout_s: float = 20.0) -> OpaServer:
        """Start OPA and wait until ``/health`` answers 200; raise with OPA's output if not."""
        if self._process is not None:
            return self
        command = self.command()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            self.stop()
            raise PolicyEngineUnavailable(
                f"cannot run {self.binary}: {exc.strerror}: run scripts/install-opa.sh "
                f"or set {OPA_BINARY_ENV}"
            ) from None
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                code = self._process.poll()
                if code is not None:
                    output = self._output()
                    self.stop()
                    raise PolicyEngineUnavailable(f"opa run exited with code {code}: {output}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        output = self._output()
        self.stop()
        raise PolicyEngineUnavailable(
            f"opa run did not become healthy at {self.url} within {timeout_s}s: {output}"
        )

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace").strip()[-2000:]

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout_s``); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> OpaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
