"""The Kubernetes backend: render a WorkspaceSpec as a pod manifest and its NetworkPolicies.

``render_pod`` and ``render_network_policies`` are pure and return plain Kubernetes objects
(camelCase dicts, as ``kubectl apply`` takes them). ``TREKubeSpawner`` makes KubeSpawner build
the same pod. Volumes (docs/deployment.md): by default each mount is a ``hostPath`` of the spec's
host folder (single node, or every node mounting the same shared filesystem at the same path);
with ``claims`` each mount is a PersistentVolumeClaim (dataset versions: one read-only claim
each; workspace and outputs: a claim per project with a sub-path, sized by
``render_project_claim`` to the project's disk quota).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client.models import V1EnvVar
from kubespawner import KubeSpawner  # type: ignore[import-untyped]

from tre.errors import InvalidInput
from tre.workspaces.errors import SandboxUnavailable
from tre.workspaces.spec import NetworkMode, WorkspaceSpec, server_spec

CONTAINER = "notebook"
"""KubeSpawner's container name, kept so its log and exec helpers still work."""
SERVER_PORT = 8888
HUB_PORT = 8081
GPU_RESOURCE = "nvidia.com/gpu"
SANDBOX_TMP = "/tmp"  # noqa: S108 - the pod's own memory-backed emptyDir, not the node's
RUNTIME_DIR = "/tmp/jupyter-runtime"  # noqa: S108 - inside the pod's own emptyDir
WORKSPACE_LABEL = "tre.workspace"
NETWORK_LABEL = "tre.network"
HUB_POD = {"app": "jupyterhub", "component": "hub"}
PROXY_POD = {"app": "jupyterhub", "component": "proxy"}
"""Labels of the Zero to JupyterHub chart's hub and proxy pods."""
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?")
RESTRICTED = {"seccompProfile": {"type": "RuntimeDefault"}}


@dataclass(frozen=True, slots=True)
class Claim:
    """A PersistentVolumeClaim (and a folder in it) standing for one host folder of the spec."""

    name: str
    sub_path: str | None = None


def volume_name(target: str) -> str:
    """A DNS-label volume name for a mount at ``target``: ``/data/lung-ct`` -> ``data-lung-ct``."""
    name = re.sub(r"[^a-z0-9-]+", "-", target.strip("/").lower()).strip("-")[:63].strip("-")
    if not name:
        raise InvalidInput(f"mount target {target!r} gives no volume name")
    return name


