"""Embedded (regorus) and OPA server give the same Decision on hundreds of generated inputs."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from policy.test_differential_sandboxes import SANDBOX_GENERATORS

from tre.policy.bundle import default_policies_dir, load_bundle
from tre.policy.decisions import DECISIONS
from tre.policy.embedded import (
    EmbeddedPolicyEngine,
    compile_engine,
    compile_program,
    fast_allow,
    program_vm,
    rule_path,
)
from tre.policy.inputs import permit_revision
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


FILE_KINDS = ["table", "text", "notebook", "image", "model", "array", "archive", "dicom",
              "unknown"]
REQUEST_STATUSES = ["draft", "submitted", "in_review", "approved", "partially_approved",
                    "rejected", "released", "withdrawn"]
CHECKERS = ["carl", "cleo", "chen"]


def _egress_actor(rng: random.Random) -> dict[str, Any]:
    # Mostly an output checker outside the project; sometimes the author, a member, or no role.
    if rng.random() < 0.6:
        return {"name": rng.choice(CHECKERS), "roles": ["output_checker"]}
    name = rng.choice(["alice", "bob", "carol", "dave", "carl", "rita"])
    roles = rng.sample(["output_checker", "researcher", "hdab_officer", "operator"],
                       k=rng.randint(0, 2))
    return {"name": name, "roles": sorted(roles)}


def _findings(rng: random.Random) -> list[dict[str, Any]]:
    pool = [{"code": "small_cell", "severity": "warn"}, {"code": "dicom", "severity": "block"},
            {"code": "exif", "severity": "info"}, {"code": "identifier", "severity": "block"},
            {"code": "odd", "severity": "WARN"}, {"code": "odd"}]
    weights = [3, 1, 2, 1, 1, 1]
    return [copy.deepcopy(f) for f in rng.choices(pool, weights=weights, k=rng.randint(0, 2))]


def _reviews(rng: random.Random) -> list[dict[str, Any]]:
    # N-of-M: zero to three verdicts, from distinct checkers, the same checker twice, the author.
    reviewers = [*CHECKERS, "alice", "bob"]
    out = []
    for _ in range(rng.choices([0, 1, 2, 3], weights=[2, 4, 4, 2])[0]):
        out.append({"reviewer": rng.choice(reviewers),
                    "verdict": rng.choices(["approve", "reject"], weights=[5, 1])[0]})
    return out


def _egress_file(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(FILE_KINDS)
    findings = _findings(rng)
    if kind == "dicom":
        findings.append({"code": "dicom", "severity": "block"})
    return {"name": rng.choice(["counts.csv", "model.pt", "scan.png", "notes.md"]),
            "kind": kind, "findings": findings, "reviews": _reviews(rng)}


def _egress_request(rng: random.Random, status: str | None = None) -> dict[str, Any]:
    return {"id": "R-1", "project": "lung-screening", "author": rng.choice(["alice", "bob"]),
            "status": status or rng.choice(REQUEST_STATUSES),
            "egress": rng.choice(["aggregate", "models", "models", "none"]),
            "members": copy.deepcopy(MEMBERS)}


REQUEST_CHOICES: dict[str, list[Any]] = {
    "request.id": ["R-1", "R-2", 7],
    "request.project": ["lung-screening", "brain-study", 3],
    "request.author": ["alice", "bob", "carl", 5],
    "request.status": [*REQUEST_STATUSES, "SUBMITTED"],
    "request.egress": ["aggregate", "models", "none", "MODELS"],
    "request.members": [[], MEMBERS[:1], [None, "carl", {"user": "carl"}], {"alice": "lead"},
                        [{"user": "carl", "role": "researcher"}]],
}

FILE_CHOICES: dict[str, list[Any]] = {
    "file.name": ["counts.csv", "model.pt", 9],
    "file.kind": [*FILE_KINDS, "DICOM"],
    "file.findings": [[], [{"severity": "block"}], [{"severity": "warn"}], [None, 3],
                      "block", {"severity": "block"}],
    "file.reviews": [[], [{"reviewer": "carl", "verdict": "approve"}],
                     [{"reviewer": "carl", "verdict": "approve"},
                      {"reviewer": "cleo", "verdict": "approve"}],
                     [{"reviewer": "carl", "verdict": "approve"},
                      {"reviewer": "carl", "verdict": "approve"}],
                     [{"reviewer": "cleo", "verdict": "reject"}],
                     [{"reviewer": "alice", "verdict": "approve"},
                      {"reviewer": "carl", "verdict": "approve"}],
                     [None, {"reviewer": "carl"}, {"verdict": "approve"}],
                     "approve", {"carl": "approve"}],
}


def egress_submit_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    yield {}
    for _ in range(CASES_PER_DECISION):
        permit = {**_permit(), "egress": rng.choice(["aggregate", "models", "none"])}
        actor = _actor(rng, rng.choice(["alice", "bob"]), "researcher")
        base = {"actor": actor, "now": rng.uniform(VALID_FROM, VALID_UNTIL), "permit": permit}
        yield _mutate(rng, base, {
            "actor.name": ["alice", "bob", "carol", "dave", "mallory"],
            "actor.roles": [["researcher"], [], "researcher"],
            "now": _times(rng),
            "permit": [None, _permit()],
            "permit.id": ["P-1", "P-2", 4],
            "permit.project": ["lung-screening", "brain-study", 4],
            "permit.status": ["active", "suspended", "revoked", "expired", "ACTIVE"],
            "permit.valid_from": _times(rng),
            "permit.valid_until": _times(rng),
            "permit.members": [MEMBERS[1:], MEMBERS[2:], [MEMBERS[2], MEMBERS[0]], [],
                               [None, "alice", {"user": "bob"}], {"alice": "lead"}],
            "permit.egress": ["aggregate", "models", "none", "MODELS", "raw"],
        })


def egress_review_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    yield {}
    for _ in range(CASES_PER_DECISION):
        status = rng.choice(["submitted", "in_review", "in_review", rng.choice(REQUEST_STATUSES)])
        base = {"actor": _egress_actor(rng), "request": _egress_request(rng, status),
                "file": _egress_file(rng),
                "review": {"verdict": rng.choices(["approve", "reject"], weights=[3, 2])[0],
                           "comment": rng.choice(["aggregate, safe", "DICOM", "ok", "", " \t"])}}
        yield _mutate(rng, base, {
            "actor.name": ["alice", "bob", "carol", "carl", "rita"],
            "actor.roles": [["output_checker"], ["researcher"], ["output_checker", "researcher"],
                            "output_checker", [None, "output_checker"]],
            **REQUEST_CHOICES, **FILE_CHOICES,
            "review.verdict": ["approve", "reject", "abstain", "APPROVE"],
            "review.comment": ["ok", "", " ", "\n", "  x  "],
        })


def egress_approval_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    yield {}
    for _ in range(CASES_PER_DECISION):
        base = {"request": _egress_request(rng), "file": _egress_file(rng)}
        yield _mutate(rng, base, {**REQUEST_CHOICES, **FILE_CHOICES})


def egress_download_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    yield {}
    for _ in range(CASES_PER_DECISION):
        status = rng.choice(["released", "released", rng.choice(REQUEST_STATUSES)])
        base = {"user": rng.choice(["alice", "bob", "carol", "dave", "carl", "mallory"]),
                "request": _egress_request(rng, status)}
        yield _mutate(rng, base, {
            "user": ["alice", "carol", "carl", "mallory"], **REQUEST_CHOICES,
        })


def egress_release_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    yield {}
    for _ in range(CASES_PER_DECISION):
        status = rng.choice(["approved", "partially_approved", rng.choice(REQUEST_STATUSES)])
        base = {"actor": _egress_actor(rng), "request": _egress_request(rng, status)}
        yield _mutate(rng, base, {
            "actor.name": ["alice", "bob", "carol", "carl", "rita"],
            "actor.roles": [["output_checker"], ["researcher"], ["output_checker", "researcher"],
                            "output_checker", [None, "output_checker"]],
            **REQUEST_CHOICES,
        })


GENERATORS: dict[str, Callable[[random.Random], Iterator[dict[str, Any]]]] = {
    "data_access": data_access_cases,
    "application_submit": lambda rng: application_cases(rng, "alice", "researcher"),
    "application_withdraw": lambda rng: application_cases(rng, "alice", "researcher"),
    "application_decide": lambda rng: application_cases(rng, "olga", "hdab_officer"),
    "permit_change": permit_change_cases,
    "egress_submit": egress_submit_cases,
    "egress_review": egress_review_cases,
    "egress_approval": egress_approval_cases,
    "egress_download": egress_download_cases,
    "egress_release": egress_release_cases,
    **SANDBOX_GENERATORS,
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


EGRESS_REASONS = {
    "egress_submit": [
        "may submit outputs of project", "is not a lead or researcher of permit",
        "is not in force", "lets nothing leave (egress profile none)", "the project has no permit",
        "input.now is missing or not a number", "input.actor.name is missing or not a string",
    ],
    "egress_review": [
        "may approve", "may reject", "may not review their own request",
        "is a member of project", "needs the output_checker role", "not open for review",
        "has a blocking finding and can only be rejected", "a review needs a comment",
        "the verdict must be approve or reject", "input.request.members is missing",
    ],
    "egress_approval": [
        "approved by 1 ", "approved by 2 ", "needs 2 approval(s), has 1",
        "needs 1 approval(s), has 0", "has a blocking finding: it never leaves",
        "was rejected by", "is model weights and permit egress is aggregate",
        "has a malformed review", "input.file.reviews is missing or not a list",
    ],
    "egress_download": [
        " is a member of project", "is not a member of project", "is not released",
        "input.user is missing or not a string", "input.request.members is missing",
    ],
    "egress_release": [
        "may release request", "needs the output_checker role", "may not release their own",
        "may not release its outputs", "only an approved or partially approved request",
        "input.request.members is missing",
    ],
}


@pytest.mark.parametrize("name", sorted(EGRESS_REASONS))
def test_generated_inputs_reach_every_egress_reason(
        name: str, embedded_engine: EmbeddedPolicyEngine) -> None:
    reasons = {reason for document in cases(name)
               for reason in embedded_engine.decide(name, document).reasons}
    assert [text for text in EGRESS_REASONS[name] if not any(text in r for r in reasons)] == []


def held_permit_cases() -> Iterator[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(project, held permit, query naming its revision, the same request with the permit
    inline) for every generated data_access input that carries a permit object."""
    for document in cases("data_access"):
        permit = document.get("permit")
        project = document.get("project")
        if not isinstance(permit, dict) or project not in ("lung-screening", "brain-study"):
            continue
        held = {**permit, "revision": permit_revision(permit)}
        query = {k: v for k, v in document.items() if k != "permit"}
        yield project, held, {**query, "permit_revision": held["revision"]}, document


