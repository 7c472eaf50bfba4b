"""The embedded engine (regorus): tre's decisions on the inputs tre builds, fail-closed."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from policy.policy_cases import NOW, VALID_FROM, VALID_UNTIL, access, actor, application, permit
from policy.test_differential import cases, held_permit_cases

from tre.domain.permits import PermitStatus
from tre.domain.roles import ProjectRole
from tre.domain.values import Member
from tre.errors import InvalidInput, PolicyEngineUnavailable
from tre.policy import inputs
from tre.policy.allow_paths import ALLOW_PATHS, access_granted_reasons, access_query_json
from tre.policy.bundle import default_policies_dir, load_bundle, policy_paths
from tre.policy.decisions import DECISIONS, Decision, from_result
from tre.policy.embedded import EmbeddedPolicyEngine, compile_engine, rule_path
from tre.policy.engine import PolicyEngine
from tre.policy.factory import build_engine
from tre.policy.opa_server import OpaServerPolicyEngine


def _allowed(name: str, reason: str) -> Decision:
    return Decision(name=name, allow=True, reasons=(reason,))


def _denied(name: str, *reasons: str) -> Decision:
    return Decision(name=name, allow=False, reasons=tuple(reasons))


def write_stub_bundle(folder: Path, access_rego: str | None = None) -> Path:
    """A policies folder defining every decision as a stub deny (access_rego replaces one)."""
    for package in DECISIONS.values():
        path = folder / f"{package}.rego"
        path.parent.mkdir(parents=True, exist_ok=True)
        dotted = package.replace("/", ".")
        stub = 'decision := {"allow": false, "reasons": ["stub"]}'
        path.write_text(f"package {dotted}\n\n{stub}\n")
    if access_rego is not None:
        (folder / "tre/data/access.rego").write_text(access_rego)
    return folder


def test_lead_reads_granted_version(embedded_engine: EmbeddedPolicyEngine) -> None:
    assert embedded_engine.decide("data_access", access("alice")) == _allowed(
        "data_access", "permit P-1 grants alice lung-ct@v1 in project lung-screening")


def test_access_denies_with_every_reason(embedded_engine: EmbeddedPolicyEngine) -> None:
    suspended = permit(status=PermitStatus.SUSPENDED)
    got = embedded_engine.decide(
        "data_access", access("carol", version="v2", granted=suspended, project="brain-mri"))
    assert got == _denied(
        "data_access",
        "observers may not read data: carol is an observer of permit P-1",
        "permit P-1 does not grant lung-ct@v2",
        "permit P-1 is for project lung-screening, not brain-mri",
        "permit P-1 is suspended",
    )


def test_access_at_the_expiry_second(embedded_engine: EmbeddedPolicyEngine) -> None:
    at_end = embedded_engine.decide("data_access", access(now=VALID_UNTIL))
    just_before = embedded_engine.decide(
        "data_access", access(now=VALID_UNTIL - timedelta(milliseconds=1)))
    at_start = embedded_engine.decide("data_access", access(now=VALID_FROM))
    assert (at_end.allow, at_end.reasons) == (False, ("permit P-1 has expired",))
    assert (just_before.allow, at_start.allow) == (True, True)


def test_removed_member_and_missing_permit_deny(embedded_engine: EmbeddedPolicyEngine) -> None:
    without_alice = permit(members=(Member("bob", ProjectRole.LEAD),))
    assert embedded_engine.decide("data_access", access(granted=without_alice)) == _denied(
        "data_access", "alice is not a member of permit P-1")
    assert embedded_engine.decide("data_access", access(no_permit=True)) == _denied(
        "data_access", "no permit for project lung-screening")


def test_applicant_submits_and_withdraws(embedded_engine: EmbeddedPolicyEngine) -> None:
    app = application()
    alice = inputs.submit_input(actor("alice", "researcher"), app)
    bob = inputs.submit_input(actor("bob", "researcher"), app)
    assert embedded_engine.decide("application_submit", alice) == _allowed(
        "application_submit", "alice may submit application A-1 as its applicant")
    assert embedded_engine.decide("application_withdraw", alice) == _allowed(
        "application_withdraw", "alice may withdraw application A-1 as its applicant")
    assert embedded_engine.decide("application_withdraw", bob) == _denied(
        "application_withdraw",
        "only the applicant of application A-1 (alice) may withdraw it, not bob")


def test_officer_decides_only_with_a_reason(embedded_engine: EmbeddedPolicyEngine) -> None:
    olga = actor("olga", "hdab_officer")
    approve = inputs.decide_input(olga, application(), "approve", "meets the purpose")
    blank = inputs.decide_input(olga, application(), "reject", "   ")
    own = inputs.decide_input(actor("bob", "hdab_officer"), application(), "review", "")
    assert embedded_engine.decide("application_decide", approve) == _allowed(
        "application_decide", "hdab officer olga may approve application A-1")
    assert embedded_engine.decide("application_decide", blank) == _denied(
        "application_decide", "a decision to reject needs a reason")
    assert embedded_engine.decide("application_decide", own) == _denied(
        "application_decide",
        "hdab officers may not decide on an application they are a member of (bob is in A-1)")


def test_officer_changes_a_permit(embedded_engine: EmbeddedPolicyEngine) -> None:
    revoke = inputs.permit_change_input(actor("olga", "hdab_officer"), permit(), "revoke", "breach")
    by_member = inputs.permit_change_input(actor("alice", "researcher"), permit(), "suspend", "")
    assert embedded_engine.decide("permit_change", revoke) == _allowed(
        "permit_change", "hdab officer olga may revoke permit P-1")
    assert embedded_engine.decide("permit_change", by_member) == _denied(
        "permit_change",
        "alice needs the hdab_officer role to change a permit",
        "changing permit P-1 needs a reason",
        "hdab officers may not change a permit they are a member of (alice is in P-1)",
    )


@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_empty_input_denies(embedded_engine: EmbeddedPolicyEngine, name: str) -> None:
    decision = embedded_engine.decide(name, {})
    assert (decision.allow, decision.error) == (False, None)
    assert decision.reasons


def test_rego_unit_tests_pass_under_regorus() -> None:
    policies = default_policies_dir()
    engine = compile_engine(load_bundle(policies), policies)
    for path in sorted(policies.rglob("*_test.rego")):
        engine.add_policy(path.name, path.read_text())
    failed = []
    for path in sorted(policies.rglob("*_test.rego")):
        text = path.read_text()
        package = re.search(r"^package (\S+)$", text, re.MULTILINE)
        assert package is not None
        for test in re.findall(r"^(test_\w+) if", text, re.MULTILINE):
            if engine.eval_rule(f"data.{package.group(1)}.{test}") is not True:
                failed.append(f"{package.group(1)}.{test}")
    assert failed == []


def test_decisions_from_many_threads_agree(embedded_engine: EmbeddedPolicyEngine) -> None:
    cases = [access("alice"), access("carol"), access(now=NOW + timedelta(days=400)), {}]
    expected = [embedded_engine.decide("data_access", case) for case in cases]

    def run(_: int) -> list[Decision]:
        return [embedded_engine.decide("data_access", case) for case in cases for _ in range(50)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(16)))
    want = [decision for decision in expected for _ in range(50)]
    assert all(result == want for result in results)


def test_tre_policies_compile_to_bytecode(embedded_engine: EmbeddedPolicyEngine) -> None:
    assert embedded_engine.compiled


def test_access_submit_and_decide_allows_come_from_their_allow_rule(
        embedded_engine: EmbeddedPolicyEngine) -> None:
    assert embedded_engine.allow_only == {
        "tre/data/access", "tre/applications/submit", "tre/applications/decide"}


@pytest.mark.parametrize("name", ["application_submit", "application_decide"])
def test_application_allow_paths_decide_like_the_interpreter_on_generated_inputs(
        name: str) -> None:
    engine = EmbeddedPolicyEngine()
    policies = default_policies_dir()
    interpreter = compile_engine(load_bundle(policies), policies)
    rule = rule_path(DECISIONS[name])
    checked = cases(name)
    odd = {"name": 'zoë "q" \\ 雪\u2028', "roles": ["researcher", "hdab_officer"]}
    checked.append({"actor": odd, "decision": {"outcome": "approve", "reason": "ok"},
                    "application": {"id": 'A-"1"', "applicant": odd["name"] if
                                    name == "application_submit" else "alice",
                                    "members": [], "status": "submitted", "kind": "new"}})
    differ, allowed = [], 0
    for document in checked:
        interpreter.set_input(document)
        expected = from_result(name, json.loads(interpreter.eval_rule_as_json(rule)))
        got = engine.decide(name, document)
        allowed += got.allow
        if got != expected:
            differ.append((json.dumps(document), got, expected))
    assert differ[:3] == []
    assert allowed > 10
    assert engine.decide(name, checked[-1]).allow


@pytest.mark.parametrize(("name", "input"), [
    ("application_submit", {"actor": {"name": 1}, "application": {"id": "A-1"}}),
    ("application_submit", {"actor": "alice", "application": {"id": "A-1"}}),
    ("application_decide", {"actor": {"name": "olga"}, "application": {"id": "A-1"}}),
    ("application_decide", {"actor": {"name": "olga"}, "application": {"id": "A-1"},
                            "decision": {"outcome": ["approve"]}}),
])
def test_application_allow_paths_give_no_reasons_they_cannot_build(
        name: str, input: dict[str, Any]) -> None:
    package = DECISIONS[name]
    assert ALLOW_PATHS[package].reasons(input, {}) is None


def test_an_application_allow_path_is_off_once_the_policy_changes_its_reason(
        tmp_path: Path) -> None:
    write_stub_bundle(tmp_path)
    source = (default_policies_dir() / "tre/applications/decide.rego").read_text()
    rego = '"hdab officer %s may %s application %s"'
    assert rego in source
    (tmp_path / "tre/applications/decide.rego").write_text(
        source.replace(rego, '"%s may %s application %s (officer)"'))
    engine = EmbeddedPolicyEngine(tmp_path)
    assert "tre/applications/decide" not in engine.allow_only
    document = {"actor": {"name": "olga", "roles": ["hdab_officer"]},
                "application": {"id": "A-1", "applicant": "alice", "members": []},
                "decision": {"outcome": "approve", "reason": "fine"}}
    assert engine.decide("application_decide", document) == _allowed(
        "application_decide", "olga may approve application A-1 (officer)")


def test_allow_path_decides_like_the_interpreter_on_generated_inputs() -> None:
    engine = EmbeddedPolicyEngine()
    odd = inputs.permit_input(permit(id='P-"1"\\ ø', members=(
        Member('zoë "q" \\ 雪', ProjectRole.LEAD),)))
    odd["datasets"] = [{"dataset": "lung-ct", "version": "v1\u2028"}]
    held_odd = {**odd, "revision": inputs.permit_revision(odd)}
    checked: list[tuple[dict[str, dict[str, Any]], dict[str, Any]]] = [
        ({}, document) for document in cases("data_access")]
    checked += [({project: held}, query) for project, held, query, _ in held_permit_cases()]
    checked.append(({"lung-screening": held_odd}, {
        "user": 'zoë "q" \\ 雪', "project": "lung-screening", "dataset": "lung-ct",
        "version": "v1\u2028", "now": 1780000000.25, "permit_revision": held_odd["revision"]}))
    policies = default_policies_dir()
    interpreter = compile_engine(load_bundle(policies), policies)
    rule = rule_path(DECISIONS["data_access"])
    differ, allowed = [], 0
    for held, document in checked:
        for project, copy in held.items():
            engine.put_permit(project, copy)
        interpreter.clear_data()
        interpreter.add_data_json(json.dumps({"permits": held}))
        interpreter.set_input(document)
        expected = from_result("data_access", json.loads(interpreter.eval_rule_as_json(rule)))
        got = engine.decide("data_access", document)
        allowed += got.allow
        if got != expected:
            differ.append((json.dumps(document), got, expected))
    assert differ[:3] == []
    assert allowed > 50
    assert engine.decide("data_access", checked[-1][1]).reasons == (
        'permit P-"1"\\ ø grants zoë "q" \\ 雪 lung-ct@v1\u2028 in project lung-screening',)


@pytest.mark.parametrize(("rego", "changed", "reason"), [
    ('"permit %s grants %s %s@%s in project %s"', '"%s may read %s %s@%s in project %s"',
     "P-1 may read alice lung-ct@v1 in project lung-screening"),
    ("_judged := input.permit if not _revision",
     "_judged := input.permit if not input.permit_revision",
     "permit P-1 grants alice lung-ct@v1 in project lung-screening"),
])
def test_allow_path_is_off_once_the_policy_changes_what_it_mirrors(
        tmp_path: Path, rego: str, changed: str, reason: str) -> None:
    source = (default_policies_dir() / "tre/data/access.rego").read_text()
    assert rego in source
    engine = EmbeddedPolicyEngine(write_stub_bundle(tmp_path, source.replace(rego, changed)))
    assert (engine.compiled, engine.allow_only) == (True, frozenset())
    assert engine.decide("data_access", access("alice")) == _allowed("data_access", reason)


def test_the_query_json_is_the_query() -> None:
    queries = [query for _, _, query, _ in held_permit_cases()]
    queries += [inputs.data_access_query('zoë "q" \\', "p", "d\n", "v\u2028", NOW, "r")]
    encoded = [(query, access_query_json(query)) for query in queries]
    assert [query for query, text in encoded if text is not None and json.loads(text) != query] \
        == []
    assert sum(text is not None for _, text in encoded) > 100
    query = inputs.data_access_query("alice", "p", "d", "v", NOW, "r")
    assert access_query_json(query) is not None
    for other in ({**query, "now": math.nan}, {**query, "now": math.inf}, {**query, "now": 1},
                  {**query, "now": True}, {**query, "user": 7}, {**query, "extra": 1},
                  {k: v for k, v in query.items() if k != "permit_revision"},
                  {**{k: v for k, v in query.items() if k != "user"}, "users": "alice"}):
        assert access_query_json(other) is None


def test_allowed_reasons_need_the_held_permit_at_the_named_revision() -> None:
    held = inputs.permit_data(permit())
    query = _query(held)
    reason = "permit P-1 grants alice lung-ct@v1 in project lung-screening"
    assert access_granted_reasons(query, {"lung-screening": held}) == (reason,)
    assert access_granted_reasons(access("alice"), {}) == (reason,)
    for permits, document in (({}, query), ({"other": held}, query),
                              ({"lung-screening": {**held, "revision": "r-2"}}, query),
                              ({"lung-screening": {**held, "id": 1}}, query),
                              ({"lung-screening": held}, {**query, "project": ["x"]}),
                              ({}, {**access("alice"), "permit": None}),
                              ({}, {**access("alice"), "user": 1})):
        assert access_granted_reasons(document, permits) is None


def _query(held: dict[str, object], user: str = "alice") -> dict[str, object]:
    return inputs.data_access_query(user, "lung-screening", "lung-ct", "v1", NOW,
                                    str(held["revision"]))


def _stale(revision: object) -> Decision:
    return _denied("data_access", "policy data holds no permit of project lung-screening at "
                   f"revision {revision} (stale engine data)")


def test_held_permits_reach_every_thread_and_a_stale_one_denies() -> None:
    engine = EmbeddedPolicyEngine()
    active = inputs.permit_data(permit())
    suspended = inputs.permit_data(permit(status=PermitStatus.SUSPENDED))
    granted = _allowed("data_access", "permit P-1 grants alice lung-ct@v1 in project "
                       "lung-screening")
    with ThreadPoolExecutor(max_workers=1) as pool:
        def ask(query: dict[str, object]) -> Decision:
            return pool.submit(engine.decide, "data_access", query).result()

        assert ask(_query(active)) == _stale(active["revision"])  # the thread's engines exist
        engine.put_permit("lung-screening", active)
        assert (ask(_query(active)), engine.decide("data_access", _query(active))) == (
            granted, granted)
        engine.put_permit("lung-screening", suspended)
        assert ask(_query(active)) == _stale(active["revision"])
        assert ask(_query(suspended)) == _denied("data_access", "permit P-1 is suspended")
        assert ask(inputs.data_access_query("alice", "lung-screening", "lung-ct", "v1", NOW,
                                            None)) == _denied(
            "data_access", "no permit for project lung-screening")


def test_held_permit_decides_like_the_permit_in_the_input(
        embedded_engine: EmbeddedPolicyEngine) -> None:
    held = inputs.permit_data(permit())
    embedded_engine.put_permit("lung-screening", held)
    for user in ("alice", "bob", "carol", "mallory"):
        assert embedded_engine.decide("data_access", _query(held, user)) == \
            embedded_engine.decide("data_access", access(user))


def test_a_permit_revision_names_its_content() -> None:
    assert inputs.permit_data(permit())["revision"] == inputs.permit_data(permit())["revision"]
    assert inputs.permit_data(permit())["revision"] != \
        inputs.permit_data(permit(status=PermitStatus.SUSPENDED))["revision"]


def test_engine_without_data_never_allows_a_held_permit(tmp_path: Path) -> None:
    class StatelessEngine(PolicyEngine):
        def _evaluate(self, package: str, input: Mapping[str, Any]) -> Any:
            return EmbeddedPolicyEngine._evaluate(stateless, package, input)

    stateless = EmbeddedPolicyEngine()
    held = inputs.permit_data(permit())
    engine = StatelessEngine()
    engine.put_permit("lung-screening", held)  # cannot be stored: not raised, not held
    assert engine.decide("data_access", _query(held)) == _stale(held["revision"])
    with pytest.raises(InvalidInput, match="invalid project id 'a/b'"):
        engine.put_permit("a/b", held)


def test_unknown_decision_raises(embedded_engine: EmbeddedPolicyEngine) -> None:
    with pytest.raises(InvalidInput, match="unknown decision 'data_acess': use one of"):
        embedded_engine.decide("data_acess", access())


def test_input_that_is_not_json_denies(embedded_engine: EmbeddedPolicyEngine) -> None:
    decision = embedded_engine.decide("data_access", {"user": "alice", "now": datetime.now()})
    assert (decision.allow, decision.error) == (False, "EmbeddedEvaluationError")
    assert decision.reasons[0].startswith("policy engine embedded failed: ")


class _BrokenInput(Mapping[str, Any]):
    """A mapping that fails on every read."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Any:
        raise RuntimeError("unreadable")

    def __len__(self) -> int:
        return 6


