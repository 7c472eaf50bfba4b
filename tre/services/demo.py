"""Seed a demo node: one user per role, a demo dataset, one approved project and an SME sandbox
over a synthetic twin of the dataset (idempotent)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tre.db import datasets as dataset_store
from tre.db import permits as permit_store
from tre.db import users as user_store
from tre.domain.permits import DataPermit
from tre.domain.purposes import Purpose
from tre.domain.roles import Role
from tre.domain.sandboxes import Sandbox
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.errors import NotFound
from tre.imaging.ingest import IngestRequest, ingest
from tre.imaging.pseudonyms import PseudonymKey, load_key
from tre.imaging.synth import generate, generate_from_plan
from tre.imaging.synth_like import profile
from tre.services import applications, sandboxes, users
from tre.services.node import Node

DEMO_USERS: dict[str, tuple[Role, ...]] = {
    "alice": (Role.RESEARCHER,),
    "olga": (Role.HDAB_OFFICER,),
    "oscar": (Role.OUTPUT_CHECKER,),
    "sam": (Role.SME_DEVELOPER,),
    "dana": (Role.DATA_HOLDER,),
}
DEMO_DATASET = "demo-lung-ct"
DEMO_PROJECT = "demo-lung-ai"
DEMO_TWIN = "demo-lung-ct-twin"
DEMO_SANDBOX = "demo-sandbox"
DEMO_SANDBOX_COMPUTE = Compute(2, 4, 0, 100)


@dataclass(frozen=True)
class DemoWorld:
    """What the demo seeded."""

    users: dict[str, tuple[Role, ...]]
    dataset: str
    permit: DataPermit
    sandbox: Sandbox


def seed(node: Node, home: Path) -> DemoWorld:
    """Create what is missing of the demo world; running it twice changes nothing."""
    with node.db.reading() as session:
        missing = user_store.missing(session, set(DEMO_USERS))
    for name in sorted(missing):
        users.add_user(node, "host:demo", name, list(DEMO_USERS[name]))
    version = _demo_dataset(node, home)
    with node.db.reading() as session:
        permit = permit_store.for_project(session, DEMO_PROJECT)
    if permit is None:
        now = node.clock()
        form = applications.ApplicationForm(
            project=DEMO_PROJECT, title="Demo: lung nodule detection",
            purpose=Purpose.SCIENTIFIC_RESEARCH,
            description="Train a nodule detector on the demo dataset.",
            organisation="tre demo", members=(Member.parse("alice:lead"),),
            datasets=(DatasetRef(DEMO_DATASET, version),),
            compute=Compute(2, 8, 0, 100), period=Period(now, now + timedelta(days=90)))
        app = applications.apply(node, "alice", form)
        permit = applications.approve(node, "olga", app.id, applications.Approval(
            "demo project", conditions=("results leave only through the airlock",)))
    return DemoWorld(DEMO_USERS, DEMO_DATASET, permit, _demo_sandbox(node, home, version))


def _demo_sandbox(node: Node, home: Path, version: str) -> Sandbox:
    """sam's sandbox over a synthetic twin (`tre synth --like`) of the demo dataset."""
    existing = sandboxes.find_sandbox(node, DEMO_SANDBOX)
    if existing is not None:
        return existing
    with node.db.reading() as session:
        published = {v.version: v for v in dataset_store.versions(session, DEMO_DATASET)}
        twins = dataset_store.versions(session, DEMO_TWIN)
    if twins:
        twin_version = twins[0].version
    else:
        source = home / "demo-twin-source"
        if not (source / "dicom").is_dir():
            generate_from_plan(source, profile(Path(published[version].path)), seed=11)
        twin_version = ingest(node, home, "dana", IngestRequest(
            source=source / "dicom", dataset=DEMO_TWIN, key=_demo_key(home),
            clinical=source / "clinical.csv", jobs=1,
            title=f"Synthetic twin of {DEMO_DATASET}@{version}",
            data_holder="tre demo hospital", synthetic=True)).version
    return sandboxes.create_sandbox(node, "sam", DEMO_SANDBOX,
                                    (DatasetRef(DEMO_TWIN, twin_version),), (),
                                    DEMO_SANDBOX_COMPUTE)


def _demo_key(home: Path) -> PseudonymKey:
    """The demo data holder's pseudonym key, made on first use."""
    key_file = home / "keys" / "demo-pseudonym.key"
    if not key_file.exists():
        # The data holder's key: in a real node it never lives beside the database.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return load_key(key_file)


def _demo_dataset(node: Node, home: Path) -> str:
    """The demo dataset's version: synthetic CT put through the real de-identifying ingestion."""
    with node.db.reading() as session:
        try:
            dataset_store.get(session, DEMO_DATASET)
            return dataset_store.versions(session, DEMO_DATASET)[0].version
        except (NotFound, IndexError):
            pass
    source = home / "demo-source"
    if not (source / "dicom").is_dir():
        generate(source, patients=4, studies=1, series=1, slices=24, size=128, seed=7)
    result = ingest(node, home, "dana", IngestRequest(
        source=source / "dicom", dataset=DEMO_DATASET, key=_demo_key(home),
        clinical=source / "clinical.csv", jobs=1, title="Demo lung CT (synthetic)",
        data_holder="tre demo hospital", synthetic=True))
    return result.version
