"""Embedded (regorus) and OPA server give the same Decision on hundreds of generated inputs."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tre.policy.bundle import default_policies_dir, load_bundle
from tre.policy.decisions import DECISIONS
from tre.policy.embedded import EmbeddedPolicyEngine, compile_engine, rule_path
from tre.policy.opa_server import OpaServerPolicyEngine

SEED = 20261122
CASES_PER_DECISION = 300
MISSING = object()

VALID_FROM = 1767225600.0
VALID_UNTIL = 1798761600.0
MEMBERS = [
    {"user": "alice", "role": "lead"},
    {"user": "bob", "role": "researcher"},
    {"user": "carol", "role": "observer"},
    {"user": "dave", "role": "auditor"},
]
GARBAGE: list[Any] = [None, 0, 1.5, True, "", [], {}, ["alice"], {"user": "alice"}]


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        child = doc.get(key)
        if not isinstance(child, dict):
            return  # the parent was replaced by garbage: nothing to change under it
        doc = child
    if value is MISSING:
        doc.pop(last, None)
    else:
        doc[last] = value


def _mutate(rng: random.Random, base: dict[str, Any],
            choices: dict[str, list[Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    for path in rng.sample(sorted(choices), k=rng.randint(0, 3)):
        value = rng.choice([*choices[path], rng.choice(GARBAGE), MISSING])
        _set(doc, path, value if value is MISSING else copy.deepcopy(value))
    return doc


def _permit() -> dict[str, Any]:
    return {
        "id": "P-1", "project": "lung-screening", "status": "active",
        "valid_from": VALID_FROM, "valid_until": VALID_UNTIL, "members": copy.deepcopy(MEMBERS),
        "datasets": [{"dataset": "lung-ct", "version": "v1"},
                     {"dataset": "brain-mri", "version": "2024-06"}],
    }


def _application() -> dict[str, Any]:
    return {"id": "A-1", "project": "lung-screening", "applicant": "alice",
            "members": copy.deepcopy(MEMBERS[:3]), "status": "submitted", "kind": "new"}


def _actor(rng: random.Random, usual: str, role: str) -> dict[str, Any]:
    # Mostly the actor the decision expects (so allows are common), sometimes anyone.
    if rng.random() < 0.6:
        return {"name": usual, "roles": [role]}
    name = rng.choice(["alice", "bob", "carol", "olga", "rita"])
    roles = rng.sample(["researcher", "sme_developer", "hdab_officer", "operator", "data_holder"],
                       k=rng.randint(0, 2))
    return {"name": name, "roles": sorted(roles)}


def _times(rng: random.Random) -> list[Any]:
    return [VALID_FROM, VALID_UNTIL, VALID_UNTIL - 0.001, VALID_FROM - 0.001, 1767225600,
            rng.uniform(VALID_FROM, VALID_UNTIL), rng.uniform(0, 2 * VALID_UNTIL),
            "2026-06-01T00:00:00Z"]


def data_access_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    yield {}
    for _ in range(CASES_PER_DECISION):
        base = {"user": rng.choice(["alice", "bob", "carol", "dave", "mallory"]),
                "project": "lung-screening", "dataset": "lung-ct", "version": "v1",
                "now": rng.uniform(VALID_FROM, VALID_UNTIL), "permit": _permit()}
        yield _mutate(rng, base, {
            "user": ["alice", "bob", "carol", "dave", "mallory"],
            "project": ["lung-screening", "brain-study"],
            "dataset": ["lung-ct", "brain-mri", "liver"],
            "version": ["v1", "v2", "2024-06"],
            "now": _times(rng),
            "permit": [None, _permit()],
            "permit.id": ["P-1", "P-2"],
            "permit.project": ["lung-screening", "brain-study"],
            "permit.status": ["active", "suspended", "revoked", "expired", "ACTIVE"],
            "permit.valid_from": _times(rng),
            "permit.valid_until": _times(rng),
            "permit.members": [MEMBERS[1:], MEMBERS[:1], [MEMBERS[2], MEMBERS[0]], [],
                               [None, "alice", MEMBERS[0]]],
            "permit.datasets": [[], [{"dataset": "lung-ct", "version": "v2"}],
                                [{"dataset": "lung-ct"}], [None, {"dataset": "lung-ct",
                                                                 "version": "v1"}]],
        })


def application_cases(rng: random.Random, usual: str, role: str) -> Iterator[dict[str, Any]]:
    yield {}
    for _ in range(CASES_PER_DECISION):
        base = {"actor": _actor(rng, usual, role), "application": _application(),
                "decision": {"outcome": rng.choice(["review", "approve", "reject"]),
                             "reason": rng.choice(["meets the purpose", "ok", "", "  \t"])}}
        yield _mutate(rng, base, {
            "actor.name": ["alice", "bob", "olga", "rita"],
            "actor.roles": [["researcher"], ["hdab_officer"], ["sme_developer", "hdab_officer"],
                            "hdab_officer", [None, "researcher"]],
            "application.id": ["A-1", "A-2"],
            "application.applicant": ["alice", "olga", "bob"],
            "application.members": [[], MEMBERS[:1], [None, 3, {"user": "olga"}],
                                    {"olga": "lead"}],
            "decision.outcome": ["review", "approve", "reject", "withdraw", "APPROVE"],
            "decision.reason": ["ok", "", " ", "\n", "  x  "],
        })


def permit_change_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    yield {}
    for _ in range(CASES_PER_DECISION):
        base = {"actor": _actor(rng, "olga", "hdab_officer"), "permit": _permit(),
                "change": {"action": rng.choice(["suspend", "reinstate", "revoke"]),
                           "reason": rng.choice(["incident 7", "breach", "", " "])}}
        yield _mutate(rng, base, {
            "actor.name": ["alice", "olga", "rita", "dave"],
            "actor.roles": [["hdab_officer"], ["operator"], "hdab_officer"],
            "permit.id": ["P-1", "P-9"],
            "permit.members": [[], MEMBERS[:1], [None, {"user": "olga", "role": "observer"}]],
            "change.action": ["suspend", "reinstate", "revoke", "expire", "delete"],
            "change.reason": ["breach", "", "\t"],
        })


GENERATORS: dict[str, Callable[[random.Random], Iterator[dict[str, Any]]]] = {
    "data_access": data_access_cases,
    "application_submit": lambda rng: application_cases(rng, "alice", "researcher"),
    "application_withdraw": lambda rng: application_cases(rng, "alice", "researcher"),
    "application_decide": lambda rng: application_cases(rng, "olga", "hdab_officer"),
    "permit_change": permit_change_cases,
}


def cases(name: str) -> list[dict[str, Any]]:
    """The generated inputs of decision ``name`` (the same on every run)."""
    return list(GENERATORS[name](random.Random(f"{SEED}-{name}")))


def test_every_decision_has_a_generator() -> None:
    assert sorted(GENERATORS) == sorted(DECISIONS)


@pytest.mark.opa
@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_engines_agree(name: str, embedded_engine: EmbeddedPolicyEngine,
                       opa_engine: OpaServerPolicyEngine) -> None:
    mismatches = []
    outcomes = set()
    for document in cases(name):
        embedded = embedded_engine.decide(name, document)
        server = opa_engine.decide(name, document)
        outcomes.add(embedded.allow)
        if embedded != server or embedded.error is not None:
            mismatches.append((json.dumps(document), embedded, server))
    assert mismatches[:3] == []
    assert outcomes == {True, False}


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_allow_holds_exactly_when_no_deny_reason(name: str) -> None:
    policies = default_policies_dir()
    engine = compile_engine(load_bundle(policies), policies)
    package = rule_path(DECISIONS[name]).removesuffix(".decision")
    broken = []
    for document in cases(name):
        engine.set_input(document)
        allow = json.loads(engine.eval_rule_as_json(f"{package}.allow"))
        deny = json.loads(engine.eval_rule_as_json(f"{package}.deny"))
        if allow == bool(deny):
            broken.append((json.dumps(document), allow, deny))
    assert broken[:3] == []


def test_generated_inputs_reach_every_access_reason(embedded_engine: EmbeddedPolicyEngine) -> None:
    reasons = {reason for document in cases("data_access")
               for reason in embedded_engine.decide("data_access", document).reasons}
    expected = [
        "permit P-1 grants", "no permit for project", "the permit in the input is malformed",
        "is for project", "is suspended", "is revoked", "is expired", "is not yet valid",
        "has expired", "is not a member of permit", "observers may not read data",
        "has no project role that reads data", "does not grant", "is missing or not a string",
        "input.now is missing or not a number",
    ]
    assert [text for text in expected if not any(text in r for r in reasons)] == []