def test_input_that_cannot_be_read_denies(embedded_engine: EmbeddedPolicyEngine) -> None:
    decision = embedded_engine.decide("data_access", _BrokenInput())
    assert (decision.allow, decision.error) == (False, "EmbeddedEvaluationError")
    assert "unreadable" in decision.reasons[0]


def test_sets_come_back_as_sorted_lists(tmp_path: Path) -> None:
    folder = write_stub_bundle(tmp_path, (
        "package tre.data.access\n\n"
        'decision := {"allow": false, "reasons": {"b", "c", "a"}, "extra": {{"z", 1}, {null}}}\n'))
    engine = EmbeddedPolicyEngine(folder)
    assert engine.decide("data_access", {}) == _denied("data_access", "a", "b", "c")
    assert engine._evaluate("tre/data/access", {}) == {
        "allow": False, "reasons": ["a", "b", "c"], "extra": [[None], [1, "z"]]}


def test_undefined_decision_denies(tmp_path: Path) -> None:
    folder = write_stub_bundle(tmp_path, (
        'package tre.data.access\n\ndecision := {"allow": true, "reasons": ["x"]} if input.x\n'))
    engine = EmbeddedPolicyEngine(folder)
    assert engine.decide("data_access", {}) == Decision(
        name="data_access", allow=False,
        reasons=("policy data_access returned no decision (undefined): denied",),
        error="undefined")


