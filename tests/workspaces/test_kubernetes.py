"""The Kubernetes backend only renders the spec: whole pods and NetworkPolicies, no cluster."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.config import kube_config

from tre.errors import InvalidInput
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.kubernetes import (
    Claim,
    TREKubeSpawner,
    render_network_policies,
    render_pod,
)
from tre.workspaces.spec import GIB, Limits, Mount, NetworkMode, WorkspaceSpec

SPEC = WorkspaceSpec(
    name="lung-ai-bob", project="lung-ai", user="bob", uid=200000, gid=200000,
    mounts=(Mount(Path("/srv/ds/lung-ct/v1"), "/data/lung-ct", True),
            Mount(Path("/srv/ws/lung-ai/workspace"), "/workspace", False),
            Mount(Path("/srv/ws/lung-ai/outputs/bob"), "/outputs", False)),
    limits=Limits(cpus=2.5, memory_bytes=4 * GIB, pids=256, gpus=1, tmp_bytes=GIB),
    env=(("HOME", "/workspace"), ("PATH", "/usr/local/bin:/usr/bin:/bin"),
         ("TRE_PROJECT", "lung-ai")),
    workdir="/workspace", network=NetworkMode.HUB_ONLY,
    labels=(("tre.permit", "permit-1"), ("tre.project", "lung-ai"), ("tre.user", "bob")))

SECURITY = {"runAsNonRoot": True, "runAsUser": 200000, "runAsGroup": 200000,
            "allowPrivilegeEscalation": False, "privileged": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 200000, "runAsGroup": 200000,
                "seccompProfile": {"type": "RuntimeDefault"}}
LABELS = {"tre.permit": "permit-1", "tre.project": "lung-ai", "tre.user": "bob",
          "tre.workspace": "true", "tre.network": "hub-only"}
ENV = [{"name": "HOME", "value": "/workspace"},
       {"name": "PATH", "value": "/usr/local/bin:/usr/bin:/bin"},
       {"name": "TRE_PROJECT", "value": "lung-ai"}]
RESOURCES = {"requests": {"cpu": "2500m", "memory": str(4 * GIB)},
             "limits": {"cpu": "2500m", "memory": str(4 * GIB), "nvidia.com/gpu": "1"}}
TMP_VOLUME = {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": str(GIB)}}


def test_pod_with_host_paths() -> None:
    assert render_pod(SPEC, image="tre-singleuser:1") == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "tre-lung-ai-bob", "labels": LABELS},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "hostNetwork": False, "hostPID": False, "hostIPC": False,
            "restartPolicy": "OnFailure",
            "securityContext": POD_SECURITY,
            "containers": [{
                "name": "notebook",
                "image": "tre-singleuser:1",
                "workingDir": "/workspace",
                "env": ENV,
                "ports": [{"name": "notebook-port", "containerPort": 8888}],
                "resources": RESOURCES,
                "securityContext": SECURITY,
                "volumeMounts": [
                    {"name": "data-lung-ct", "mountPath": "/data/lung-ct", "readOnly": True},
                    {"name": "workspace", "mountPath": "/workspace", "readOnly": False},
                    {"name": "outputs", "mountPath": "/outputs", "readOnly": False},
                    {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [
                {"name": "data-lung-ct",
                 "hostPath": {"path": "/srv/ds/lung-ct/v1", "type": "Directory"}},
                {"name": "workspace",
                 "hostPath": {"path": "/srv/ws/lung-ai/workspace", "type": "Directory"}},
                {"name": "outputs",
                 "hostPath": {"path": "/srv/ws/lung-ai/outputs/bob", "type": "Directory"}},
                TMP_VOLUME],
        },
    }


CLAIMS = {Path("/srv/ds/lung-ct/v1"): Claim("tre-data-lung-ct-v1"),
          Path("/srv/ws/lung-ai/workspace"): Claim("tre-project-lung-ai", "workspace"),
          Path("/srv/ws/lung-ai/outputs/bob"): Claim("tre-project-lung-ai", "outputs/bob")}


def test_pod_with_claims_and_a_command() -> None:
    spec = replace(SPEC, limits=Limits(cpus=1, memory_bytes=GIB, pids=64, gpus=0,
                                       tmp_bytes=GIB // 2), network=NetworkMode.NONE)
    pod = render_pod(spec, image="tre-singleuser:1", command=["python3", "train.py"],
                     claims=CLAIMS)
    assert pod["metadata"]["labels"] == {**LABELS, "tre.network": "none"}
    assert pod["spec"]["containers"][0]["command"] == ["python3", "train.py"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "1", "memory": str(GIB)},
        "limits": {"cpu": "1", "memory": str(GIB)}}
    assert pod["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "data-lung-ct", "mountPath": "/data/lung-ct", "readOnly": True},
        {"name": "workspace", "mountPath": "/workspace", "readOnly": False,
         "subPath": "workspace"},
        {"name": "outputs", "mountPath": "/outputs", "readOnly": False,
         "subPath": "outputs/bob"},
        {"name": "tmp", "mountPath": "/tmp"}]
    assert pod["spec"]["volumes"] == [
        {"name": "data-lung-ct",
         "persistentVolumeClaim": {"claimName": "tre-data-lung-ct-v1", "readOnly": True}},
        {"name": "workspace",
         "persistentVolumeClaim": {"claimName": "tre-project-lung-ai", "readOnly": False}},
        {"name": "outputs",
         "persistentVolumeClaim": {"claimName": "tre-project-lung-ai", "readOnly": False}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": str(GIB // 2)}}]


def test_a_source_without_a_claim_is_refused() -> None:
    with pytest.raises(SandboxUnavailable, match="no PersistentVolumeClaim for "
                       "/srv/ws/lung-ai/outputs/bob \\(mounted at /outputs\\)"):
        render_pod(SPEC, image="x", claims={k: v for k, v in CLAIMS.items()
                                            if "outputs" not in str(k)})


def test_label_values_kubernetes_refuses_are_refused_here() -> None:
    spec = replace(SPEC, labels=(("tre.user", "bob@hospital.example"),))
    with pytest.raises(InvalidInput, match="not valid Kubernetes label values"):
        render_pod(spec, image="x")


def test_network_policies() -> None:
    hub = {"podSelector": {"matchLabels": {"app": "jupyterhub", "component": "hub"}}}
    proxy = {"podSelector": {"matchLabels": {"app": "jupyterhub", "component": "proxy"}}}
    ingress = [{"from": [hub, proxy], "ports": [{"protocol": "TCP", "port": 8888}]}]
    assert render_network_policies() == [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "tre-workspaces-hub-only"},
         "spec": {"podSelector": {"matchLabels": {"tre.workspace": "true",
                                                  "tre.network": "hub-only"}},
                  "policyTypes": ["Ingress", "Egress"],
                  "ingress": ingress,
                  "egress": [{"to": [hub], "ports": [{"protocol": "TCP", "port": 8081}]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "tre-workspaces-none"},
         "spec": {"podSelector": {"matchLabels": {"tre.workspace": "true",
                                                  "tre.network": "none"}},
                  "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}},
    ]
    with_dns = render_network_policies(allow_dns=True)[0]["spec"]["egress"]
    assert with_dns[1] == {
        "to": [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def test_the_shipped_network_policy_file_is_the_rendered_one() -> None:
    shipped = list(yaml.safe_load_all(
        (Path(__file__).parents[2] / "deploy" / "kubernetes" / "networkpolicy.yaml").read_text()))
    assert shipped == render_network_policies()


# -- KubeSpawner, built offline with a fake kubeconfig -------------------------------------------

FAKE_KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "fake",
    "clusters": [{"name": "fake", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "fake", "user": {"token": "not-a-real-token"}}],
    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                              "namespace": "tre"}}],
}


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(FAKE_KUBECONFIG))
    # KUBECONFIG is read once at import: point the loader's default at the fake file instead.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return path


HUB = SimpleNamespace(public_host="", url="/hub/", base_url="/", api_url="http://hub:8081/hub/api")


async def _manifest(spec: WorkspaceSpec | None = SPEC, **config: Any) -> dict[str, Any]:
    spawner = TREKubeSpawner(user=SimpleNamespace(name="bob", id=7, url="/user/bob/"), hub=HUB,
                             image="tre-singleuser:1", namespace="tre", **config)
    spawner.api_token = "hub-token"
    spawner.workspace_spec = spec  # what TRESpawnerMixin's pre-spawn check sets
    try:
        pod = await spawner.get_pod_manifest()
        rendered: dict[str, Any] = spawner.api.api_client.sanitize_for_serialization(pod)
        return rendered
    finally:
        await spawner.api.api_client.close()


def test_kubespawner_pod_carries_the_spec(kubeconfig: Path) -> None:
    pod = asyncio.run(_manifest())
    assert pod["metadata"].pop("labels") == {
        **LABELS, "app": "jupyterhub", "app.kubernetes.io/component": "singleuser-server",
        "app.kubernetes.io/managed-by": "kubespawner", "app.kubernetes.io/name": "jupyterhub",
        "component": "singleuser-server", "heritage": "jupyterhub",
        "hub.jupyter.org/servername": "", "hub.jupyter.org/username": "bob"}
    pod["metadata"].pop("annotations")  # jupyterhub and kubespawner versions
    assert pod == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "jupyter-bob"},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [{
                # exactly the spec's variables: not the hub's own (JPY_API_TOKEN...)
                "env": ENV,
                "image": "tre-singleuser:1",
                "lifecycle": {},
                "name": "notebook",
                "ports": [{"containerPort": 8888, "name": "notebook-port"}],
                # KubeSpawner writes quantities as numbers: the same amounts as render_pod
                "resources": {"limits": {"cpu": 2.5, "memory": 4 * GIB, "nvidia.com/gpu": "1"},
                              "requests": {"cpu": 2.5, "memory": 4 * GIB}},
                "securityContext": SECURITY,
                "volumeMounts": [
                    {"mountPath": "/data/lung-ct", "name": "data-lung-ct", "readOnly": True},
                    {"mountPath": "/outputs", "name": "outputs", "readOnly": False},
                    {"mountPath": "/tmp", "name": "tmp"},
                    {"mountPath": "/workspace", "name": "workspace", "readOnly": False}],
                "workingDir": "/workspace",
            }],
            "imagePullSecrets": [],
            "restartPolicy": "OnFailure",
            "securityContext": POD_SECURITY,
            "volumes": [
                {"hostPath": {"path": "/srv/ds/lung-ct/v1", "type": "Directory"},
                 "name": "data-lung-ct"},
                {"hostPath": {"path": "/srv/ws/lung-ai/outputs/bob", "type": "Directory"},
                 "name": "outputs"},
                TMP_VOLUME,
                {"hostPath": {"path": "/srv/ws/lung-ai/workspace", "type": "Directory"},
                 "name": "workspace"}],
        },
    }


@pytest.mark.parametrize(("config", "refused"), [
    ({"init_containers": [{"name": "x", "image": "busybox",
                           "securityContext": {"runAsUser": 0}}]}, "init_containers"),
    ({"extra_containers": [{"name": "sidecar", "image": "x"}]}, "extra_containers"),
    ({"privileged": True}, "privileged"),
    ({"extra_container_config": {"securityContext": {"privileged": True}}},
     "extra_container_config"),
    ({"extra_pod_config": {"hostNetwork": True}}, "extra_pod_config.hostNetwork"),
])
def test_settings_that_could_weaken_the_pod_are_refused(
        kubeconfig: Path, config: dict[str, Any], refused: str) -> None:
    with pytest.raises(SandboxUnavailable, match=f"TREKubeSpawner refuses {refused}"):
        asyncio.run(_manifest(**config))


def test_a_server_needs_the_hub_only_network(kubeconfig: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="needs network hub-only"):
        asyncio.run(_manifest(replace(SPEC, network=NetworkMode.NONE)))


def test_without_the_mixins_spec_it_refuses(kubeconfig: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="has no workspace spec"):
        asyncio.run(_manifest(None))


def test_jupyter_runtime_files_stay_in_the_private_tmp(kubeconfig: Path) -> None:
    async def env() -> dict[str, str]:
        spawner = TREKubeSpawner(user=SimpleNamespace(name="bob", id=7, url="/user/bob/"),
                                 hub=HUB, namespace="tre")
        try:
            return spawner.get_env()  # type: ignore[no-any-return]
        finally:
            await spawner.api.api_client.close()

    assert asyncio.run(env())["JUPYTER_RUNTIME_DIR"] == "/tmp/jupyter-runtime"