def _quantity_cpu(cpus: float) -> str:
    millis = round(cpus * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _labels(spec: WorkspaceSpec) -> dict[str, str]:
    labels = {**dict(spec.labels), WORKSPACE_LABEL: "true", NETWORK_LABEL: spec.network.value}
    bad = {k: v for k, v in labels.items() if not _LABEL_VALUE.fullmatch(v)}
    if bad:
        raise InvalidInput(f"not valid Kubernetes label values: {bad}; use user and project "
                           "names of letters, digits, '-', '_' and '.' (at most 63)")
    return labels


def _volume(spec: WorkspaceSpec, index: int, claims: Mapping[Path, Claim] | None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    mount = spec.mounts[index]
    name = volume_name(mount.target)
    volume_mount: dict[str, Any] = {"name": name, "mountPath": mount.target,
                                    "readOnly": mount.read_only}
    if claims is None:
        volume = {"name": name, "hostPath": {"path": str(mount.source), "type": "Directory"}}
        return volume, volume_mount
    claim = claims.get(mount.source)
    if claim is None:
        raise SandboxUnavailable(
            f"no PersistentVolumeClaim for {mount.source} (mounted at {mount.target}) of "
            f"{spec.name}: add it to the claims map (docs/deployment.md)")
    volume = {"name": name, "persistentVolumeClaim": {"claimName": claim.name,
                                                      "readOnly": mount.read_only}}
    if claim.sub_path:
        volume_mount["subPath"] = claim.sub_path
    return volume, volume_mount


def container_security_context(spec: WorkspaceSpec) -> dict[str, Any]:
    """The container's securityContext: the project uid, nothing to escalate to, read-only root."""
    return {"runAsNonRoot": True, "runAsUser": spec.uid, "runAsGroup": spec.gid,
            "allowPrivilegeEscalation": False, "privileged": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}, **RESTRICTED}


def pod_security_context(spec: WorkspaceSpec) -> dict[str, Any]:
    """The pod's securityContext (no fsGroup: it would chown the datasets on every start)."""
    return {"runAsNonRoot": True, "runAsUser": spec.uid, "runAsGroup": spec.gid, **RESTRICTED}


def resources(spec: WorkspaceSpec) -> dict[str, dict[str, str]]:
    """Requests equal to limits (Guaranteed QoS); GPUs as whole ``nvidia.com/gpu`` devices."""
    amounts = {"cpu": _quantity_cpu(spec.limits.cpus), "memory": str(spec.limits.memory_bytes)}
    limits = dict(amounts)
    if spec.limits.gpus:
        limits[GPU_RESOURCE] = str(spec.limits.gpus)
    return {"requests": amounts, "limits": limits}


def render_pod(spec: WorkspaceSpec, *, image: str, command: Sequence[str] = (),
               claims: Mapping[Path, Claim] | None = None) -> dict[str, Any]:
    """The pod of ``spec`` (pure): hostPath volumes, or PVCs when ``claims`` maps every source.

    pids are limited by the kubelet (``podPidsLimit``), not per pod: see docs/deployment.md.
    """
    pairs = [_volume(spec, i, claims) for i in range(len(spec.mounts))]
    volumes = [v for v, _ in pairs]
    mounts = [m for _, m in pairs]
    volumes.append({"name": "tmp", "emptyDir": {"medium": "Memory",
                                                "sizeLimit": str(spec.limits.tmp_bytes)}})
    mounts.append({"name": "tmp", "mountPath": SANDBOX_TMP})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "workingDir": spec.workdir,
        "env": [{"name": k, "value": v} for k, v in spec.env],
        "ports": [{"name": "notebook-port", "containerPort": SERVER_PORT}],
        "resources": resources(spec),
        "securityContext": container_security_context(spec),
        "volumeMounts": mounts,
    }
    if command:
        container["command"] = list(command)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"tre-{volume_name(spec.name)}", "labels": _labels(spec)},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "hostNetwork": False,
            "hostPID": False,
            "hostIPC": False,
            # a job runs once; a server is restarted if it crashes (as KubeSpawner does)
            "restartPolicy": "Never" if spec.network is NetworkMode.NONE else "OnFailure",
            "securityContext": pod_security_context(spec),
            "containers": [container],
            "volumes": volumes,
        },
    }