def test_evaluation_error_denies(tmp_path: Path) -> None:
    folder = write_stub_bundle(tmp_path, (
        "package tre.data.access\n\n"
        'decision := {"allow": true, "reasons": ["x"]} if input.x\n\n'
        'decision := {"allow": false, "reasons": ["y"]} if input.x\n'))
    decision = EmbeddedPolicyEngine(folder).decide("data_access", {"x": True})
    assert (decision.allow, decision.error) == (False, "EmbeddedEvaluationError")


def test_missing_policies_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist: point the policy engine"):
        EmbeddedPolicyEngine(tmp_path / "nowhere")


def test_empty_policies_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "only_test.rego").write_text("package x_test\n")
    with pytest.raises(InvalidInput, match=r"holds no \.rego policies"):
        EmbeddedPolicyEngine(tmp_path)


def test_broken_policy_is_refused_at_startup(tmp_path: Path) -> None:
    folder = write_stub_bundle(tmp_path, "package tre.data.access\n\ndecision := {\n")
    with pytest.raises(PolicyEngineUnavailable, match=r"access.rego does not compile: .*opa check"):
        EmbeddedPolicyEngine(folder)


def test_bundle_without_a_decision_is_refused(tmp_path: Path) -> None:
    folder = write_stub_bundle(tmp_path, "package tre.data.access\n\nallow := false\n")
    expected = r"do not define data\.tre\.data\.access\.decision \(decision data_access\)"
    with pytest.raises(PolicyEngineUnavailable, match=expected):
        EmbeddedPolicyEngine(folder)


def test_bundle_skips_rego_tests() -> None:
    names = [path.name for path in policy_paths(default_policies_dir())]
    assert names == ["approval.rego", "download.rego", "release.rego", "review.rego",
                     "submit.rego", "decide.rego", "submit.rego", "withdraw.rego", "access.rego",
                     "change.rego", "access.rego", "create.rego"]


def test_factory_builds_each_kind() -> None:
    def build(kind: str) -> object:
        return build_engine(kind, policies_dir=default_policies_dir(),
                            opa_url="http://127.0.0.1:8181", timeout_s=0.5)

    embedded, opa = build("embedded"), build("opa")
    assert isinstance(embedded, EmbeddedPolicyEngine)
    assert isinstance(opa, OpaServerPolicyEngine)
    assert (opa.url, opa.timeout_s) == ("http://127.0.0.1:8181", 0.5)
    opa.close()
    expected = r"engine 'wasm' \(TRE_POLICY_ENGINE\): use one of embedded, opa"
    with pytest.raises(InvalidInput, match=expected):
        build("wasm")
