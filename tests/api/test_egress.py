"""Every egress endpoint through the HTTP layer: status codes, bodies, the audit trail."""

from __future__ import annotations

import json
import os
from typing import Any

from api.conftest import BASE, Api
from sqlalchemy import select

from factories import audit_trail
from tre.db.schema import AuditEventRow

REQUESTS = f"{BASE}/egress-requests"


def _submit(api: Api, files: list[str], user: str = "alice") -> Any:
    return api.client.post(REQUESTS, headers=api.as_(user), json={
        "project": "lung-ai", "justification": "site counts for the paper", "files": files})


def _download_files(api: Api) -> list[tuple[str, str, Any]]:
    """(actor, outcome, details) of every airlock.download event, oldest first."""
    with api.node.db.read_engine.connect() as conn:
        rows = conn.execute(select(AuditEventRow.actor, AuditEventRow.outcome,
                                   AuditEventRow.details)
                            .where(AuditEventRow.action == "airlock.download")
                            .order_by(AuditEventRow.seq))
        return [(r.actor, r.outcome, json.loads(r.details)) for r in rows]


def _airlock_events(api: Api) -> list[tuple[str, str, str]]:
    return [(actor, action, outcome) for actor, action, _, outcome in audit_trail(api.node)
            if action.startswith("airlock.")]


def test_submit_review_release_download(api: Api) -> None:
    answer = _submit(api, ["counts.csv"])
    assert answer.status_code == 201, answer.text
    body = answer.json()
    request_id = body["id"]
    permit = body["permit"]
    assert body == {
        "id": request_id, "project": "lung-ai", "permit": permit, "author": "alice",
        "justification": "site counts for the paper", "status": "submitted",
        "status_reason": None, "created_at": body["created_at"], "released_at": None,
        "files": [{"name": "counts.csv", "sha256": body["files"][0]["sha256"], "size": 17,
                   "kind": "table", "worst": "info", "findings": [], "reviews": []}]}
    assert api.client.get(f"{REQUESTS}/{request_id}", headers=api.as_("bob")).json() == body

    reviewed = api.client.post(f"{REQUESTS}/{request_id}/files/counts.csv/reviews",
                               headers=api.as_("carl"),
                               json={"verdict": "approve", "comment": "counts above 10"})
    assert reviewed.status_code == 201, reviewed.text
    assert (reviewed.json()["status"],
            [(r["reviewer"], r["verdict"]) for r in reviewed.json()["files"][0]["reviews"]]) \
        == ("approved", [("carl", "approve")])

    released = api.client.post(f"{REQUESTS}/{request_id}/release", headers=api.as_("cleo"))
    assert released.status_code == 200, released.text
    assert (released.json()["request"]["status"], released.json()["files"]) == (
        "released", ["counts.csv"])

    download = f"{REQUESTS}/{request_id}/release/files/counts.csv"
    got = api.client.get(download, headers=api.as_("bob"))
    assert (got.status_code, got.content, got.headers["content-disposition"]) == (
        200, b"site,n\nA,25\nB,31\n", 'attachment; filename="counts.csv"')
    assert _airlock_events(api) == [
        ("alice", "airlock.create", "allowed"), ("alice", "airlock.submit", "allowed"),
        ("carl", "airlock.review", "allowed"), ("carl", "airlock.approved", "allowed"),
        ("cleo", "airlock.release", "allowed"), ("bob", "airlock.download", "allowed")]


def test_non_member_cannot_download_a_release(api: Api) -> None:
    request_id = _submit(api, ["counts.csv"]).json()["id"]
    api.client.post(f"{REQUESTS}/{request_id}/files/counts.csv/reviews", headers=api.as_("carl"),
                    json={"verdict": "approve", "comment": "ok"})
    api.client.post(f"{REQUESTS}/{request_id}/release", headers=api.as_("carl"))
    got = api.client.get(f"{REQUESTS}/{request_id}/release/files/counts.csv",
                         headers=api.as_("carol"))
    assert (got.status_code, got.json()) == (403, {
        "detail": "denied by policy egress_download: carol is not a member of project lung-ai",
        "decision": "egress_download", "reasons": ["carol is not a member of project lung-ai"]})
    missing = api.client.get(f"{REQUESTS}/{request_id}/release/files/..%2F..%2Ftre.db",
                             headers=api.as_("bob"))
    assert (missing.status_code, missing.json()["detail"]) == (
        404, f"../../tre.db is not among the released files of {request_id}: counts.csv")
    assert _airlock_events(api)[-2:] == [("carol", "airlock.download", "denied"),
                                         ("bob", "airlock.download", "allowed")]
    assert _download_files(api) == [("carol", "denied", {"file": "counts.csv"}),
                                    ("bob", "allowed", {"file": "../../tre.db"})]


def test_author_reviewing_own_request_is_denied_by_policy(api: Api) -> None:
    request_id = _submit(api, ["counts.csv"]).json()["id"]
    answer = api.client.post(f"{REQUESTS}/{request_id}/files/counts.csv/reviews",
                             headers=api.as_("alice"),
                             json={"verdict": "approve", "comment": "looks fine to me"})
    assert answer.status_code == 403
    assert answer.json()["reasons"] == [
        "alice is a member of project lung-ai and may not review its outputs",
        f"alice may not review their own request {request_id}",
        "alice needs the output_checker role to review outputs"]
    assert _airlock_events(api)[-1] == ("alice", "airlock.review", "denied")


