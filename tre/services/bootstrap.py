"""Set up a node's state folder and open a Node from settings."""

from __future__ import annotations

from pydantic import ValidationError

from tre.audit.checkpoints import CheckpointWriter, create_keys
from tre.db.database import Database
from tre.errors import InvalidInput
from tre.policy.factory import build_engine
from tre.services.node import Node
from tre.settings import Settings


def load_settings() -> Settings:
    """Settings from the environment; a bad TRE_* variable is a clear error."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"TRE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"bad tre setting: {problems}") from None


def initialise(settings: Settings) -> Database:
    """Create $TRE_HOME, the node's audit key pair and the database schema (idempotent)."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    create_keys(settings.keys_dir)
    settings.audit_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.url, busy_timeout_s=settings.db_busy_timeout_s)
    db.migrate()
    return db


def open_node(settings: Settings, *, server: bool = False) -> Node:
    """A Node on an initialised home; refuses with what to do if it is not.

    ``server``: for a long-lived process serving many requests (the hub, the REST API): on
    SQLite its write-ahead log is checkpointed from a thread of its own (tre.db.wal).
    """
    db = Database(settings.url, busy_timeout_s=settings.db_busy_timeout_s,
                  background_checkpoints=server)
    db.check_ready()
    policy = build_engine(settings.policy_engine, policies_dir=settings.policies_dir,
                          opa_url=settings.opa_url, timeout_s=settings.policy_timeout_s)
    return Node(db=db, policy=policy,
                checkpoints=CheckpointWriter(settings.audit_dir, settings.keys_dir))
