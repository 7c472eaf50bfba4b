"""The workspace spec: a pure function of (grant, user, profile) that every backend renders.

A grant is what lets a project start workspaces: a data permit, or an SME sandbox over
synthetic data (no permit); both map to :class:`Grant`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from tre.domain.permits import DataPermit, PermitStatus, PinnedDataset
from tre.domain.sandboxes import Sandbox, SandboxStatus
from tre.domain.values import Compute
from tre.errors import InvalidInput
from tre.workspaces.errors import SandboxUnavailable, WorkspaceRefused

GIB = 1024**3
DEFAULT_PIDS = 1024
MAX_PIDS = 16384
DEFAULT_TMP_BYTES = 1 * GIB
MIN_SANDBOX_UID = 1000
"""Below this a uid is a system account on Debian; project uids are far above it anyway."""

DATA_ROOT = "/data"
WORKSPACE = "/workspace"
OUTPUTS = "/outputs"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
SERVER_JUPYTER_CONFIG = "/tmp/jupyter-config"  # noqa: S108 - the sandbox's own tmpfs
"""Jupyter's user config folder in every workspace: on the sandbox's own /tmp, empty at each
start (nothing the project wrote survives into the next server's configuration)."""
API_URL_ENV = "TRE_API_URL"
"""Where a notebook server reaches tre's REST API (set by the spawner, hub-only specs only)."""


class NetworkMode(StrEnum):
    """What the sandbox may reach over the network."""

    NONE = "none"
    """Only its own loopback: batch jobs."""
    HUB_ONLY = "hub-only"
    """Nothing but the hub, through a socket the backend provides: notebook servers."""


@dataclass(frozen=True, slots=True)
class Profile:
    """What a user asks for at start: at most the permit's quota, never more.

    ``None`` means "the permit's whole quota" for CPUs and memory. GPUs are asked for
    explicitly (default none), so a CPU job never holds a GPU the project could use elsewhere.
    """

    name: str = "default"
    cpus: float | None = None
    memory_bytes: int | None = None
    gpus: int = 0
    pids: int = DEFAULT_PIDS
    tmp_bytes: int = DEFAULT_TMP_BYTES
    network: NetworkMode = NetworkMode.NONE

    def __post_init__(self) -> None:
        if self.cpus is not None and self.cpus <= 0:
            raise InvalidInput(f"profile {self.name}: cpus must be positive, got {self.cpus}")
        if self.memory_bytes is not None and self.memory_bytes <= 0:
            raise InvalidInput(f"profile {self.name}: memory must be positive, "
                               f"got {self.memory_bytes} bytes")
        if self.gpus < 0:
            raise InvalidInput(f"profile {self.name}: gpus cannot be negative, got {self.gpus}")
        if not 16 <= self.pids <= MAX_PIDS:
            raise InvalidInput(f"profile {self.name}: pids must be between 16 and {MAX_PIDS}, "
                               f"got {self.pids}")
        if self.tmp_bytes <= 0:
            raise InvalidInput(f"profile {self.name}: /tmp size must be positive, "
                               f"got {self.tmp_bytes} bytes")


@dataclass(frozen=True, slots=True)
class Mount:
    """A host folder seen inside the sandbox."""

    source: Path
    target: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits the backend enforces (cgroups, tmpfs size, devices)."""

    cpus: float
    memory_bytes: int
    pids: int
    gpus: int
    tmp_bytes: int


@dataclass(frozen=True, slots=True)
class WorkspaceSpec:
    """Everything a backend needs to start one project workspace, and nothing else."""

    name: str
    project: str
    user: str
    uid: int
    gid: int
    mounts: tuple[Mount, ...]
    limits: Limits
    env: tuple[tuple[str, str], ...]
    workdir: str
    network: NetworkMode
    labels: tuple[tuple[str, str], ...] = field(default=())

    def env_dict(self) -> dict[str, str]:
        """The environment as a mapping."""
        return dict(self.env)


def project_workspace(workspace_root: Path, project: str) -> Path:
    """The folder all members of ``project`` share (``/workspace`` inside)."""
    return workspace_root / project / "workspace"


def user_outputs(workspace_root: Path, project: str, user: str) -> Path:
    """``user``'s outputs folder in ``project`` (``/outputs`` inside): what the airlock reviews."""
    return workspace_root / project / "outputs" / user


def check_may_start(permit: DataPermit, user: str, now: datetime) -> None:
    """Refuse unless ``user`` reads data under ``permit`` and the permit is in force at ``now``."""
    if not permit.may_use_data(user):
        raise WorkspaceRefused(
            f"{user} is not a member of project {permit.project} with a role that reads data "
            f"(permit {permit.id}): ask the project lead to apply for an amendment adding them "
            "as researcher")
    if not permit.in_force(now):
        status = permit.effective_status(now)
        if status is PermitStatus.ACTIVE:  # active, but its period has not started
            why = f"starts {permit.period.start.isoformat()}"
        else:
            why = f"is {status.value}"
        raise WorkspaceRefused(
            f"permit {permit.id} of project {permit.project} {why}: no workspace can start "
            "until the HDAB has a permit in force for it (`tre permits show` shows its status)")


@dataclass(frozen=True, slots=True)
class Grant:
    """What a workspace may use, whether a permit or a sandbox grants it."""

    kind: str
    """``permit`` or ``sandbox``: names the ``TRE_<KIND>`` variable and the ``tre.<kind>`` label."""
    id: str
    project: str
    datasets: tuple[PinnedDataset, ...]
    compute: Compute
    more: str
    """How to get more than the quota."""

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


def check_sandbox_may_start(sandbox: Sandbox, user: str) -> None:
    """Refuse unless ``user`` is in ``sandbox`` and it is active (policy judges the data)."""
    if user not in sandbox.users:
        raise WorkspaceRefused(
            f"{user} is not the owner or a member of sandbox {sandbox.name}: ask its owner "
            f"{sandbox.owner} to create one with you as --member")
    if sandbox.status is not SandboxStatus.ACTIVE:
        raise WorkspaceRefused(f"sandbox {sandbox.name} is {sandbox.status.value}: no workspace "
                               "starts in it again (`tre sandboxes create` makes a new one)")


def grant_of(source: DataPermit | Sandbox, user: str, now: datetime) -> Grant:
    """The grant of a permit or a sandbox, if it lets ``user`` start a workspace at ``now``."""
    if isinstance(source, Sandbox):
        check_sandbox_may_start(source, user)
        return Grant("sandbox", source.id, source.name, source.datasets, source.compute,
                     "create a sandbox with a larger quota")
    check_may_start(source, user, now)
    return Grant("permit", source.id, source.project, source.datasets, source.compute,
                 "apply for an amendment")


def _limits(grant: Grant, profile: Profile) -> Limits:
    quota = grant.compute
    quota_memory = quota.memory_gb * GIB
    cpus = quota.cpus if profile.cpus is None else profile.cpus
    memory = quota_memory if profile.memory_bytes is None else profile.memory_bytes
    over = []
    if cpus > quota.cpus:
        over.append(f"{cpus:g} CPUs (quota {quota.cpus:g})")
    if memory > quota_memory:
        over.append(f"{memory} bytes of memory (quota {quota_memory})")
    if profile.gpus > quota.gpus:
        over.append(f"{profile.gpus} GPUs (quota {quota.gpus})")
    if over:
        raise WorkspaceRefused(
            f"profile {profile.name} asks for more than {grant} grants: "
            f"{', '.join(over)}; pick a smaller profile or {grant.more}")
    # tmpfs pages count against the memory limit anyway; a bigger /tmp would only mislead.
    return Limits(cpus=cpus, memory_bytes=memory, pids=profile.pids, gpus=profile.gpus,
                  tmp_bytes=min(profile.tmp_bytes, memory))


def render_spec(
    source: DataPermit | Sandbox,
    user: str,
    profile: Profile,
    *,
    uid: int,
    dataset_paths: Mapping[str, Path],
    workspace_root: Path,
    now: datetime,
    extra_env: Mapping[str, str] | None = None,
) -> WorkspaceSpec:
    """The one spec of ``user``'s workspace in the project of a permit or a sandbox (pure;
    raises to refuse).

    ``dataset_paths`` maps each ``dataset@version`` the grant pins to its published folder;
    ``uid`` is the project's dedicated host uid (also its gid). The environment holds no secret:
    only the names below and what the caller passes in ``extra_env`` (e.g. a scoped token).
    """
    grant = grant_of(source, user, now)
    if uid < MIN_SANDBOX_UID:
        raise WorkspaceRefused(f"uid {uid} is a system uid: a project needs a dedicated uid "
                               f"of at least {MIN_SANDBOX_UID}")
    mounts = []
    for pinned in sorted(grant.datasets, key=lambda d: d.dataset):
        key = str(pinned)
        if key not in dataset_paths:
            raise WorkspaceRefused(f"no published folder for {key} of {grant}: "
                                   f"`tre datasets show {pinned.dataset}` lists its versions")
        mounts.append(Mount(dataset_paths[key], f"{DATA_ROOT}/{pinned.dataset}", read_only=True))
    mounts.append(Mount(project_workspace(workspace_root, grant.project), WORKSPACE,
                        read_only=False))
    mounts.append(Mount(user_outputs(workspace_root, grant.project, user), OUTPUTS,
                        read_only=False))
    env = {
        "HOME": WORKSPACE,
        # Jupyter reads the user's config folder at every start, and config there could switch
        # the server's download blocking off: never the shared workspace, always a fresh folder.
        # JupyterLab's own settings and layouts stay the user's, in the workspace.
        "JUPYTER_CONFIG_DIR": SERVER_JUPYTER_CONFIG,
        "JUPYTERLAB_SETTINGS_DIR": f"{WORKSPACE}/.jupyter/lab/user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": f"{WORKSPACE}/.jupyter/lab/workspaces",
        "LANG": "C.UTF-8",
        "PATH": SANDBOX_PATH,
        "TRE_DATA": DATA_ROOT,
        "TRE_OUTPUTS": OUTPUTS,
        f"TRE_{grant.kind.upper()}": grant.id,
        "TRE_PROJECT": grant.project,
        "TRE_USER": user,
        "USER": user,
    }
    for name, value in (extra_env or {}).items():
        if name in env:
            raise InvalidInput(f"environment variable {name} is set by tre: do not pass it")
        env[name] = value
    if API_URL_ENV in env and profile.network is not NetworkMode.HUB_ONLY:
        raise InvalidInput(f"{API_URL_ENV} given to a workspace with network "
                           f"{profile.network.value}, which cannot reach the API: only hub-only "
                           "servers get it")
    return WorkspaceSpec(
        name=f"{grant.project}-{user}",
        project=grant.project,
        user=user,
        uid=uid,
        gid=uid,
        mounts=tuple(mounts),
        limits=_limits(grant, profile),
        env=tuple(sorted(env.items())),
        workdir=WORKSPACE,
        network=profile.network,
        labels=((f"tre.{grant.kind}", grant.id), ("tre.profile", profile.name),
                ("tre.project", grant.project), ("tre.user", user)),
    )


def server_spec(spawner: str, spec: WorkspaceSpec | None) -> WorkspaceSpec:
    """The spec a notebook-server spawner may start: made by the hub's pre-spawn check, hub-only."""
    if spec is None:
        raise SandboxUnavailable(
            f"{spawner} has no workspace spec: use the hub's TRESpawner "
            f"(TRESpawnerMixin mixed into {spawner}), whose pre-spawn check makes it")
    if spec.network is not NetworkMode.HUB_ONLY:
        raise SandboxUnavailable(f"{spec.name}: a notebook server needs network hub-only "
                                 f"(profile gives {spec.network.value})")
    return spec
