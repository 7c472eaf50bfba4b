"""The catalogue through the HTTP layer: every user reads it, no host path shows."""

from __future__ import annotations

from datetime import timedelta

from api.conftest import BASE, Api

from factories import Clock, audit_trail
from tre.db.datasets import Dataset
from tre.services import catalogue

DATASETS = f"{BASE}/datasets"


def test_every_user_reads_the_catalogue_without_host_paths(api: Api, clock: Clock) -> None:
    clock.now += timedelta(days=30)
    catalogue.register_version(
        api.node, "dan", Dataset("lung-ct", "Lung CT", "", "Hospital A", False,
                                 api.node.clock()), "v2", "/srv/tre/datasets/lung-ct/v2")
    before = audit_trail(api.node)
    answer = api.client.get(DATASETS, headers=api.as_("carol"))
    assert answer.status_code == 200, answer.text
    [lung] = answer.json()
    assert (lung["id"], lung["title"], lung["data_holder"], lung["synthetic"]) == (
        "lung-ct", "Lung CT", "Hospital A", False)
    assert [v["version"] for v in lung["versions"]] == ["v2", "v1"]
    assert "/srv/tre" not in answer.text
    assert "path" not in answer.text
    one = api.client.get(f"{DATASETS}/lung-ct", headers=api.as_("olga"))
    assert one.json() == lung
    assert audit_trail(api.node) == before  # reading the catalogue writes nothing


def test_an_unknown_dataset_is_a_404_and_strangers_a_401(api: Api) -> None:
    missing = api.client.get(f"{DATASETS}/liver-ct", headers=api.as_("alice"))
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "unknown dataset 'liver-ct': `tre datasets list` lists the catalogue")
    assert api.client.get(DATASETS).status_code == 401
