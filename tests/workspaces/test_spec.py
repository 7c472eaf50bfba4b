"""The workspace spec is a pure function of (grant, user, profile): whole-dict equality."""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from factories import T0
from tre.domain.permits import DataPermit, PermitStatus, PinnedDataset
from tre.domain.roles import ProjectRole
from tre.domain.sandboxes import Sandbox, SandboxStatus
from tre.domain.values import Compute, Member, Period
from tre.errors import InvalidInput
from tre.workspaces.errors import WorkspaceRefused
from tre.workspaces.spec import GIB, NetworkMode, Profile, render_spec

ROOT = Path("/srv/tre/workspaces")
NOW = T0 + timedelta(days=1)


def permit(**changes: Any) -> DataPermit:
    base = DataPermit(
        id="permit-1", project="lung-ai", application="app-1", issued_by="olga",
        issued_at=T0, decision_reason="sound", conditions=(),
        period=Period(T0, T0 + timedelta(days=30)),
        datasets=(PinnedDataset("lung-ct", "v1"), PinnedDataset("breast-mg", "v3")),
        members=(Member("alice", ProjectRole.LEAD), Member("bob", ProjectRole.RESEARCHER),
                 Member("otto", ProjectRole.OBSERVER)),
        compute=Compute(cpus=4, memory_gb=16, gpus=1, hours=200))
    return replace(base, **changes)


PATHS = {"lung-ct@v1": Path("/srv/tre/datasets/lung-ct/v1"),
         "breast-mg@v3": Path("/srv/tre/datasets/breast-mg/v3"),
         "brain-mr@v2": Path("/srv/tre/datasets/brain-mr/v2")}


def render(p: DataPermit, user: str = "bob", profile: Profile | None = None,
           **kw: Any) -> dict[str, Any]:
    return asdict(render_spec(p, user, profile or Profile(), uid=200000, dataset_paths=PATHS,
                              workspace_root=ROOT, now=NOW, **kw))


def env(project: str, user: str, permit_id: str, **extra: str) -> tuple[tuple[str, str], ...]:
    base = {"HOME": "/workspace", "JUPYTER_CONFIG_DIR": "/tmp/jupyter-config",
            "JUPYTERLAB_SETTINGS_DIR": "/workspace/.jupyter/lab/user-settings",
            "JUPYTERLAB_WORKSPACES_DIR": "/workspace/.jupyter/lab/workspaces",
            "LANG": "C.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin",
            "TRE_DATA": "/data", "TRE_OUTPUTS": "/outputs", "TRE_PERMIT": permit_id,
            "TRE_PROJECT": project, "TRE_USER": user, "USER": user, **extra}
    return tuple(sorted(base.items()))


def test_researcher_gets_each_pinned_version_read_only_and_the_whole_quota() -> None:
    assert render(permit()) == {
        "name": "lung-ai-bob", "project": "lung-ai", "user": "bob", "uid": 200000,
        "gid": 200000,
        "mounts": (
            {"source": Path("/srv/tre/datasets/breast-mg/v3"), "target": "/data/breast-mg",
             "read_only": True},
            {"source": Path("/srv/tre/datasets/lung-ct/v1"), "target": "/data/lung-ct",
             "read_only": True},
            {"source": ROOT / "lung-ai" / "workspace", "target": "/workspace",
             "read_only": False},
            {"source": ROOT / "lung-ai" / "outputs" / "bob", "target": "/outputs",
             "read_only": False}),
        "limits": {"cpus": 4, "memory_bytes": 16 * GIB, "pids": 1024, "gpus": 0,
                   "tmp_bytes": GIB},
        "env": env("lung-ai", "bob", "permit-1"),
        "workdir": "/workspace",
        "network": NetworkMode.NONE,
        "labels": (("tre.permit", "permit-1"), ("tre.profile", "default"),
                   ("tre.project", "lung-ai"), ("tre.user", "bob")),
    }


