"""The REST API over a real SQLite node, called through FastAPI's TestClient."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from airlock.helpers import published_version
from fastapi.testclient import TestClient

from factories import issue_permit, seed_users
from tre.airlock.service import AirlockConfig
from tre.api.app import create_app
from tre.api.auth import Authenticator, Caller, NotAuthenticated
from tre.api.settings import ApiSettings
from tre.db.datasets import Dataset
from tre.domain.roles import Role
from tre.services import catalogue, users
from tre.services.node import Node

BASE = "/services/tre-api/api/v1"


class TokenTable(Authenticator):
    """Tokens are ``token-<user>`` (the user's own, which may decide) or ``server-<user>`` (a
    workspace's, which may not); anything else is unknown to the 'hub'."""

    async def caller(self, token: str) -> Caller:
        if token.startswith("token-"):
            return Caller(token.removeprefix("token-"), decides=True)
        if token.startswith("server-"):
            return Caller(token.removeprefix("server-"))
        raise NotAuthenticated("the hub does not know this token")


@dataclass
class Api:
    """A TestClient and the world behind it."""

    client: TestClient
    node: Node
    config: AirlockConfig

    def as_(self, user: str) -> dict[str, str]:
        """Headers of a call by ``user`` with their own token."""
        return {"Authorization": f"token token-{user}"}

    def from_workspace(self, user: str) -> dict[str, str]:
        """Headers of a call with ``user``'s workspace (server) token."""
        return {"Authorization": f"token server-{user}"}

    def outputs(self, user: str, project: str = "lung-ai") -> Path:
        """``user``'s outputs folder in ``project``."""
        folder = self.config.workspace_root / project / "outputs" / user
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@pytest.fixture(autouse=True)
def _free_nodes_on_this_thread() -> Iterator[None]:
    """Collect the test's node after its teardown, on the main thread: the embedded policy
    engine holds one engine per thread, which may only be freed by the thread that made it (a
    collection started on a server thread would free the main thread's)."""
    yield
    gc.collect()


@pytest.fixture
def airlock_config(tmp_path: Path, node: Node) -> AirlockConfig:
    """alice leads lung-ai with bob; carl and cleo check outputs; one table in alice's outputs."""
    seed_users(node)
    users.add_user(node, "host:test", "carl", [Role.OUTPUT_CHECKER])
    users.add_user(node, "host:test", "cleo", [Role.OUTPUT_CHECKER])
    version = published_version(tmp_path / "datasets" / "lung-ct" / "v1")
    catalogue.register_version(node, "dan", Dataset("lung-ct", "Lung CT", "", "Hospital A",
                                                    False, node.clock()), "v1", str(version))
    issue_permit(node, members=("bob",))
    config = AirlockConfig(home=tmp_path / "home", workspace_root=tmp_path / "ws")
    outputs = config.workspace_root / "lung-ai" / "outputs" / "alice"
    outputs.mkdir(parents=True)
    (outputs / "counts.csv").write_text("site,n\nA,25\nB,31\n")
    return config


@pytest.fixture
def api(node: Node, airlock_config: AirlockConfig) -> Iterator[Api]:
    """The API app of that world, through a TestClient."""
    app = create_app(ApiSettings(airlock=airlock_config), node, TokenTable())
    with TestClient(app) as client:
        yield Api(client, node, airlock_config)
