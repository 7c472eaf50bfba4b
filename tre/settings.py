"""The one typed settings object of the service and CLI, read from TRE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tre.policy.bundle import default_policies_dir

DEFAULT_HOME = Path.home() / ".tre"


class Settings(BaseSettings):
    """Where tre keeps its state and how it reaches its policy engine (``TRE_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="TRE_", extra="forbid")

    home: Path = Field(
        default=DEFAULT_HOME,
        description="Folder holding tre's state: database, audit checkpoints and keys.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///$TRE_HOME/tre.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db.",
    )
    policy_engine: Literal["embedded", "opa"] = Field(
        default="embedded",
        description="embedded: in-process Rego engine; opa: an OPA server at TRE_OPA_URL.",
    )
    opa_url: str = Field(default="http://127.0.0.1:8181", description="URL of the OPA server.")
    policy_timeout_s: float = Field(
        default=2.0, gt=0, description="Seconds before an unanswered policy query is a deny."
    )
    policies_dir: Path = Field(
        default_factory=default_policies_dir, description="Folder of the Rego policies."
    )
    db_busy_timeout_s: float = Field(
        default=10.0, gt=0, description="Seconds to wait for a locked SQLite database."
    )
    sandbox_cpus: float = Field(
        default=2.0, gt=0, le=256, description="CPU cores of each new SME sandbox (no GPUs)."
    )
    sandbox_memory_gb: int = Field(
        default=4, gt=0, le=4096, description="Memory in GB of each new SME sandbox."
    )

    @field_validator("home", "policies_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def url(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{self.home / 'tre.db'}"

    @property
    def audit_dir(self) -> Path:
        """Where the signed audit checkpoints live (outside the database, on purpose)."""
        return self.home / "audit"

    @property
    def keys_dir(self) -> Path:
        """Where the node's keys live (mode 0700)."""
        return self.home / "keys"