def test_unreleased_request_cannot_be_downloaded_or_released_early(api: Api) -> None:
    request_id = _submit(api, ["counts.csv"]).json()["id"]
    got = api.client.get(f"{REQUESTS}/{request_id}/release/files/counts.csv",
                         headers=api.as_("alice"))
    assert (got.status_code, got.json()["reasons"]) == (
        403, [f"request {request_id} is not released"])
    early = api.client.post(f"{REQUESTS}/{request_id}/release", headers=api.as_("carl"))
    assert (early.status_code, early.json()["reasons"]) == (403, [
        f"request {request_id} is submitted: only an approved or partially approved request "
        "is released"])
    by_author = api.client.post(f"{REQUESTS}/{request_id}/release", headers=api.as_("alice"))
    assert (by_author.status_code, by_author.json()["reasons"]) == (403, [
        "alice is a member of project lung-ai and may not release its outputs",
        f"alice may not release their own request {request_id}",
        "alice needs the output_checker role to release outputs",
        f"request {request_id} is submitted: only an approved or partially approved request "
        "is released"])


def test_intake_refusals_are_400_with_the_reason(api: Api) -> None:
    outputs = api.outputs("alice")
    os.symlink("/etc/passwd", outputs / "passwd.csv")
    for name, why in [("passwd.csv", "symbolic link"), ("../bob/x.csv", ".."),
                      ("missing.csv", "missing.csv")]:
        answer = _submit(api, [name])
        assert answer.status_code == 400, answer.text
        assert why in answer.json()["detail"]
    assert _airlock_events(api) == [("alice", "airlock.submit", "refused")] * 3


def test_only_members_who_read_data_may_submit(api: Api) -> None:
    (api.outputs("carol") / "counts.csv").write_text("site,n\nA,25\n")
    answer = _submit(api, ["counts.csv"], user="carol")
    assert answer.status_code == 403
    assert answer.json()["decision"] == "egress_submit"
    assert answer.json()["reasons"][0].startswith("carol is not a lead or researcher of permit")


def test_requests_are_seen_by_members_and_checkers_only(api: Api) -> None:
    request_id = _submit(api, ["counts.csv"]).json()["id"]
    for user, seen in [("alice", [request_id]), ("bob", [request_id]), ("carl", [request_id]),
                       ("olga", [request_id]), ("carol", []), ("dan", [])]:
        listed = api.client.get(REQUESTS, headers=api.as_(user))
        assert (user, [r["id"] for r in listed.json()]) == (user, seen)
    assert api.client.get(REQUESTS, headers=api.as_("carl"),
                          params={"status": "released"}).json() == []
    assert [r["id"] for r in api.client.get(REQUESTS, headers=api.as_("carl"), params={
        "project": "lung-ai", "status": "submitted"}).json()] == [request_id]
    other = api.client.get(f"{REQUESTS}/{request_id}", headers=api.as_("carol"))
    assert (other.status_code, other.json()["detail"]) == (
        403, f"carol may not see request {request_id}: only members of project lung-ai, "
        "output checkers and HDAB officers can")
    assert api.client.get(f"{REQUESTS}/E-000000000000", headers=api.as_("alice")
                          ).status_code == 404


def test_only_the_author_withdraws(api: Api) -> None:
    request_id = _submit(api, ["counts.csv"]).json()["id"]
    by_bob = api.client.post(f"{REQUESTS}/{request_id}/withdraw", headers=api.as_("bob"))
    assert (by_bob.status_code, by_bob.json()["detail"]) == (
        403, f"only the author (alice) may withdraw {request_id}")
    done = api.client.post(f"{REQUESTS}/{request_id}/withdraw", headers=api.as_("alice"))
    assert (done.status_code, done.json()["status"]) == (200, "withdrawn")
    again = api.client.post(f"{REQUESTS}/{request_id}/withdraw", headers=api.as_("alice"))
    assert again.status_code == 409


def test_bad_bodies_are_422_naming_what_to_fix(api: Api) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"project": "lung-ai", "justification": "x"}, "body.files: Field required"),
        ({"project": "lung-ai", "justification": "x", "files": []},
         "body.files: List should have at least 1 item after validation, not 0"),
        ({"project": "lung-ai", "justification": "  ", "files": ["a.csv"]},
         "body.justification: String should have at least 1 character"),
        ({"project": "lung-ai", "justification": "x", "files": ["a.csv"], "extra": 1},
         "body.extra: Extra inputs are not permitted"),
    ]
    for body, problem in cases:
        answer = api.client.post(REQUESTS, headers=api.as_("alice"), json=body)
        assert answer.status_code == 422
        assert answer.json()["reasons"] == [problem]
    review = api.client.post(f"{REQUESTS}/E-1/files/a.csv/reviews", headers=api.as_("carl"),
                             json={"verdict": "maybe", "comment": "hm"})
    assert (review.status_code, review.json()["reasons"]) == (
        422, ["body.verdict: Input should be 'approve' or 'reject'"])
    assert api.client.get(REQUESTS, headers=api.as_("carl"), params={"status": "odd"}
                          ).status_code == 422
    assert _airlock_events(api) == []


def test_unauthenticated_calls_are_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "token not-a-known-one"},
                    {"Authorization": "Basic YWxpY2U6eA=="}):
        answer = api.client.get(REQUESTS, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "token"
    assert api.client.get(REQUESTS, headers={"Authorization": "Bearer token-alice"}
                          ).status_code == 200
