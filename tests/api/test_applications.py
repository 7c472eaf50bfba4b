"""Applications and permits through the HTTP layer: the whole flow, who sees what, bad input."""

from __future__ import annotations

from typing import Any

from api.conftest import BASE, Api

from factories import audit_trail

APPLICATIONS = f"{BASE}/applications"
PERMITS = f"{BASE}/permits"


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project": "tumour-seg", "title": "Liver tumour segmentation",
        "purpose": "development_and_innovation", "organisation": "Uni X",
        "description": "Train and validate a segmentation model.",
        "members": [{"user": "bob"}], "datasets": ["lung-ct"],
        "compute": {"cpus": 4, "memory_gb": 16, "gpus": 1, "hours": 200},
        "start": "2026-12-02T00:00:00Z", "end": "2027-12-02T00:00:00Z"}
    body.update(changes)
    return body


def _apply(api: Api, user: str = "alice", **changes: Any) -> dict[str, Any]:
    answer = api.client.post(APPLICATIONS, headers=api.as_(user), json=_body(**changes))
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _lung_ai(api: Api, user: str = "alice") -> dict[str, Any]:
    mine: list[dict[str, Any]] = api.client.get(PERMITS, headers=api.as_(user)).json()
    return next(p for p in mine if p["project"] == "lung-ai")


def test_apply_review_approve_and_see_the_permit(api: Api) -> None:
    app = _apply(api)
    assert (app["status"], app["applicant"], app["members"], app["datasets"]) == (
        "submitted", "alice", [{"user": "alice", "role": "lead"},
                               {"user": "bob", "role": "researcher"}], ["lung-ct"])
    queue = api.client.get(APPLICATIONS, params={"status": "submitted"},
                           headers=api.as_("olga")).json()
    assert [a["id"] for a in queue] == [app["id"]]
    assert api.client.get(f"{APPLICATIONS}/{app['id']}", headers=api.as_("bob")).json() == app

    answer = api.client.post(f"{APPLICATIONS}/{app['id']}/approve", headers=api.as_("olga"),
                             json={"reason": "sound protocol", "conditions": ["publish code"],
                                   "egress": "models", "until": "2027-06-01T00:00:00Z"})
    assert answer.status_code == 201, answer.text
    permit = answer.json()
    assert (permit["project"], permit["datasets"], permit["conditions"], permit["egress"],
            permit["valid_until"], permit["status"], permit["issued_by"]) == (
        "tumour-seg", ["lung-ct@v1"], ["publish code"], "models", "2027-06-01T00:00:00Z",
        "active", "olga")
    decided = api.client.get(f"{APPLICATIONS}/{app['id']}", headers=api.as_("alice")).json()
    assert (decided["status"], decided["decided_by"]) == ("approved", "olga")
    mine = api.client.get(PERMITS, headers=api.as_("alice")).json()
    assert sorted(p["project"] for p in mine) == ["lung-ai", "tumour-seg"]
    assert [p["project"] for p in api.client.get(PERMITS, headers=api.as_("carol")).json()] == []
    assert len(api.client.get(PERMITS, headers=api.as_("olga")).json()) == 2
    assert ("olga", "permit.issue", permit["id"], "allowed") in audit_trail(api.node)


def test_others_see_neither_the_application_nor_the_permit(api: Api) -> None:
    app = _apply(api)
    answer = api.client.get(f"{APPLICATIONS}/{app['id']}", headers=api.as_("carol"))
    assert answer.status_code == 403
    assert answer.json()["detail"] == (f"carol may not see application {app['id']}: only its "
                                       "applicant, its members and HDAB officers can")
    assert api.client.get(APPLICATIONS, headers=api.as_("carol")).json() == []
    permit_id = _lung_ai(api)["id"]
    assert api.client.get(f"{PERMITS}/{permit_id}", headers=api.as_("carol")).status_code == 403
    assert api.client.get(APPLICATIONS).status_code == 401


def test_deciding_ones_own_application_is_denied_by_policy_and_audited(api: Api) -> None:
    app = _apply(api, "rita")  # a researcher and an HDAB officer
    answer = api.client.post(f"{APPLICATIONS}/{app['id']}/approve", headers=api.as_("rita"),
                             json={"reason": "looks fine"})
    assert answer.status_code == 403
    body = answer.json()
    assert body["decision"] == "application_decide"
    assert body["reasons"]
    assert ("rita", "application.approve", app["id"], "denied") in audit_trail(api.node)
    rejected = api.client.post(f"{APPLICATIONS}/{app['id']}/reject", headers=api.as_("oscar"),
                               json={"reason": "no ethics approval attached"})
    assert rejected.json()["status"] == "rejected"
    again = api.client.post(f"{APPLICATIONS}/{app['id']}/approve", headers=api.as_("olga"),
                            json={"reason": "changed my mind"})
    assert again.status_code == 409
    assert "rejected" in again.json()["detail"]


