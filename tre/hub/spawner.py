"""JupyterHub spawners of tre: one server per (user, project), allowed by policy, in a sandbox.

:class:`TRESpawnerMixin` is the thin, backend-neutral part (which project, may the user start
it, the environment); :class:`BwrapSpawner` renders tre's workspace spec with bubblewrap and
bridges the sandbox, which has no network, to the hub through unix sockets (tre.hub.bridge).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx
from jupyterhub.spawner import Spawner
from jupyterhub.utils import random_port, url_path_join
from tornado import web
from traitlets import Float, List, Unicode, default
from traitlets.config import LoggingConfigurable

from tre.api.settings import PREFIX as API_PREFIX
from tre.db.schema import AUDIT_OBJECT_ID_LENGTH
from tre.domain.values import check_slug
from tre.errors import InvalidInput, TREError
from tre.hub import bridge
from tre.hub.context import HubContext, hub_context
from tre.hub.projects import DENY, SPAWN, STOP, ProjectChoice, record, startable_projects
from tre.hub.settings import HubSettings
from tre.workspaces.bwrap import HOST_PATH, BwrapBackend, RunningSandbox, Tools
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.service import prepare
from tre.workspaces.spec import API_URL_ENV, Mount, NetworkMode, Profile, WorkspaceSpec

DROPPED_ENV = ("JPY_API_TOKEN",)
"""Variables the hub sets that a sandbox never gets (a duplicate of the server's token)."""
START_MARGIN_S = 1.0
"""How long before start_timeout start() stops waiting for the server itself."""


def _form(choices: list[ProjectChoice]) -> str:
    if not choices:
        return ("<p>You hold no data permit in force for any project, so no workspace can "
                "start. Apply with <code>tre permits apply</code> and wait for the HDAB's "
                "approval.</p>")
    options = "\n".join(
        f'<option value="{html.escape(c.project)}">{html.escape(c.project)} '
        f"({c.kind} {html.escape(c.permit)}: {html.escape(', '.join(c.datasets))})</option>"
        for c in choices)
    return ('<label for="tre-project">Project</label>\n'
            '<select id="tre-project" name="project" class="form-control">\n'
            f"{options}\n</select>\n"
            "<p>Name the server after the project: one server per project.</p>")


if TYPE_CHECKING:
    _SpawnerBase = Spawner
else:  # not a Spawner at run time: jupyterhub insists every Spawner subclass defines start()
    _SpawnerBase = LoggingConfigurable


class TRESpawnerMixin(_SpawnerBase):  # type: ignore[misc,valid-type]  # jupyterhub is untyped
    """The project, the policy check (audited) and a secret-free environment, for any backend.

    Put it first: ``class MySpawner(TRESpawnerMixin, SomeSpawner)``. The server's name is the
    project (named servers); the policy check runs before ``start`` and a deny is a 403 with the
    policy's reasons. Subclasses start ``self.workspace_spec``.
    """

    profile_name = Unicode(
        "notebook",
        help="Name of the workspace profile (recorded in the audit trail and the spec's labels). "
        "Notebook servers get the permit's whole CPU and memory quota and no GPU.",
    ).tag(config=True)

    api_url = Unicode(
        help="tre's REST API (the tre-api hub service) as the hub's host reaches it. Servers get "
        f"the address they reach it at in ${API_URL_ENV}. Default: "
        "http://127.0.0.1:TRE_HUB_API_PORT, where `tre up` starts it.",
    ).tag(config=True)

    workspace_spec: WorkspaceSpec | None = None
    project: str | None = None

    @default("api_url")
    def _api_url_default(self) -> str:
        return HubSettings().api_url

    @default("env_keep")
    def _env_keep_default(self) -> list[str]:
        # Nothing of the hub's environment (which holds the proxy's and services' tokens).
        return []

    @default("notebook_dir")
    def _notebook_dir_default(self) -> str:
        # /data, /workspace and /outputs side by side; the sandbox shows nothing else of value.
        return "/"

    @default("default_url")
    def _default_url_default(self) -> str:
        return "/lab/tree/workspace"

    @default("options_from_form")
    def _options_from_form_default(self) -> Any:
        return self._simple_options_from_form

    def tre(self) -> HubContext:
        """The hub process's tre context (Node, workspace settings)."""
        return hub_context()

    async def get_options_form(self) -> str:
        """The spawn form: only projects whose permit is in force and lets the user read data."""
        user: str = self.user.name
        choices = await asyncio.to_thread(startable_projects, self.tre().node, user)
        return _form(choices)

    def _asked_project(self) -> Any:
        asked = self.user_options.get("project") if isinstance(self.user_options, dict) else None
        if isinstance(asked, list) and len(asked) == 1:
            asked = asked[0]
        return asked

    def _chosen_project(self) -> str:
        """The server's name, which must be a project name; InvalidInput saying the fix."""
        asked = self._asked_project()
        if asked is not None and not isinstance(asked, str):
            raise InvalidInput("user_options.project must be a project name")
        name: str = self.name or ""
        if not name:
            raise InvalidInput(
                "tre starts one server per project: start the named server of the "
                f"project (/hub/spawn/{self.user.name}/PROJECT or POST "
                f"/hub/api/users/{self.user.name}/servers/PROJECT)")
        if asked and asked != name:
            check_slug("project", asked)
            raise InvalidInput(f"the server {name!r} is for project {name!r}, not {asked!r}: "
                               f"start the server named {asked!r} instead")
        check_slug("project", name)
        return name

    async def refused(self, project: str, exc: TREError, **details: Any) -> web.HTTPError:
        """Audit ``workspace.deny`` of ``project`` and give the HTTP error saying why.

        Bad input is a 400, a node that cannot run the backend a 503 (outcome ``failed``),
        any other refusal a 403. If the refusal cannot be audited (a locked or broken
        database), the start is still refused: a 503 giving both reasons.
        """
        status = (400 if isinstance(exc, InvalidInput) else
                  503 if isinstance(exc, SandboxUnavailable) else 403)
        try:
            # The name may be anything a client sent: bounded, as the audit trail stores it.
            await asyncio.to_thread(record, self.tre().node, actor=self.user.name, action=DENY,
                                    project=project[:AUDIT_OBJECT_ID_LENGTH],
                                    outcome="failed" if status == 503 else "denied",
                                    details={"reason": str(exc), **details})
        except TREError as unrecorded:
            self.log.error("tre could not audit the refusal of %s: %s", project, unrecorded)
            return web.HTTPError(503, f"{exc}; and tre could not record this refusal in the "
                                 f"audit trail ({unrecorded}): try again shortly, and tell "
                                 "the node's operator if it persists")
        return web.HTTPError(status, str(exc))

    async def check_backend(self) -> None:
        """Raise SandboxUnavailable, naming the fix, if this node cannot start the backend.

        Called after policy allowed the workspace and before ``start``. Default: nothing.
        """

    def server_api_url(self) -> str:
        """tre's REST API as the server reaches it (backends that bridge it override this)."""
        return f"{self.api_url.rstrip('/')}{API_PREFIX}/"

    def sandbox_env(self) -> dict[str, str]:
        """The hub's environment for the server, minus what a sandbox must not get, plus where
        tre's REST API is."""
        env: dict[str, str] = self.get_env()
        for name in DROPPED_ENV:
            env.pop(name, None)
        env[API_URL_ENV] = self.server_api_url()
        return env

    def _profile(self) -> Profile:
        return Profile(name=self.profile_name, network=NetworkMode.HUB_ONLY)

    async def run_pre_spawn_hook(self) -> Any:
        """Ask tre (policy per dataset, audited) before anything starts; a deny is a 403.

        Every refusal (bad project name, policy, data missing on disk, a backend this node
        cannot run) is audited as ``workspace.deny`` and reaches the user with its reason.
        """
        try:
            project = self._chosen_project()
        except InvalidInput as exc:
            raise await self.refused(self.name or "-", exc,
                                     asked=str(self._asked_project())[:200]) from None
        ctx = self.tre()
        try:
            spec = await asyncio.to_thread(
                prepare, ctx.node, self.user.name, project, self._profile(),
                settings=ctx.workspaces, uids=ctx.uids, extra_env=self.sandbox_env())
            await self.check_backend()
        except TREError as exc:
            raise await self.refused(project, exc) from None
        self.project, self.workspace_spec = project, spec
        return await _maybe_await(super().run_pre_spawn_hook())

    async def start(self) -> Any:
        """The backend's start; a refusal or a backend that does not answer is audited."""
        try:
            return await super().start()
        except TREError as exc:
            raise await self.refused(self.project or self.name or "-", exc) from None

    async def audit_started(self, details: dict[str, Any]) -> None:
        """Record ``workspace.spawn`` (the sandbox is up, the hub now waits for the server)."""
        assert self.project is not None
        await asyncio.to_thread(record, self.tre().node, actor=self.user.name, action=SPAWN,
                                project=self.project, outcome="allowed",
                                details={"server": self.name, **details})

    async def audit_stopped(self, details: dict[str, Any]) -> None:
        """Record ``workspace.stop``."""
        project = self.project or self.name
        await asyncio.to_thread(record, self.tre().node, actor=self.user.name, action=STOP,
                                project=project, outcome="allowed",
                                details={"server": self.name, **details})


def _address(url: str, fix: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.hostname is None or parsed.port is None:
        raise web.HTTPError(500, f"cannot tell host and port from {url}: {fix}")
    return parsed.hostname, parsed.port


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


class BwrapSpawner(TRESpawnerMixin, Spawner):  # type: ignore[misc]
    """Runs jupyterhub-singleuser in tre's bubblewrap sandbox, bridged to the hub by socat."""

    socat = Unicode(
        "",
        help="Path of socat, run on the host and inside the sandbox (Debian `socat`). "
        "Default: found on the system PATH.",
    ).tag(config=True)

    bwrap = Unicode(
        "",
        help="Path of bubblewrap's `bwrap` (Debian `bubblewrap`). Default: found on the system "
        "PATH. A path that is not an executable file refuses every start (503, audited).",
    ).tag(config=True)

    singleuser_command = List(
        Unicode(), ["jupyterhub-singleuser"],
        help="The single-user server command, looked up inside the sandbox: the runtime "
        "(TRE_WORKSPACES_RUNTIME, made by scripts/make-sandbox-runtime.sh) comes first on PATH.",
    ).tag(config=True)

    run_root = Unicode(
        "/run/tre-hub",
        help="Host folder holding each server's run folder (its bridge sockets). Root's, 0755; "
        "each run folder belongs to the project uid, 0700, and is bound at /run/tre inside.",
    ).tag(config=True)

    stop_grace_s = Float(
        5.0, help="Seconds a stopping server gets after SIGTERM before everything is killed.",
    ).tag(config=True)

    ready_poll_s = Float(
        0.05,
        help="Seconds between start()'s requests to the new server, straight to its socket in "
        "the run folder, asking what the hub asks to know it is up. start() returns once the "
        "server answers (or the sandbox ended, or start_timeout/http_timeout is nearly spent), "
        "so the hub's own check, which waits up to 5 s between tries, succeeds at its first. "
        "A request costs the sandbox one short-lived socat. 0: return as soon as the sandbox "
        "started and leave the waiting to the hub.",
    ).tag(config=True)

    sandbox: RunningSandbox | None = None
    forwarders: list[subprocess.Popen[bytes]]
    run_dir: Path | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.forwarders = []

    def _socat(self) -> str:
        found = self.socat or shutil.which("socat", path=HOST_PATH)
        if not found:
            raise SandboxUnavailable("socat not found: install it (scripts/install-system-deps.sh"
                                     " or apt-get install socat) so the hub can reach sandboxes")
        return found

    def _backend(self) -> BwrapBackend:
        return BwrapBackend(self.tre().workspaces, tools=Tools.find(bwrap=self.bwrap or None))

    async def check_backend(self) -> None:
        """bwrap, socat and the sandbox runtime must be there (SandboxUnavailable naming them)."""
        if self.tre().workspaces.runtime is None:
            raise SandboxUnavailable("no sandbox runtime: run scripts/make-sandbox-runtime.sh "
                                     "and set TRE_WORKSPACES_RUNTIME=/opt/tre/runtime")
        self._backend()
        self._socat()

    def get_env(self) -> dict[str, str]:
        """The hub's environment, with the hub and the server at their addresses inside."""
        env: dict[str, str] = super().get_env()
        api_path = urlparse(env["JUPYTERHUB_API_URL"]).path
        env["JUPYTERHUB_API_URL"] = bridge.inside_hub_api_url(api_path)
        env["JUPYTERHUB_ACTIVITY_URL"] = bridge.inside_hub_api_url(
            urlparse(env["JUPYTERHUB_ACTIVITY_URL"]).path)
        env["JUPYTERHUB_SERVICE_URL"] = bridge.inside_service_url(
            urlparse(env["JUPYTERHUB_SERVICE_URL"]).path)
        # Jupyter's runtime files (kernel connection files) stay in the sandbox's own /tmp.
        env["JUPYTER_RUNTIME_DIR"] = "/tmp/jupyter-runtime"  # noqa: S108 - sandbox tmpfs
        return env

    def server_api_url(self) -> str:
        """The API through the sandbox's inner forwarder."""
        return bridge.inside_api_url(API_PREFIX)

    def _hub_address(self) -> tuple[str, int]:
        return _address(self.hub_connect_url or self.hub.api_url,
                        "set JupyterHub.hub_bind_url with an explicit port")

    def _api_address(self) -> tuple[str, int]:
        return _address(self.api_url, "set BwrapSpawner.api_url with an explicit port")

    async def start(self) -> tuple[str, int]:
        """Start the forwarders and the sandbox; return the loopback address of the server once
        it answers (see ``ready_poll_s``)."""
        spec = self.workspace_spec
        if spec is None:
            raise web.HTTPError(500, "start() before the pre-spawn check: tre refuses to start "
                                "a workspace that policy did not allow")
        began = asyncio.get_running_loop().time()
        socat = self._socat()
        hub_host, hub_port = self._hub_address()
        api_host, api_port = self._api_address()
        host_port: int = int(getattr(self, "port", 0) or random_port())
        self.port = host_port
        try:
            self.run_dir = await asyncio.to_thread(self._make_run_dir, spec)
            self.forwarders.append(subprocess.Popen(
                bridge.host_hub_forward(socat, self.run_dir, hub_host, hub_port),
                stdin=subprocess.DEVNULL, env={"PATH": HOST_PATH}))
            self.forwarders.append(subprocess.Popen(
                bridge.host_api_forward(socat, self.run_dir, api_host, api_port),
                stdin=subprocess.DEVNULL, env={"PATH": HOST_PATH}))
            # The sandbox starts while the forwarders make their sockets: its server calls the
            # hub only once its imports are done, seconds later.
            self.sandbox = await asyncio.to_thread(
                self._backend().start, spec,
                bridge.sandbox_command(socat, self.singleuser_command),
                stdin=subprocess.DEVNULL,
                extra_mounts=(Mount(self.run_dir, bridge.INSIDE_RUN, read_only=False),))
            self.forwarders.append(subprocess.Popen(
                bridge.host_server_forward(socat, self.run_dir, host_port),
                stdin=subprocess.DEVNULL, env={"PATH": HOST_PATH}))
            await self._wait_for_socket(self.run_dir / bridge.HUB_SOCKET)
            await self._wait_for_socket(self.run_dir / bridge.API_SOCKET)
        except TREError as exc:
            await self._teardown()
            raise await self.refused(spec.project, exc) from None
        except BaseException:
            await self._teardown()
            raise
        deadline = began + min(self.start_timeout, self.http_timeout) - START_MARGIN_S
        # The audit record is written while the server starts, and always before any failure.
        answering = asyncio.create_task(
            self._wait_until_answering(self.run_dir / bridge.SERVER_SOCKET, deadline))
        try:
            await self.audit_started({"uid": spec.uid, "port": host_port,
                                      "pid": self.sandbox.process.pid})
        except BaseException:
            answering.cancel()
            raise
        try:
            await answering
        except TREError as exc:  # the hub then stops what is left (audited workspace.stop)
            raise await self.refused(spec.project, exc) from None
        return ("127.0.0.1", host_port)

    async def _wait_until_answering(self, socket: Path, deadline: float) -> None:
        """Return once the server answers the hub's readiness request through ``socket``
        (any status below 500, as the hub asks) or ``deadline`` passed (the hub's own check
        then decides); SandboxUnavailable at once if the sandbox ended first."""
        if self.ready_poll_s <= 0:
            return
        url = f"http://127.0.0.1{url_path_join(self.server.base_url, 'api')}"
        loop = asyncio.get_running_loop()
        transport = httpx.AsyncHTTPTransport(uds=str(socket))
        async with httpx.AsyncClient(transport=transport) as client:
            while (code := self.sandbox.poll() if self.sandbox else 0) is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                if socket.exists():
                    # Once the server listens, the request waits for its first answer.
                    with contextlib.suppress(httpx.TransportError):
                        answer = await client.get(url, timeout=remaining)
                        if answer.status_code < 500:
                            return
                await asyncio.sleep(self.ready_poll_s)
        raise SandboxUnavailable(f"the workspace server exited with status {code} before it "
                                 "answered: its output is in the hub's log")

    def _make_run_dir(self, spec: WorkspaceSpec) -> Path:
        root = Path(self.run_root)
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        run_dir = root / f"{spec.name}-{secrets.token_hex(4)}"
        run_dir.mkdir(mode=0o700)
        os.chown(run_dir, spec.uid, spec.gid)
        return run_dir

    async def _wait_for_socket(self, path: Path, timeout_s: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not path.exists():
            if any(f.poll() is not None for f in self.forwarders):
                raise SandboxUnavailable(f"a forwarder (socat) exited before {path} "
                                         "appeared: see the hub's log")
            if loop.time() > deadline:
                raise SandboxUnavailable(f"{path} did not appear within {timeout_s:g} s")
            await asyncio.sleep(0.02)

    async def poll(self) -> int | None:
        """None while the sandbox and every forwarder run; else an exit status.

        A server that ended on its own (or whose forwarder did) is cleaned up here, its stop
        audited with the status: the hub calls stop() only for servers that poll as running.
        """
        if self.sandbox is None:
            return 0
        code = self.sandbox.poll()
        if code is None and all(f.poll() is None for f in self.forwarders):
            return None
        status = 1 if code is None else code
        await self._teardown()
        await self.audit_stopped({"exited": status})
        return status

    async def stop(self, now: bool = False) -> None:
        """Kill the whole sandbox and the forwarders, remove its cgroups and run folder."""
        was_running = self.sandbox is not None
        await self._teardown(grace_s=0.0 if now else self.stop_grace_s)
        if was_running:
            await self.audit_stopped({"now": now})

    async def _teardown(self, grace_s: float = 0.0) -> None:
        sandbox, self.sandbox = self.sandbox, None
        forwarders, self.forwarders = self.forwarders, []
        run_dir, self.run_dir = self.run_dir, None
        if sandbox is not None:
            await asyncio.to_thread(sandbox.stop, grace_s)
        for forwarder in forwarders:
            if forwarder.poll() is None:
                forwarder.kill()
            await asyncio.to_thread(forwarder.wait)
        if run_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(shutil.rmtree, run_dir)
