"""End to end: an SME logs in to a real `tre up` and works in a sandbox on synthetic data only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub.conftest import PASSWORD, RunningTre
from hub.hub_support import RUNTIME, log_in
from hub.test_hub_e2e import server_gone, server_ready, start, wait_for
from sqlalchemy import update

from factories import audit_trail
from tre.db.datasets import Dataset
from tre.db.sandbox_schema import SandboxRow
from tre.domain.roles import Role
from tre.domain.values import Compute, DatasetRef
from tre.hub.passwords import set_password
from tre.services import catalogue, sandboxes, users

pytestmark = pytest.mark.slow

QUOTA = Compute(cpus=1, memory_gb=2, gpus=0)


@pytest.fixture(scope="module")
def sme(tre_up: RunningTre) -> RunningTre:
    """sam (SME developer) with sandboxes proto and tampered over the synthetic lung-ct@v1
    (conftest publishes it synthetic), and a real dataset brain-mr@v1 in the catalogue."""
    node, home = tre_up.node, tre_up.log.parent / "home"
    users.add_user(node, "host:test", "sam", [Role.SME_DEVELOPER])
    set_password(home, "sam", PASSWORD)
    folder = home / "datasets" / "brain-mr" / "v1"
    folder.mkdir(parents=True)
    (folder / "scan-001.txt").write_text("real pixels\n")
    catalogue.register_version(node, "dan", Dataset("brain-mr", "Brain MR", "", "Hospital A",
                                                    False, node.clock()), "v1", str(folder))
    for name in ("proto", "tampered"):
        sandboxes.create_sandbox(node, "sam", name, (DatasetRef("lung-ct", "v1"),), (), QUOTA)
    with node.db.transaction() as session:  # what an attacker with the database could do
        session.execute(update(SandboxRow).where(SandboxRow.name == "tampered").values(
            datasets=[{"dataset": "lung-ct", "version": "v1"},
                      {"dataset": "brain-mr", "version": "v1"}]))
    return tre_up


def test_sme_works_in_a_sandbox_seeing_only_its_synthetic_data(sme: RunningTre) -> None:
    sam = log_in(sme.url, "sam", PASSWORD)
    with sam.browser() as browser:
        form = browser.get("/hub/spawn/sam/proto").text
    assert 'value="proto"' in form
    assert 'value="lung-ai"' not in form  # alice's permit project
    assert start(sam, "proto").status_code in (201, 202)
    wait_for(lambda: server_ready(sam, "proto"), "sam's sandbox server")
    with sam.api() as api:
        data = api.get("/user/sam/proto/api/contents/data").json()
        assert [d["name"] for d in data["content"]] == ["lung-ct"]
        assert api.delete("/hub/api/users/sam/servers/proto").status_code in (202, 204)
    wait_for(lambda: server_gone(sam, "proto"), "sam's server to stop")
    trail = [e for e in audit_trail(sme.node) if e[2] == "proto"]
    assert trail[-4:] == [("sam", "sandbox.access", "proto", "allowed"),
                          ("sam", "workspace.prepare", "proto", "allowed"),
                          ("sam", "workspace.spawn", "proto", "allowed"),
                          ("sam", "workspace.stop", "proto", "allowed")]


def test_a_tampered_sandbox_with_real_data_is_refused_at_spawn(sme: RunningTre) -> None:
    sam = log_in(sme.url, "sam", PASSWORD)
    answer = start(sam, "tampered")
    assert answer.status_code == 403
    assert answer.json()["message"] == (
        "denied by policy sandbox_access: brain-mr@v1 is not synthetic: real data needs a data "
        "permit (tre permits apply)")
    trail = [e for e in audit_trail(sme.node) if e[2] == "tampered"]
    assert trail[-3:] == [("sam", "sandbox.access", "tampered", "denied"),
                          ("sam", "workspace.prepare", "tampered", "denied"),
                          ("sam", "workspace.deny", "tampered", "denied")]


def _tre_run(sme: RunningTre, project: str, *command: str) -> subprocess.CompletedProcess[str]:
    root = sme.log.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update(TRE_HOME=str(root / "home"), TRE_WORKSPACES_ROOT=str(root / "ws"),
               TRE_WORKSPACES_RUNTIME=str(RUNTIME))
    return subprocess.run([sys.executable, "-m", "tre.cli.app", "run", "--project", project,
                           "--as", "sam", "--", *command], env=env, capture_output=True,
                          text=True, check=False, cwd=Path(__file__).parent, timeout=120)


def test_tre_run_in_a_sandbox_and_refusals(sme: RunningTre) -> None:
    done = _tre_run(sme, "proto", "sh", "-c", "ls /data; cat /data/lung-ct/scan-001.txt")
    assert (done.returncode, done.stdout) == (0, "lung-ct\npixels\n")
    tampered = _tre_run(sme, "tampered", "true")
    assert tampered.returncode == 125
    assert "brain-mr@v1 is not synthetic: real data needs a data permit" in tampered.stderr
    sandboxes.close_sandbox(sme.node, "sam", "proto", "prototype done")
    closed = _tre_run(sme, "proto", "true")
    assert closed.returncode == 125
    assert "sandbox proto is closed" in closed.stderr
