"""Settings of project workspaces (``TRE_WORKSPACES_<NAME>``), built once and passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tre.errors import InvalidInput
from tre.workspaces.quota import MIN_BYTES, ProjectQuotas, parse_size

UID_BASE = 200_000
UID_COUNT = 65_536


class WorkspaceSettings(BaseSettings):
    """Where workspaces live, which uids projects get, how sandboxes are limited."""

    model_config = SettingsConfigDict(env_prefix="TRE_WORKSPACES_", extra="forbid")

    root: Path = Field(
        default=Path("/srv/tre/workspaces"),
        description="Folder holding each project's shared workspace and its members' outputs "
        "(root's, mode 0700: root binds the folders into each sandbox).",
    )
    uid_base: int = Field(
        default=UID_BASE, ge=65_536,
        description="First host uid given to a project; project n gets uid_base + n. Pick a "
        "range no host account, /etc/subuid range or container engine uses.",
    )
    uid_count: int = Field(default=UID_COUNT, gt=0, le=1_000_000,
                           description="How many project uids the range holds.")
    cgroup_root: Path = Field(
        default=Path("/sys/fs/cgroup"),
        description="Where the cgroup v1 hierarchies (memory, pids, cpu) are mounted.",
    )
    allow_no_limits: bool = Field(
        default=False,
        description="Start sandboxes even when cgroups cannot be written, i.e. WITHOUT cpu, "
        "memory and pids limits. For development machines only; never with real data.",
    )
    runtime: Path | None = Field(
        default=None,
        description="A Python prefix or venv the sandbox uids can read (e.g. /opt/tre/runtime), "
        "mounted read-only at /opt/tre/runtime and put first on PATH. Default: the system "
        "Python under /usr only.",
    )

    bwrap: Path | None = Field(
        default=None,
        description="bubblewrap's bwrap for `tre run` (default: bwrap found on "
        "/usr/sbin:/usr/bin:/sbin:/bin; the hub's is BwrapSpawner.bwrap). A missing or "
        "non-executable file is a clear, audited refusal.",
    )

    starter: Path | None = Field(
        default=None,
        description="A folder of notebooks and files every new project workspace starts with "
        "(e.g. the repository's notebooks/): copied into /workspace once, when the workspace is "
        "made, owned by the project; later changes are the project's own. Links and special "
        "files in it are not copied. Default: workspaces start empty.",
    )

    quota: int | None = Field(
        default=None,
        description="Disk quota of each project's workspace and outputs together, e.g. 20G "
        "(K, M, G, T: powers of 1024): each project's folder becomes a loop-mounted ext4 image "
        "of that size, fully allocated on the host at the project's first start (needs root "
        "and loop devices; a start that cannot set it up is refused). Default: none, the "
        "folders share the filesystem of the root. Applies to new images only: grow one with "
        "`tre workspaces grow` (docs/operations.md).",
    )

    @field_validator("quota", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                value = parse_size(value)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        if isinstance(value, int) and value < MIN_BYTES:
            raise ValueError(f"a quota below {MIN_BYTES // 1024**2}M leaves no room once ext4 "
                             "has its journal: give a larger size, e.g. 20G")
        return value

    @field_validator("root", "cgroup_root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def quotas(self) -> ProjectQuotas:
        """The projects' quota images under the root."""
        return ProjectQuotas(self.root, self.quota)

    def uid_registry(self, home: Path) -> Path:
        """The JSON file recording each project's uid (under $TRE_HOME: only tre reads it)."""
        return home / "workspace-uids.json"