def render_network_policies(*, allow_dns: bool = False) -> list[dict[str, Any]]:
    """NetworkPolicies of workspace pods (pure): hub-only ones reach the hub API and nothing else;
    ``none`` ones reach nothing. Ingress: only the hub and proxy, to the server port.

    ``allow_dns`` adds kube-dns (port 53): needed only when the hub is reached by name. DNS
    forwards queries outside, so it is a way out for data: prefer the hub's ClusterIP.
    """
    hub_only_egress: list[dict[str, Any]] = [{
        "to": [{"podSelector": {"matchLabels": dict(HUB_POD)}}],
        "ports": [{"protocol": "TCP", "port": HUB_PORT}],
    }]
    if allow_dns:
        hub_only_egress.append({
            "to": [{"namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        })
    ingress = [{
        "from": [{"podSelector": {"matchLabels": dict(HUB_POD)}},
                 {"podSelector": {"matchLabels": dict(PROXY_POD)}}],
        "ports": [{"protocol": "TCP", "port": SERVER_PORT}],
    }]

    def policy(name: str, mode: NetworkMode, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name},
            "spec": {"podSelector": {"matchLabels": {WORKSPACE_LABEL: "true",
                                                     NETWORK_LABEL: mode.value}},
                     "policyTypes": ["Ingress", "Egress"], **spec},
        }

    return [policy("tre-workspaces-hub-only", NetworkMode.HUB_ONLY,
                   {"ingress": ingress, "egress": hub_only_egress}),
            policy("tre-workspaces-none", NetworkMode.NONE, {"ingress": [], "egress": []})]


def project_claim_name(project: str) -> str:
    """The name of ``project``'s PersistentVolumeClaim (its workspace and outputs)."""
    return f"tre-project-{volume_name(project)}"


def render_project_claim(project: str, size_bytes: int, *, storage_class: str | None = None
                         ) -> dict[str, Any]:
    """The PersistentVolumeClaim of ``project``'s workspace and outputs (pure), of the size of
    its disk quota (``TRE_WORKSPACES_QUOTA``). ``ReadWriteMany``: the members' pods share it,
    perhaps on several nodes. The storage class must enforce the size (block volumes, CephFS
    quotas do; hostPath and some NFS provisioners do not): see docs/workspaces.md.
    """
    spec: dict[str, Any] = {"accessModes": ["ReadWriteMany"],
                            "resources": {"requests": {"storage": str(size_bytes)}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": project_claim_name(project),
                         "labels": {"tre.project": project, WORKSPACE_LABEL: "true"}},
            "spec": spec}


# -- the JupyterHub spawner ----------------------------------------------------------------------

_REFUSED = ("init_containers", "extra_containers", "extra_container_config", "privileged")
_REFUSED_POD_KEYS = frozenset({"hostNetwork", "hostPID", "hostIPC", "volumes", "containers",
                               "initContainers", "securityContext", "serviceAccountName",
                               "automountServiceAccountToken", "shareProcessNamespace"})


class TREKubeSpawner(KubeSpawner):  # type: ignore[misc]
    """KubeSpawner whose pod carries exactly the spec's mounts, limits and security settings.

    The spec is ``self.workspace_spec``, which TRESpawnerMixin (tre.hub) sets in its pre-spawn
    check. Before KubeSpawner builds the pod, the uid/gid, resources, volumes, security
    contexts, labels and working folder are set from ``render_pod``, and the container's
    environment is replaced by exactly the spec's; settings that could add a
    privileged or extra container, or change the pod's isolation, are refused.
    """

    # KubeSpawner's traits, typed for mypy (annotations only: the traits stay KubeSpawner's).
    extra_labels: dict[str, str]
    extra_pod_config: dict[str, Any]

    workspace_spec: WorkspaceSpec | None = None

    def workspace_claims(self) -> Mapping[Path, Claim] | None:
        """PVCs standing for the spec's host folders; None (default) mounts them as hostPath."""
        return None

    def check_config(self) -> None:
        """Refuse settings that could weaken the pod (fail closed, naming them)."""
        changed = [name for name in _REFUSED if getattr(self, name)]
        changed += [f"extra_pod_config.{k}" for k in sorted(set(self.extra_pod_config)
                                                             & _REFUSED_POD_KEYS)]
        if changed:
            raise SandboxUnavailable(
                f"TREKubeSpawner refuses {', '.join(changed)}: containers, volumes and security "
                "settings come only from the workspace spec (docs/deployment.md)")

    async def get_pod_manifest(self) -> Any:
        """KubeSpawner's pod, built from the traits ``render_pod`` of the spec sets."""
        self.check_config()
        spec = server_spec("TREKubeSpawner", self.workspace_spec)
        pod = render_pod(spec, image=self.image, claims=self.workspace_claims())
        container = pod["spec"]["containers"][0]
        no_groups: list[int] = []
        self.uid, self.gid, self.fs_gid = spec.uid, spec.gid, None
        self.supplemental_gids = no_groups
        self.allow_privilege_escalation = False
        self.container_security_context = container["securityContext"]
        self.pod_security_context = pod["spec"]["securityContext"]
        self.automount_service_account_token = False
        limits = container["resources"]["limits"]
        self.cpu_limit = self.cpu_guarantee = spec.limits.cpus
        self.mem_limit = self.mem_guarantee = spec.limits.memory_bytes
        self.extra_resource_limits = {k: v for k, v in limits.items()
                                      if k not in ("cpu", "memory")}
        no_guarantees: dict[str, str] = {}  # extended resources: the limit is the request
        self.extra_resource_guarantees = no_guarantees
        self.volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        self.volume_mounts = {m["name"]: m for m in container["volumeMounts"]}
        self.working_dir = spec.workdir
        self.extra_labels = {**self.extra_labels, **pod["metadata"]["labels"]}
        self.extra_pod_config = {**self.extra_pod_config, "enableServiceLinks": False}
        manifest = await super().get_pod_manifest()
        # Exactly the spec's variables (the mixin put the hub's in it; not the ones it drops).
        manifest.spec.containers[0].env = [V1EnvVar(name=e["name"], value=e["value"])
                                           for e in container["env"]]
        return manifest

    def get_env(self) -> dict[str, str]:
        """The hub's variables for the server; Jupyter's runtime files go to the private /tmp."""
        env: dict[str, str] = super().get_env()
        env["JUPYTER_RUNTIME_DIR"] = RUNTIME_DIR
        return env
