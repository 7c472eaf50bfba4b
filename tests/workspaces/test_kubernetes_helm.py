"""The Zero to JupyterHub values lock workspace pods down and wire in tre's spawner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

VALUES = Path(__file__).parents[2] / "deploy" / "helm" / "values.yaml"


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


def test_singleuser_egress_is_the_hub_only() -> None:
    policy = values()["singleuser"]["networkPolicy"]
    assert policy == {
        "enabled": True, "ingress": [], "egress": [],
        "egressAllowRules": {"cloudMetadataServer": False, "dnsPortsCloudMetadataServer": False,
                             "dnsPortsKubeSystemNamespace": False, "dnsPortsPrivateIPs": False,
                             "nonPrivateIPs": False, "privateIPs": False},
        "interNamespaceAccessLabels": "ignore", "allowedIngressPorts": []}


def test_singleuser_adds_nothing_the_spawner_would_refuse() -> None:
    singleuser = values()["singleuser"]
    assert {k: singleuser[k] for k in ("uid", "fsGid", "allowPrivilegeEscalation",
                                       "serviceAccountName", "extraPodConfig",
                                       "initContainers", "extraContainers")} == {
        "uid": 65534, "fsGid": None, "allowPrivilegeEscalation": False,
        "serviceAccountName": None, "extraPodConfig": {}, "initContainers": [],
        "extraContainers": []}
    assert singleuser["cloudMetadata"] == {"blockWithIptables": False}
    assert singleuser["storage"] == {"type": "none", "extraVolumes": [],
                                     "extraVolumeMounts": []}
    assert singleuser["image"]["pullPolicy"] == "Never"


def test_hub_uses_tres_spawner_and_reaches_the_hub_by_ip() -> None:
    config = values()["hub"]["extraConfig"]["00-tre-spawner"]
    compile(config, "00-tre-spawner", "exec")
    assert "class TRESpawner(TRESpawnerMixin, TREKubeSpawner):" in config
    assert "from tre.workspaces.kubernetes import TREKubeSpawner" in config
    assert "c.JupyterHub.spawner_class = TRESpawner" in config
    assert "os.environ['HUB_SERVICE_HOST']" in config
    assert values()["prePuller"] == {"hook": {"enabled": False},
                                     "continuous": {"enabled": False}}