def test_lead_with_a_smaller_gpu_profile_a_scoped_token_and_the_api() -> None:
    profile = Profile(name="gpu-small", cpus=2, memory_bytes=4 * GIB, gpus=1, pids=256,
                      tmp_bytes=8 * GIB, network=NetworkMode.HUB_ONLY)
    one = permit(project="brain-seg", id="permit-9",
                 datasets=(PinnedDataset("brain-mr", "v2"),))
    api = "http://127.0.0.1:8082/services/tre-api/"
    assert render(one, "alice", profile, extra_env={"JUPYTERHUB_API_TOKEN": "scoped",
                                                    "TRE_API_URL": api}) == {
        "name": "brain-seg-alice", "project": "brain-seg", "user": "alice", "uid": 200000,
        "gid": 200000,
        "mounts": (
            {"source": Path("/srv/tre/datasets/brain-mr/v2"), "target": "/data/brain-mr",
             "read_only": True},
            {"source": ROOT / "brain-seg" / "workspace", "target": "/workspace",
             "read_only": False},
            {"source": ROOT / "brain-seg" / "outputs" / "alice", "target": "/outputs",
             "read_only": False}),
        # /tmp is capped at the memory limit: tmpfs pages are charged to it anyway
        "limits": {"cpus": 2, "memory_bytes": 4 * GIB, "pids": 256, "gpus": 1,
                   "tmp_bytes": 4 * GIB},
        "env": env("brain-seg", "alice", "permit-9", JUPYTERHUB_API_TOKEN="scoped",
                   TRE_API_URL=api),
        "workdir": "/workspace",
        "network": NetworkMode.HUB_ONLY,
        "labels": (("tre.permit", "permit-9"), ("tre.profile", "gpu-small"),
                   ("tre.project", "brain-seg"), ("tre.user", "alice")),
    }


def test_two_members_share_the_workspace_but_not_their_outputs() -> None:
    bob, alice = render(permit(), "bob"), render(permit(), "alice")
    assert bob["mounts"][2] == alice["mounts"][2]
    assert (bob["mounts"][3]["source"], alice["mounts"][3]["source"]) == (
        ROOT / "lung-ai" / "outputs" / "bob", ROOT / "lung-ai" / "outputs" / "alice")


def test_same_inputs_same_spec() -> None:
    assert render(permit()) == render(permit())


@pytest.mark.parametrize(("user", "changes", "message"), [
    ("carol", {}, "carol is not a member of project lung-ai with a role that reads data"),
    ("otto", {}, "otto is not a member of project lung-ai with a role that reads data"),
    ("bob", {"status": PermitStatus.SUSPENDED}, "permit permit-1 of project lung-ai is suspended"),
    ("bob", {"status": PermitStatus.REVOKED}, "permit permit-1 of project lung-ai is revoked"),
    ("bob", {"period": Period(T0 - timedelta(days=9), T0)},
     "permit permit-1 of project lung-ai is expired"),
    ("bob", {"period": Period(NOW + timedelta(days=1), NOW + timedelta(days=9))},
     "permit permit-1 of project lung-ai starts 2026-12-03T09:00:00+00:00"),
])
def test_refused(user: str, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkspaceRefused, match="^" + re.escape(message)):
        render(permit(**changes), user)


@pytest.mark.parametrize(("profile", "message"), [
    (Profile(cpus=8), "8 CPUs \\(quota 4\\)"),
    (Profile(memory_bytes=17 * GIB), f"{17 * GIB} bytes of memory \\(quota {16 * GIB}\\)"),
    (Profile(gpus=2), "2 GPUs \\(quota 1\\)"),
])
def test_a_profile_never_gets_more_than_the_quota(profile: Profile, message: str) -> None:
    with pytest.raises(WorkspaceRefused, match="asks for more than permit permit-1 grants: "
                       + message + "; pick a smaller profile or apply for an amendment"):
        render(permit(), profile=profile)


def test_a_version_without_a_folder_is_refused_not_replaced() -> None:
    with pytest.raises(WorkspaceRefused, match="no published folder for breast-mg@v3"):
        render_spec(permit(), "bob", Profile(), uid=200000,
                    dataset_paths={"lung-ct@v1": PATHS["lung-ct@v1"],
                                   "breast-mg@v2": Path("/srv/other")},
                    workspace_root=ROOT, now=NOW)


