"""SME sandboxes: created over synthetic data only, closed for good, checked at every use."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from factories import audit_trail, form, issue_permit, seed_dataset, seed_users
from tre.db.datasets import Dataset
from tre.db.sandbox_schema import SandboxRow
from tre.domain.roles import Role
from tre.domain.sandboxes import Sandbox, SandboxStatus
from tre.domain.values import Compute, DatasetRef
from tre.errors import InvalidInput, InvalidStateTransition, NotFound, PolicyDenied
from tre.services import applications, catalogue, sandboxes, users
from tre.services.node import Node

QUOTA = Compute(cpus=2, memory_gb=4, gpus=0)
TWIN = "lung-ct-synth"


@pytest.fixture
def world(any_node: Node) -> Node:
    """Users (sam and sue are SME developers), real lung-ct@v1 and its synthetic twin."""
    seed_users(any_node)
    for name in ("sam", "sue"):
        users.add_user(any_node, "host:test", name, [Role.SME_DEVELOPER])
    seed_dataset(any_node)
    catalogue.register_version(
        any_node, "dan", Dataset(TWIN, "Lung CT twin", "", "tre synth", True, any_node.clock()),
        "v1", f"/srv/tre/datasets/{TWIN}/v1")
    return any_node


def _create(node: Node, *datasets: str, actor: str = "sam", name: str = "proto",
            members: tuple[str, ...] = ("sue",)) -> Sandbox:
    return sandboxes.create_sandbox(node, actor, name,
                                    tuple(DatasetRef.parse(d) for d in datasets or (TWIN,)),
                                    members, QUOTA)


def test_sme_creates_a_sandbox_over_a_synthetic_twin(world: Node) -> None:
    created = _create(world)
    assert (created.name, created.owner, created.members, [str(d) for d in created.datasets],
            created.compute, created.status) == (
        "proto", "sam", ("sue",), [f"{TWIN}@v1"], QUOTA, SandboxStatus.ACTIVE)
    assert sandboxes.get_sandbox(world, "proto") == created
    assert sandboxes.list_sandboxes(world, user="sue") == [created]
    assert sandboxes.list_sandboxes(world, user="bob") == []
    assert audit_trail(world)[-1] == ("sam", "sandbox.create", "proto", "allowed")


def test_real_dataset_is_refused_at_creation_and_audited(world: Node) -> None:
    with pytest.raises(PolicyDenied) as denied:
        _create(world, TWIN, "lung-ct@v1")
    assert denied.value.reasons == [
        "lung-ct@v1 is not synthetic: real data needs a data permit (tre permits apply)"]
    assert sandboxes.list_sandboxes(world) == []
    assert audit_trail(world)[-1] == ("sam", "sandbox.create", "proto", "denied")


def test_roles_unknown_data_and_taken_names_are_refused(world: Node) -> None:
    with pytest.raises(PolicyDenied, match="olga needs the sme_developer or researcher role"):
        _create(world, actor="olga")
    with pytest.raises(NotFound, match="unknown dataset 'liver-ct'"):
        _create(world, "liver-ct@v1")
    with pytest.raises(NotFound, match=f"dataset '{TWIN}' has no version 'v9'"):
        _create(world, f"{TWIN}@v9")
    with pytest.raises(InvalidInput, match=r"unknown member\(s\) zed"):
        _create(world, members=("zed",))
    issue_permit(world)
    with pytest.raises(InvalidInput, match="'lung-ai' is the project of permit permit-"):
        _create(world, name="lung-ai")
    _create(world)
    with pytest.raises(InvalidInput, match="sandbox 'proto' exists already"):
        _create(world, actor="sue")
    with pytest.raises(InvalidInput, match="'proto' is the name of an SME sandbox"):
        applications.apply(world, "alice", form("proto"))


def test_an_open_application_holds_its_project_name_against_a_sandbox(world: Node) -> None:
    """Else the application, once approved, would issue a permit for the sandbox's name."""
    pending = applications.apply(world, "alice", form("tumour-seg"))
    with pytest.raises(InvalidInput, match=f"'tumour-seg' is the project of open application "
                       f"{pending.id}: pick another sandbox name"):
        _create(world, name="tumour-seg")
    applications.withdraw(world, "alice", pending.id)
    assert _create(world, name="tumour-seg").name == "tumour-seg"  # free again


def test_access_allows_members_only_and_is_audited(world: Node) -> None:
    _create(world)
    outcomes = {user: sandboxes.check_access(world, user, "proto")[1]
                for user in ("sam", "sue", "bob")}
    assert {u: (d.allow, d.reasons) for u, d in outcomes.items()} == {
        "sam": (True, ("sam may use sandbox proto (synthetic data only)",)),
        "sue": (True, ("sue may use sandbox proto (synthetic data only)",)),
        "bob": (False, ("bob is not the owner or a member of sandbox proto",)),
    }
    assert audit_trail(world)[-3:] == [("sam", "sandbox.access", "proto", "allowed"),
                                       ("sue", "sandbox.access", "proto", "allowed"),
                                       ("bob", "sandbox.access", "proto", "denied")]


def test_tampered_dataset_list_is_refused_at_use(world: Node) -> None:
    _create(world)
    with world.db.transaction() as session:
        session.execute(update(SandboxRow).where(SandboxRow.name == "proto").values(
            datasets=[{"dataset": TWIN, "version": "v1"}, {"dataset": "lung-ct", "version": "v1"}]))
    _sandbox, decision = sandboxes.check_access(world, "sam", "proto")
    assert (decision.allow, decision.reasons) == (False, (
        "lung-ct@v1 is not synthetic: real data needs a data permit (tre permits apply)",))


def test_close_is_final_and_owner_only(world: Node) -> None:
    _create(world)
    with pytest.raises(InvalidInput, match="only the owner sam may close sandbox proto"):
        sandboxes.close_sandbox(world, "sue", "proto", "done")
    assert audit_trail(world)[-1] == ("sue", "sandbox.close", "proto", "refused")
    assert sandboxes.get_sandbox(world, "proto").status is SandboxStatus.ACTIVE
    closed = sandboxes.close_sandbox(world, "sam", "proto", "prototype finished")
    assert (closed.status, closed.status_reason) == (SandboxStatus.CLOSED, "prototype finished")
    assert sandboxes.get_sandbox(world, "proto") == closed
    with pytest.raises(InvalidStateTransition, match="from closed to closed"):
        sandboxes.close_sandbox(world, "sam", "proto", "again")
    assert sandboxes.check_access(world, "sam", "proto")[1].reasons == (
        "sandbox proto is closed",)
    assert audit_trail(world)[-2:] == [("sam", "sandbox.close", "proto", "allowed"),
                                       ("sam", "sandbox.access", "proto", "denied")]
