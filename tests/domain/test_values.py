"""Parsing and validating what users type: members, dataset references, periods, compute."""

from __future__ import annotations

from datetime import timedelta

import pytest

from factories import T0
from tre.domain.purposes import Purpose
from tre.domain.roles import ProjectRole
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.errors import InvalidInput


def test_member_parse() -> None:
    assert Member.parse("bob") == Member("bob", ProjectRole.RESEARCHER)
    assert Member.parse("bob:observer") == Member("bob", ProjectRole.OBSERVER)


@pytest.mark.parametrize(("text", "message"), [
    ("bob:boss", "unknown project role 'boss'"),
    ("Bob", "invalid user name 'Bob'"),
    ("../etc", "invalid user name"),
    ("", "invalid user name"),
])
def test_member_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Member.parse(text)


def test_dataset_ref_parse() -> None:
    assert DatasetRef.parse("lung-ct") == DatasetRef("lung-ct", None)
    assert DatasetRef.parse("lung-ct@v1") == DatasetRef("lung-ct", "v1")
    assert str(DatasetRef("lung-ct", "v1")) == "lung-ct@v1"


@pytest.mark.parametrize("text", ["lung-ct@", "Lung_CT", "../x", "a"])
def test_dataset_ref_rejects(text: str) -> None:
    with pytest.raises(InvalidInput):
        DatasetRef.parse(text)


def test_period_rejects_inverted_and_empty() -> None:
    with pytest.raises(InvalidInput, match=r"ends .* before it starts"):
        Period(T0, T0 - timedelta(days=1))
    with pytest.raises(InvalidInput, match="before it starts"):
        Period(T0, T0)


def test_period_needs_time_zone() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        Period(T0.replace(tzinfo=None), T0 + timedelta(days=1))


def test_period_is_half_open() -> None:
    period = Period(T0, T0 + timedelta(days=1))
    assert period.contains(T0)
    assert not period.contains(period.end)


@pytest.mark.parametrize("kwargs", [{"cpus": 0}, {"memory_gb": 0}, {"gpus": -1},
                                    {"hours": 0}, {"gpus": 65}])
def test_compute_bounds(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        Compute(**kwargs)  # type: ignore[arg-type]


def test_purposes_cover_ehds_article_53() -> None:
    assert {p.value for p in Purpose} == {
        "public_interest", "policy_making", "statistics", "education", "scientific_research",
        "development_and_innovation", "personalised_medicine"}
    assert all(p.label for p in Purpose)