def test_drafts_are_submitted_or_withdrawn_by_their_applicant(api: Api) -> None:
    draft = _apply(api, submit=False)
    assert draft["status"] == "draft"
    refused = api.client.post(f"{APPLICATIONS}/{draft['id']}/submit", headers=api.as_("bob"))
    assert refused.status_code == 403
    submitted = api.client.post(f"{APPLICATIONS}/{draft['id']}/submit",
                                headers=api.as_("alice"))
    assert submitted.json()["status"] == "submitted"
    withdrawn = api.client.post(f"{APPLICATIONS}/{draft['id']}/withdraw",
                                headers=api.as_("alice"))
    assert withdrawn.json()["status"] == "withdrawn"


def test_officers_suspend_reinstate_and_revoke_members_cannot(api: Api) -> None:
    permit_id = _lung_ai(api)["id"]
    denied = api.client.post(f"{PERMITS}/{permit_id}/suspend", headers=api.as_("alice"),
                             json={"reason": "I want to"})
    assert (denied.status_code, denied.json()["decision"]) == (403, "permit_change")
    for action, status in (("suspend", "suspended"), ("reinstate", "active"),
                           ("revoke", "revoked")):
        answer = api.client.post(f"{PERMITS}/{permit_id}/{action}", headers=api.as_("olga"),
                                 json={"reason": "audit finding 7"})
        assert (answer.status_code, answer.json()["status"]) == (200, status), answer.text
    assert api.client.post(f"{PERMITS}/{permit_id}/delete", headers=api.as_("olga"),
                           json={"reason": "x"}).status_code == 422


def test_bad_bodies_say_what_to_fix_and_write_nothing(api: Api) -> None:
    before = audit_trail(api.node)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (_body(colour="red"), 422, "body.colour: Extra inputs are not permitted"),
        (_body(start="2026-12-02T00:00:00"), 422, "body.start: Input should have timezone"),
        (_body(purpose="fun"), 422, "body.purpose: Input should be"),
        (_body(datasets=[]), 422, "body.datasets: List should have at least 1 item"),
        (_body(end="2026-11-30T00:00:00Z"), 400, "give an end date after the start date"),
        (_body(datasets=["liver-ct"]), 404, "unknown dataset 'liver-ct'"),
        (_body(members=[{"user": "zed"}]), 400, "unknown member(s) zed"),
        (_body(project="Bad Name!"), 400, "project"),
        (_body(compute={"cpus": -1}), 400, "cpus must be between 0 and 256"),
        (_body(project="lung-ai"), 400, "already has permit"),
    ]
    for body, code, message in cases:
        answer = api.client.post(APPLICATIONS, headers=api.as_("alice"), json=body)
        assert (answer.status_code, message in answer.text) == (code, True), answer.text
    assert api.client.post(APPLICATIONS, headers=api.as_("alice"), content=b"{not json",
                           ).status_code == 422
    missing = api.client.get(f"{APPLICATIONS}/app-nope", headers=api.as_("olga"))
    assert missing.status_code == 404
    permit_id = _lung_ai(api, "olga")["id"]
    blank = api.client.post(f"{PERMITS}/{permit_id}/suspend", headers=api.as_("olga"),
                            json={"reason": "  "})
    assert (blank.status_code, "body.reason" in blank.text) == (422, True)
    assert audit_trail(api.node) == before


def test_a_member_applies_to_amend_the_permit_and_an_officer_decides(api: Api) -> None:
    permit = _lung_ai(api)
    outsider = api.client.post(f"{PERMITS}/{permit['id']}/amendments", headers=api.as_("carol"),
                               json={"add_members": [{"user": "carol"}]})
    assert outsider.status_code == 403
    answer = api.client.post(
        f"{PERMITS}/{permit['id']}/amendments", headers=api.as_("bob"),
        json={"add_members": [{"user": "carol"}], "until": "2027-01-31T00:00:00Z",
              "compute": {"cpus": 2, "memory_gb": 8, "gpus": 0, "hours": 50},
              "justification": "carol joins for the validation"})
    assert answer.status_code == 201, answer.text
    amendment = answer.json()
    assert (amendment["kind"], amendment["amends_permit"], amendment["status"],
            amendment["applicant"], amendment["description"]) == (
        "amendment", permit["id"], "submitted", "bob", "carol joins for the validation")
    assert [m["user"] for m in amendment["members"]] == ["alice", "bob", "carol"]
    assert _lung_ai(api) == permit  # nothing changes before the HDAB decides
    assert api.client.get(PERMITS, headers=api.as_("carol")).json() == []

    approved = api.client.post(f"{APPLICATIONS}/{amendment['id']}/approve",
                               headers=api.as_("olga"), json={"reason": "fine"})
    assert approved.status_code == 201, approved.text
    amended = _lung_ai(api, "carol")
    assert (amended["id"], amended["valid_until"], amended["compute"]["hours"]) == (
        permit["id"], "2027-01-31T00:00:00Z", 50)
    assert [m["user"] for m in amended["members"]] == ["alice", "bob", "carol"]
    assert ("olga", "permit.amend", permit["id"], "allowed") in audit_trail(api.node)