@pytest.mark.opa
def test_engines_agree_on_permits_held_as_data(embedded_engine: EmbeddedPolicyEngine,
                                               opa_engine: OpaServerPolicyEngine) -> None:
    mismatches = []
    outcomes = set()
    for project, held, query, inline in held_permit_cases():
        embedded_engine.put_permit(project, held)
        opa_engine.put_permit(project, held)
        embedded = embedded_engine.decide("data_access", query)
        server = opa_engine.decide("data_access", query)
        outcomes.add(embedded.allow)
        # The held copy is judged exactly as the same permit given in the input.
        if embedded != server or embedded != embedded_engine.decide("data_access", inline):
            mismatches.append((json.dumps(query), embedded, server))
    assert mismatches[:3] == []
    assert outcomes == {True, False}


def test_held_permit_at_another_revision_never_allows(
        embedded_engine: EmbeddedPolicyEngine) -> None:
    allowed = []
    for project, held, query, _inline in held_permit_cases():
        embedded_engine.put_permit(project, held)
        stale = {**query, "permit_revision": "0" * 32}
        if embedded_engine.decide("data_access", stale).allow:
            allowed.append(json.dumps(stale))
    assert allowed[:3] == []


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_bytecode_vm_allows_exactly_when_the_interpreter_does(name: str) -> None:
    policies = default_policies_dir()
    bundle = load_bundle(policies)
    interpreter = compile_engine(bundle, policies)
    program = compile_program(bundle)
    assert program is not None
    vm = program_vm(program)
    rule = rule_path(DECISIONS[name])
    differ = []
    for document in cases(name):
        interpreter.set_input(document)
        expected = json.loads(interpreter.eval_rule_as_json(rule))
        fast = fast_allow(vm, rule, json.dumps(document))
        if fast != (expected if expected["allow"] else None):
            differ.append((json.dumps(document), expected, fast))
    assert differ[:3] == []
