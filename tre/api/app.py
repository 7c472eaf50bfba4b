"""The FastAPI application of tre's REST API (``create_app``), mounted under the hub's prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tre import __version__
from tre.api import applications, datasets, egress, errors, me
from tre.api.auth import Authenticator
from tre.api.deps import ApiState
from tre.api.settings import ApiSettings
from tre.services.node import Node

API_VERSION = "/api/v1"


def create_app(settings: ApiSettings, node: Node | Callable[[], Node],
               authenticator: Authenticator) -> FastAPI:
    """The API app. ``node`` is a Node the caller owns, or a factory called at start-up whose
    Node the app closes at shutdown. Paths keep the hub's prefix
    (``/services/tre-api/api/v1/...``): the proxy forwards them unchanged."""
    base = settings.prefix + API_VERSION

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = None if isinstance(node, Node) else node()
        if opened is not None:
            app.state.tre = ApiState(settings, opened, authenticator)
        try:
            yield
        finally:
            app.state.tre.workers.shutdown(wait=True)
            # Let go of the node here, on this thread: the app is a cycle the garbage collector
            # would otherwise free on any thread, and the policy engine is per-thread.
            del app.state.tre
            if opened is not None:
                opened.close()

    app = FastAPI(
        title="tre REST API", version=__version__, lifespan=lifespan,
        description="Data-access applications and permits, egress (airlock) requests and the "
        "caller's identity, for the portal, "
        "notebooks and scripts. Authenticate with a JupyterHub token: `Authorization: token "
        "...` (see docs/api.md).",
        openapi_url=f"{base}/openapi.json", docs_url=f"{base}/docs", redoc_url=None)
    if isinstance(node, Node):
        app.state.tre = ApiState(settings, node, authenticator)
    errors.install(app)
    app.include_router(applications.applications_router, prefix=base)
    app.include_router(applications.permits_router, prefix=base)
    app.include_router(datasets.router, prefix=base)
    app.include_router(egress.router, prefix=base)
    app.include_router(me.router, prefix=base)
    return app
