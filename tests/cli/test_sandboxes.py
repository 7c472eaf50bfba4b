"""`tre sandboxes` as users run it: synthetic data only, clear refusals and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli.test_cli import Run, home, tre  # noqa: F401 - fixtures

from tre.db.datasets import Dataset
from tre.domain.roles import Role
from tre.services import catalogue, users
from tre.services.bootstrap import initialise, open_node
from tre.settings import Settings


@pytest.fixture
def sme(tre: Run, home: Path, tmp_path: Path) -> Run:  # noqa: F811 - fixtures
    """sam and sue (SME developers), olga (officer), real lung-ct@v1 and its synthetic twin."""
    settings = Settings(home=home)
    initialise(settings).dispose()
    node = open_node(settings)
    try:
        for name, roles in [("sam", [Role.SME_DEVELOPER]), ("sue", [Role.SME_DEVELOPER]),
                            ("olga", [Role.HDAB_OFFICER])]:
            users.add_user(node, "host:test", name, roles)
        for dataset, synthetic in [("lung-ct", False), ("lung-ct-synth", True)]:
            (tmp_path / dataset).mkdir()
            catalogue.register_version(
                node, "host:test", Dataset(dataset, dataset, "", "H", synthetic, node.clock()),
                "v1", str(tmp_path / dataset))
    finally:
        node.close()
    return tre


def _create(run: Run, *datasets: str, actor: str = "sam", ok: bool = True) -> Any:
    args = [a for d in datasets for a in ("--dataset", d)]
    return run("sandboxes", "create", "proto", "--as", actor, *args, "--member", "sue",
               "--json", ok=ok, extra_env={"TRE_SANDBOX_CPUS": "1.5"})


def test_create_list_show_close(sme: Run) -> None:
    created = json.loads(_create(sme, "lung-ct-synth@v1").stdout)
    assert {k: created[k] for k in ("name", "owner", "members", "datasets", "compute", "status")
            } == {"name": "proto", "owner": "sam", "members": ["sue"],
                  "datasets": ["lung-ct-synth@v1"], "status": "active",
                  "compute": {"cpus": 1.5, "memory_gb": 4, "gpus": 0, "hours": 100}}
    assert json.loads(sme("sandboxes", "list", "--json").stdout) == [created]
    assert json.loads(sme("sandboxes", "show", "proto", "--json").stdout) == created
    assert "proto" in sme("sandboxes", "list").stdout
    closed = sme("sandboxes", "close", "proto", "--as", "sam", "--reason", "done")
    assert closed.stdout == "sandbox proto: closed\n"
    again = sme("sandboxes", "close", "proto", "--as", "sam", ok=False)
    assert (again.returncode, again.stderr.strip()) == (
        4, "error: cannot change sandbox status from closed to closed")
    assert json.loads(sme("audit", "verify", "--json").stdout)["ok"] is True


def test_real_dataset_is_refused_with_the_reason(sme: Run) -> None:
    refused = _create(sme, "lung-ct-synth@v1", "lung-ct@v1", ok=False)
    assert (refused.returncode, refused.stdout, refused.stderr.strip()) == (
        5, "", "error: denied by policy sandbox_create: lung-ct@v1 is not synthetic: real data "
        "needs a data permit (tre permits apply)")
    assert json.loads(sme("sandboxes", "list", "--json").stdout) == []


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--dataset", "liver-ct@v1"), 3,
     "unknown dataset 'liver-ct': `tre datasets list` lists the catalogue"),
    (("--dataset", "lung-ct-synth@v7"), 3, "dataset 'lung-ct-synth' has no version 'v7'"),
    (("--dataset", "lung-ct-synth@"), 2, "empty version in 'lung-ct-synth@'"),
    (("--dataset", "lung-ct-synth", "--as", "olga"), 5,
     "olga needs the sme_developer or researcher role to create a sandbox"),
])
def test_bad_input_is_refused(sme: Run, args: tuple[str, ...], code: int, message: str) -> None:
    actor = () if "--as" in args else ("--as", "sam")
    result = sme("sandboxes", "create", "proto", *actor, *args, ok=False)
    assert result.returncode == code
    assert message in result.stderr


def test_unknown_and_closed_sandboxes(sme: Run) -> None:
    missing = sme("sandboxes", "show", "nope", ok=False)
    assert (missing.returncode, missing.stderr.strip()) == (
        3, "error: no sandbox 'nope': `tre sandboxes list` lists them")
    _create(sme, "lung-ct-synth")
    sme("sandboxes", "close", "proto", "--as", "sam")
    reused = _create(sme, "lung-ct-synth", ok=False)
    assert (reused.returncode, reused.stderr.strip()) == (
        2, "error: sandbox 'proto' exists already: pick another name (`tre sandboxes list` "
        "lists them)")


def test_demo_seeds_a_sandbox_over_a_synthetic_twin_once(tre: Run) -> None:  # noqa: F811
    tre("up", "--demo", "--once")
    tre("up", "--demo", "--once")
    seeded = json.loads(tre("sandboxes", "list", "--json").stdout)
    assert [(s["name"], s["owner"], s["status"]) for s in seeded] == [
        ("demo-sandbox", "sam", "active")]
    [twin] = seeded[0]["datasets"]
    dataset = json.loads(tre("datasets", "show", twin.partition("@")[0], "--json").stdout)
    assert dataset["synthetic"] is True
