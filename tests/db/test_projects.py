"""One statement says what holds a project name, on SQLite and PostgreSQL."""

from __future__ import annotations

from factories import form, issue_permit, seed_dataset, seed_users
from tre.db import projects
from tre.services import applications
from tre.services.node import Node


def test_claims_name_the_permit_and_the_open_applications(any_node: Node) -> None:
    seed_users(any_node)
    seed_dataset(any_node)
    with any_node.db.driver_transaction() as tx:
        assert projects.claims(tx, "lung-ai") == projects.ProjectClaims(None, None, ())
    permit = issue_permit(any_node)
    amendment = applications.amend(any_node, "alice", permit.id, justification="more time",
                                   remove_members=("bob",))
    other = applications.apply(any_node, "alice", form("other"))
    applications.withdraw(any_node, "alice", other.id)
    with any_node.db.driver_transaction() as tx:
        assert projects.claims(tx, permit.project) == projects.ProjectClaims(
            permit.id, None, (amendment.id,))
        assert projects.claims(tx, "other") == projects.ProjectClaims(None, None, ())