def test_root_and_system_uids_are_refused() -> None:
    for uid in (0, 999):
        with pytest.raises(WorkspaceRefused, match=f"uid {uid} is a system uid"):
            render_spec(permit(), "bob", Profile(), uid=uid, dataset_paths=PATHS,
                        workspace_root=ROOT, now=NOW)


def test_extra_env_cannot_override_what_tre_sets() -> None:
    with pytest.raises(InvalidInput, match="TRE_PROJECT is set by tre"):
        render(permit(), extra_env={"TRE_PROJECT": "other"})


def test_only_hub_only_workspaces_get_the_api_url() -> None:
    with pytest.raises(InvalidInput, match="TRE_API_URL given to a workspace with network none"):
        render(permit(), extra_env={"TRE_API_URL": "http://127.0.0.1:8082/services/tre-api/"})


@pytest.mark.parametrize("bad", [{"cpus": 0}, {"memory_bytes": -1}, {"gpus": -1},
                                 {"pids": 8}, {"tmp_bytes": 0}])
def test_profile_values_are_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match=r"^profile default: "):
        Profile(**bad)


def sandbox(**changes: Any) -> Sandbox:
    base = Sandbox(id="sbx-1", name="nodule-proto", owner="sam", members=("sue",),
                   datasets=(PinnedDataset("lung-ct-synth", "v1"),),
                   compute=Compute(cpus=2, memory_gb=4, gpus=0), created_at=T0)
    return replace(base, **changes)


SANDBOX_PATHS = {"lung-ct-synth@v1": Path("/srv/tre/datasets/lung-ct-synth/v1")}


def test_a_sandbox_renders_like_a_project_with_its_synthetic_data_and_quota() -> None:
    spec = render_spec(sandbox(), "sue", Profile(network=NetworkMode.HUB_ONLY), uid=200001,
                       dataset_paths=SANDBOX_PATHS, workspace_root=ROOT, now=NOW)
    assert asdict(spec) == {
        "name": "nodule-proto-sue", "project": "nodule-proto", "user": "sue", "uid": 200001,
        "gid": 200001,
        "mounts": (
            {"source": Path("/srv/tre/datasets/lung-ct-synth/v1"),
             "target": "/data/lung-ct-synth", "read_only": True},
            {"source": ROOT / "nodule-proto" / "workspace", "target": "/workspace",
             "read_only": False},
            {"source": ROOT / "nodule-proto" / "outputs" / "sue", "target": "/outputs",
             "read_only": False}),
        "limits": {"cpus": 2, "memory_bytes": 4 * GIB, "pids": 1024, "gpus": 0,
                   "tmp_bytes": GIB},
        "env": tuple(sorted((k, v) if k != "TRE_PERMIT" else ("TRE_SANDBOX", "sbx-1")
                            for k, v in env("nodule-proto", "sue", "-"))),
        "workdir": "/workspace",
        "network": NetworkMode.HUB_ONLY,
        "labels": (("tre.sandbox", "sbx-1"), ("tre.profile", "default"),
                   ("tre.project", "nodule-proto"), ("tre.user", "sue")),
    }


@pytest.mark.parametrize(("user", "changes", "message"), [
    ("bob", {}, "bob is not the owner or a member of sandbox nodule-proto: ask its owner sam"),
    ("sam", {"status": SandboxStatus.CLOSED}, "sandbox nodule-proto is closed"),
])
def test_sandbox_refused(user: str, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkspaceRefused, match="^" + re.escape(message)):
        render_spec(sandbox(**changes), user, Profile(), uid=200001,
                    dataset_paths=SANDBOX_PATHS, workspace_root=ROOT, now=NOW)


def test_a_sandbox_profile_never_gets_more_than_its_quota() -> None:
    with pytest.raises(WorkspaceRefused, match=re.escape(
            "asks for more than sandbox sbx-1 grants: 1 GPUs (quota 0); pick a smaller "
            "profile or create a sandbox with a larger quota")):
        render_spec(sandbox(), "sam", Profile(gpus=1), uid=200001,
                    dataset_paths=SANDBOX_PATHS, workspace_root=ROOT, now=NOW)