def test_bad_amendments_say_what_to_fix_and_write_nothing(api: Api) -> None:
    permit_id = _lung_ai(api)["id"]
    url = f"{PERMITS}/{permit_id}/amendments"
    before = audit_trail(api.node)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 400, "an amendment must change something"),
        ({"add_members": [{"user": "bob"}]}, 400, "bob already in permit"),
        ({"add_members": [{"user": "zed"}]}, 400, "unknown member(s) zed"),
        ({"remove_members": ["alice"]}, 400, "alice cannot remove themselves from permit"),
        ({"until": "2020-01-01T00:00:00Z"}, 400, "end"),
        ({"until": "2027-01-31T00:00:00"}, 422, "body.until: Input should have timezone"),
        ({"compute": {"gpus": -1}}, 400, "gpus"),
        ({"add_members": [{"user": "carol", "role": "boss"}]}, 422,
         "body.add_members.0.role"),
        ({"colour": "red"}, 422, "body.colour: Extra inputs are not permitted"),
    ]
    for body, code, message in cases:
        answer = api.client.post(url, headers=api.as_("alice"), json=body)
        assert (answer.status_code, message in answer.text) == (code, True), (body, answer.text)
    missing = api.client.post(f"{PERMITS}/permit-nope/amendments", headers=api.as_("alice"),
                              json={"add_members": [{"user": "carol"}]})
    assert missing.status_code == 404
    assert audit_trail(api.node) == before
    leaderless = api.client.post(url, headers=api.as_("bob"), json={"remove_members": ["alice"]})
    assert (leaderless.status_code, "a project needs a lead member" in leaderless.text) == (
        400, True)
    assert audit_trail(api.node) == before
    first = api.client.post(url, headers=api.as_("alice"),
                            json={"add_members": [{"user": "carol"}]})
    assert first.status_code == 201, first.text
    second = api.client.post(url, headers=api.as_("alice"), json={"remove_members": ["bob"]})
    assert (second.status_code, "already has an open application" in second.text) == (400, True)


def test_decisions_are_never_made_with_a_workspace_token(api: Api) -> None:
    """Code in a workspace (a co-member's notebook) holds that workspace's token: with it, an
    HDAB officer's decisions and an output checker's review or release are refused before any
    policy is asked, and nothing is written; reading and one's own requests still work."""
    app = _apply(api)
    permit_id = _lung_ai(api)["id"]
    submitted = api.client.post(f"{BASE}/egress-requests", headers=api.from_workspace("alice"),
                                json={"project": "lung-ai", "justification": "site counts",
                                      "files": ["counts.csv"]})
    assert submitted.status_code == 201, submitted.text
    request_id = submitted.json()["id"]
    before = audit_trail(api.node)
    attempts = []
    for user, path, body in (
            ("olga", f"{APPLICATIONS}/{app['id']}/approve", {"reason": "sound"}),
            ("olga", f"{APPLICATIONS}/{app['id']}/reject", {"reason": "unsound"}),
            ("olga", f"{PERMITS}/{permit_id}/revoke", {"reason": "breach"}),
            ("carl", f"{BASE}/egress-requests/{request_id}/files/counts.csv/reviews",
             {"verdict": "approve", "comment": "aggregate only"}),
            ("carl", f"{BASE}/egress-requests/{request_id}/release", None)):
        answer = api.client.post(path, headers=api.from_workspace(user), json=body)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["detail"] == (
            f"this token of {user} cannot decide (it lacks the scope custom:tre:decide, which "
            "the hub gives users' own tokens and never a workspace's): decide from the portal "
            "or with a token made at /hub/token, never from inside a workspace")
        attempts.append((user, "api.decide", f"POST {path.removeprefix('/services/tre-api')}"[:80],
                         "denied"))
    assert audit_trail(api.node) == before + attempts  # each attempt audited, nothing else
    seen = api.client.get(f"{APPLICATIONS}/{app['id']}", headers=api.from_workspace("bob"))
    assert seen.json()["status"] == "submitted"
    approved = api.client.post(f"{APPLICATIONS}/{app['id']}/approve", headers=api.as_("olga"),
                               json={"reason": "sound"})
    assert approved.status_code == 201
