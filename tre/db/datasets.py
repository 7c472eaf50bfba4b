"""Store and look up datasets and their published versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tre.db.driver import Transaction
from tre.db.prepared import Prepared
from tre.db.schema import DatasetRow, DatasetVersionRow
from tre.domain.permits import PinnedDataset
from tre.domain.values import DatasetRef
from tre.errors import NotFound


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One published version of a dataset and where it lies on disk."""

    dataset: str
    version: str
    path: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Dataset:
    """A catalogue entry."""

    id: str
    title: str
    description: str
    data_holder: str
    synthetic: bool
    created_at: datetime


def upsert_dataset(session: Session, dataset: Dataset) -> None:
    """Create the dataset if it is new (an existing entry keeps its metadata)."""
    if session.get(DatasetRow, dataset.id) is None:
        session.add(DatasetRow(id=dataset.id, title=dataset.title,
                               description=dataset.description,
                               data_holder=dataset.data_holder, synthetic=dataset.synthetic,
                               created_at=dataset.created_at))
        session.flush()


def add_version(session: Session, version: DatasetVersion) -> None:
    """Record a newly published version."""
    session.add(DatasetVersionRow(dataset=version.dataset, version=version.version,
                                  path=version.path, created_at=version.created_at))
    session.flush()


_GET = Prepared(select(DatasetRow.__table__).where(DatasetRow.id == bindparam("dataset_id")))


def get(session: Transaction, dataset_id: str) -> Dataset:
    """The dataset ``dataset_id``, or NotFound saying how to list them."""
    row = _GET.first(session, {"dataset_id": dataset_id})
    if row is None:
        raise NotFound(f"unknown dataset {dataset_id!r}: `tre datasets list` lists the catalogue")
    return Dataset(row.id, row.title, row.description, row.data_holder, row.synthetic,
                   row.created_at)


_VERSIONS = Prepared(select(DatasetVersionRow.__table__)
                     .where(DatasetVersionRow.dataset == bindparam("dataset_id"))
                     .order_by(DatasetVersionRow.created_at.desc(), DatasetVersionRow.version))


def versions(session: Transaction, dataset_id: str) -> list[DatasetVersion]:
    """Published versions of a dataset, newest first."""
    rows = _VERSIONS.rows(session, {"dataset_id": dataset_id})
    return [DatasetVersion(r.dataset, r.version, r.path, r.created_at) for r in rows]


def list_all(session: Session) -> list[Dataset]:
    """Every dataset, by id."""
    return [Dataset(r.id, r.title, r.description, r.data_holder, r.synthetic, r.created_at)
            for r in session.scalars(select(DatasetRow).order_by(DatasetRow.id))]


def resolve(session: Transaction, ref: DatasetRef) -> PinnedDataset:
    """Pin ``ref`` to a published version: its own, or the newest if it names none."""
    published = versions(session, ref.dataset)
    if not published:
        get(session, ref.dataset)  # unknown dataset: NotFound naming it
    if ref.version is None:
        if not published:
            raise NotFound(f"dataset {ref.dataset!r} has no published version yet")
        return PinnedDataset(ref.dataset, published[0].version)
    if not any(v.version == ref.version for v in published):
        raise NotFound(f"dataset {ref.dataset!r} has no version {ref.version!r}: "
                       f"`tre datasets show {ref.dataset}` lists its versions")
    return PinnedDataset(ref.dataset, ref.version)
