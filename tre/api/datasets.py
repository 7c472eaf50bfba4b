"""``/datasets``: the node's catalogue, to choose what to apply for (metadata, never data).

Any user of the node may read it, as EHDS dataset catalogues are public; where a version lies
on the host is not shown.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from tre.api.access import Seeing
from tre.api.deps import State
from tre.api.egress import ERRORS
from tre.db.datasets import Dataset, DatasetVersion
from tre.services import catalogue

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=ERRORS)


class VersionOut(BaseModel):
    """A published version: name it (``dataset@version``) in an application to pin it."""

    version: str
    published: datetime


class DatasetOut(BaseModel):
    """A catalogue entry and its versions, newest first."""

    id: str
    title: str
    data_holder: str
    synthetic: bool
    """Synthetic data (for trying out code), not patients'."""
    description: str
    created_at: datetime
    versions: list[VersionOut]

    @classmethod
    def of(cls, dataset: Dataset, versions: list[DatasetVersion]) -> DatasetOut:
        """From the catalogue's dataset and versions."""
        return cls(id=dataset.id, title=dataset.title, description=dataset.description,
                   data_holder=dataset.data_holder, synthetic=dataset.synthetic,
                   created_at=dataset.created_at,
                   versions=[VersionOut(version=v.version, published=v.created_at)
                             for v in versions])


@router.get("", summary="The catalogue: every dataset and its versions")
async def list_datasets(api: State, _who: Seeing) -> list[DatasetOut]:
    """Datasets by id, each with its published versions, newest first."""
    found = await api.run(catalogue.list_datasets, api.node)
    return [DatasetOut.of(d, v) for d, v in found]


@router.get("/{dataset_id}", summary="One dataset and its versions")
async def get_dataset(dataset_id: str, api: State, _who: Seeing) -> DatasetOut:
    """The catalogue entry (404 when there is none)."""
    dataset, versions = await api.run(catalogue.get_dataset, api.node, dataset_id)
    return DatasetOut.of(dataset, versions)
