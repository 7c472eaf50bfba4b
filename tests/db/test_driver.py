"""Driver transactions commit, roll back and fail like ORM sessions, on both backends.

(SQLite locking, for both kinds of transaction: tests/db/test_database.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from tre.db import applications as app_store
from tre.db import datasets as dataset_store
from tre.db import permits as permit_store
from tre.db import projects as project_store
from tre.db import sandboxes as sandbox_store
from tre.db import users as user_store
from tre.db.database import Database
from tre.db.datasets import Dataset, DatasetVersion
from tre.db.driver import DriverTransaction, Transaction
from tre.db.prepared import Prepared
from tre.db.schema import ApplicationRow, PermitRow, UserRow
from tre.domain.applications import ApplicationKind, ApplicationStatus, DataAccessApplication
from tre.domain.permits import DataPermit, EgressProfile, PermitStatus, PinnedDataset
from tre.domain.purposes import Purpose
from tre.domain.roles import ProjectRole, Role
from tre.domain.sandboxes import Sandbox, SandboxStatus
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.errors import NotFound, StorageError

USERS = cast(Table, UserRow.__table__)
APPS = cast(Table, ApplicationRow.__table__)
PERMITS = cast(Table, PermitRow.__table__)
WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
ADD_USER = Prepared(insert(USERS), columns=USERS.c.keys())
NAMES = Prepared(select(USERS.c.name).where(USERS.c.name != bindparam("not_")))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, busy_timeout_s=0.2)
    database.migrate()
    yield database
    database.dispose()


def user(name: str) -> dict[str, Any]:
    return {"name": name, "display_name": name.title(), "created_at": WHEN}


def names(db: Database) -> list[str]:
    with db.reading() as session:
        return sorted(session.scalars(select(USERS.c.name)))


def test_commits_on_success_and_runs_hooks_just_before_in_the_same_transaction(
        db: Database) -> None:
    seen: list[list[str]] = []

    def hook(tx: DriverTransaction) -> None:
        ADD_USER.execute(tx, user("hooked"))
        seen.append([r.name for r in NAMES.rows(tx, {"not_": ""})])

    with db.driver_transaction() as tx:
        ADD_USER.execute(tx, user("alice"))
        tx.before_commit(hook)
        tx.before_commit(hook)  # once, however often registered
    assert seen == [["alice", "hooked"]]
    assert names(db) == ["alice", "hooked"]


def test_any_error_rolls_back_everything_and_skips_the_hooks(db: Database) -> None:
    hooked: list[DriverTransaction] = []

    def add_then_fail() -> None:
        with db.driver_transaction() as tx:
            ADD_USER.execute(tx, user("alice"))
            tx.before_commit(hooked.append)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        add_then_fail()
    assert hooked == []
    assert names(db) == []
    with db.driver_transaction() as tx:  # the connection went back to the pool usable
        ADD_USER.execute(tx, user("bob"))
    assert names(db) == ["bob"]


def test_driver_errors_are_storage_errors_and_roll_back(db: Database) -> None:
    with db.driver_transaction() as tx:
        ADD_USER.execute(tx, user("alice"))

    def add_bob_and_alice_again() -> None:
        with db.driver_transaction() as tx:
            ADD_USER.execute(tx, user("bob"))
            ADD_USER.execute(tx, user("alice"))  # primary key taken

    with pytest.raises(StorageError, match="database error on "):
        add_bob_and_alice_again()
    assert names(db) == ["alice"]


# --- the stores read and write the same rows in either kind of transaction ----------------------


APPLICATION = DataAccessApplication(
    id="app-1", project="lung-ai", title="Nodule détection", purpose=Purpose.SCIENTIFIC_RESEARCH,
    description="", applicant="alice", organisation="Uni X",
    members=(Member("alice", ProjectRole.LEAD), Member("bob", ProjectRole.RESEARCHER)),
    datasets=(DatasetRef("lung-ct", None),), compute=Compute(4, 16, 1, 200),
    period=Period(WHEN, WHEN.replace(year=2027)), created_at=WHEN,
    status=ApplicationStatus.SUBMITTED, kind=ApplicationKind.NEW)


def permit(suffix: str) -> DataPermit:
    return DataPermit(
        id=f"permit-{suffix}", project=f"lung-{suffix}", application=f"app-{suffix}",
        issued_by="olga", issued_at=WHEN, decision_reason="sound", conditions=("publish code",),
        period=APPLICATION.period, datasets=(PinnedDataset("lung-ct", "v1"),),
        members=APPLICATION.members, compute=APPLICATION.compute, egress=EgressProfile.AGGREGATE)


def seed(session: Session) -> None:
    for name, roles in (("alice", {Role.RESEARCHER}), ("bob", set()),
                        ("olga", {Role.HDAB_OFFICER, Role.RESEARCHER})):
        user_store.add(session, user_store.User(name, name.title(), frozenset(roles)), WHEN)
    dataset_store.upsert_dataset(session, Dataset("lung-ct", "Lung CT", "", "A", True, WHEN))
    for version, created in (("v1", WHEN), ("v2", WHEN.replace(year=2027))):
        dataset_store.add_version(session, DatasetVersion("lung-ct", version, "/x", created))
    sandbox_store.add(session, Sandbox(
        id="sbx-1", name="try-it", owner="alice", members=("bob",),
        datasets=(PinnedDataset("lung-ct", "v1"),), compute=Compute(1, 2, 0, 10),
        created_at=WHEN, status=SandboxStatus.ACTIVE, status_reason=None))


def write(tx: Transaction, suffix: str) -> None:
    app = replace(APPLICATION, id=f"app-{suffix}", project=f"lung-{suffix}")
    app_store.add(tx, app, WHEN)
    app_store.save(tx, app.moved_to(ApplicationStatus.UNDER_REVIEW).decided(
        ApplicationStatus.APPROVED, "olga", "sound", ("publish code",)), WHEN)
    issued = permit(suffix)
    permit_store.add(tx, issued, WHEN)
    permit_store.save(tx, issued.moved_to(PermitStatus.SUSPENDED, WHEN, "audit"), WHEN)


def read(tx: Transaction, suffix: str) -> tuple[Any, ...]:
    return (
        user_store.get(tx, "olga"), user_store.missing(tx, {"alice", "zed", "bob"}),
        dataset_store.get(tx, "lung-ct"), dataset_store.versions(tx, "lung-ct"),
        dataset_store.resolve(tx, DatasetRef("lung-ct", None)),
        dataset_store.resolve(tx, DatasetRef("lung-ct", "v1")),
        sandbox_store.find(tx, "try-it"), sandbox_store.find(tx, "nope"),
        app_store.get(tx, f"app-{suffix}"), project_store.claims(tx, f"lung-{suffix}"),
        permit_store.get(tx, f"permit-{suffix}"), permit_store.for_project(tx, f"lung-{suffix}"),
    )


def stored(session: Session, suffix: str) -> list[dict[str, Any]]:
    """The application and permit rows of ``suffix``, without the columns naming it."""
    found = []
    for table in (APPS, PERMITS):
        row = session.execute(select(table).where(table.c.id.endswith(suffix))).one()
        found.append({k: v for k, v in row._asdict().items()
                      if k not in {"id", "project", "application"}})
    return found


def test_stores_write_and_read_the_same_rows_in_a_session_or_a_driver_transaction(
        db: Database) -> None:
    with db.transaction() as session:
        seed(session)
        write(session, "orm")
    with db.driver_transaction() as tx:
        write(tx, "driver")
    with db.reading() as session:
        assert stored(session, "orm") == stored(session, "driver")
        by_session = {suffix: read(session, suffix) for suffix in ("orm", "driver")}
    with db.driver_transaction() as tx:
        by_driver = {suffix: read(tx, suffix) for suffix in ("orm", "driver")}
    assert by_driver == by_session
    olga = user_store.User("olga", "Olga", frozenset({Role.HDAB_OFFICER, Role.RESEARCHER}))
    sandbox = Sandbox(id="sbx-1", name="try-it", owner="alice", members=("bob",),
                      datasets=(PinnedDataset("lung-ct", "v1"),), compute=Compute(1, 2, 0, 10),
                      created_at=WHEN)
    for suffix, got in by_driver.items():
        assert got[:8] == (
            olga, ["zed"], Dataset("lung-ct", "Lung CT", "", "A", True, WHEN),
            [DatasetVersion("lung-ct", "v2", "/x", WHEN.replace(year=2027)),
             DatasetVersion("lung-ct", "v1", "/x", WHEN)],
            PinnedDataset("lung-ct", "v2"), PinnedDataset("lung-ct", "v1"), sandbox, None)
        assert got[8] == replace(
            APPLICATION, id=f"app-{suffix}", project=f"lung-{suffix}",
            status=ApplicationStatus.APPROVED, decided_by="olga", decision_reason="sound",
            conditions=("publish code",))
        assert got[9] == project_store.ProjectClaims(f"permit-{suffix}", None, ())
        assert got[10] == got[11] == replace(
            permit(suffix), status=PermitStatus.SUSPENDED,
            status_reason="audit")
    with db.driver_transaction() as tx, pytest.raises(NotFound, match="tre datasets list"):
        dataset_store.get(tx, "nope")
