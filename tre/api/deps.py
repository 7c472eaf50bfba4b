"""Router dependencies: the app's state (node, settings) and the authenticated caller."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from tre.api.auth import Authenticator, Caller, token_of
from tre.api.settings import ApiSettings
from tre.services.node import Node

_HEADER = APIKeyHeader(
    name="Authorization", auto_error=False, scheme_name="JupyterHub token",
    description="`token <JupyterHub API token>` or `Bearer <token>`; the token needs the "
    "scope access:services!service=tre-api.")


T = TypeVar("T")


def _workers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="tre-api")


@dataclass
class ApiState:
    """What every request handler shares: set once by create_app."""

    settings: ApiSettings
    node: Node
    authenticator: Authenticator
    workers: ThreadPoolExecutor = field(default_factory=_workers)
    """Threads the services run in. Their own pool, shut down with the app: the embedded
    policy engine keeps a compiled engine per thread, which must end with its thread."""

    async def run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call(*args, **kwargs)`` (a blocking service function) on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.workers, functools.partial(call, *args, **kwargs))


def state(request: Request) -> ApiState:
    """The app's state."""
    found: ApiState = request.app.state.tre
    return found


State = Annotated[ApiState, Depends(state)]


async def caller(api: State, authorization: Annotated[str | None, Depends(_HEADER)]) -> Caller:
    """The caller, from their JupyterHub token (401 without one the hub knows)."""
    return await api.authenticator.caller(token_of(authorization))


Authenticated = Annotated[Caller, Depends(caller)]
