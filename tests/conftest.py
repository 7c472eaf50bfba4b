"""Fixtures shared by every test: a node on SQLite or PostgreSQL, a settable clock, users."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from factories import Clock
from tre.audit.checkpoints import CheckpointWriter
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.services.bootstrap import initialise
from tre.services.node import Node
from tre.settings import Settings, default_policies_dir

POSTGRES_URL = os.environ.get("TRE_TEST_POSTGRES_URL")


def _postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("TRE_TEST_POSTGRES_URL is not set in CI: .ci/run must start PostgreSQL")
        pytest.skip("PostgreSQL not configured: set TRE_TEST_POSTGRES_URL (scripts/postgres.sh)")
    name = f"tre_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on each backend (tests using it run on SQLite and on PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'tre.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite URL under the test's home (for tests that need only one backend)."""
    return f"sqlite:///{tmp_path / 'home' / 'tre.db'}"


@pytest.fixture
def clock() -> Clock:
    """A clock the test sets and advances."""
    return Clock()


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=url,
                    policies_dir=default_policies_dir())


def _node(settings: Settings, clock: Clock) -> Iterator[Node]:
    db = initialise(settings)
    node = Node(db=db, policy=EmbeddedPolicyEngine(settings.policies_dir),
                checkpoints=CheckpointWriter(settings.audit_dir, settings.keys_dir), clock=clock)
    yield node
    node.close()


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Settings of a fresh home on SQLite."""
    return _settings(tmp_path, sqlite_url)


@pytest.fixture
def node(settings: Settings, clock: Clock) -> Iterator[Node]:
    """An initialised node on SQLite with the embedded policy engine and a test clock."""
    yield from _node(settings, clock)


@pytest.fixture
def any_node(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Node]:
    """An initialised node on each database backend."""
    yield from _node(_settings(tmp_path, database_url), clock)
