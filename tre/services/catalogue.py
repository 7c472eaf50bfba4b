"""The dataset catalogue: register published versions and look them up."""

from __future__ import annotations

from tre.audit import log as audit
from tre.db import datasets as dataset_store
from tre.db.datasets import Dataset, DatasetVersion
from tre.domain.values import check_slug
from tre.services.node import Node


def register_version(node: Node, actor: str, dataset: Dataset, version: str,
                     path: str) -> DatasetVersion:
    """Record a published dataset version (ingestion calls this once it is on disk)."""
    check_slug("dataset", dataset.id)
    with node.unit_of_work() as session:
        now = node.clock()
        dataset_store.upsert_dataset(session, dataset)
        published = DatasetVersion(dataset.id, version, path, now)
        dataset_store.add_version(session, published)
        audit.record(session, time=now, actor=actor, action="dataset.publish",
                     object_type="dataset", object_id=f"{dataset.id}@{version}",
                     outcome="allowed", request_id=audit.new_request_id(),
                     details={"path": path, "synthetic": dataset.synthetic})
    return published


def list_datasets(node: Node) -> list[tuple[Dataset, list[DatasetVersion]]]:
    """Every dataset with its versions, newest first."""
    with node.db.reading() as session:
        return [(d, dataset_store.versions(session, d.id))
                for d in dataset_store.list_all(session)]


def get_dataset(node: Node, dataset_id: str) -> tuple[Dataset, list[DatasetVersion]]:
    """One dataset with its versions, newest first; NotFound saying how to list them."""
    with node.db.reading() as session:
        return dataset_store.get(session, dataset_id), dataset_store.versions(session, dataset_id)
