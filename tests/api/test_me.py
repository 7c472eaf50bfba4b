"""``/me``, the OpenAPI document and callers the node does not know."""

from __future__ import annotations

from api.conftest import BASE, Api


def test_me_lists_roles_and_projects(api: Api) -> None:
    answer = api.client.get(f"{BASE}/me", headers=api.as_("bob"))
    permit = api.client.get(f"{BASE}/me", headers=api.as_("alice")).json()["projects"][0]
    assert answer.json() == {"name": "bob", "roles": ["researcher"], "projects": [
        {"project": "lung-ai", "permit": permit["permit"], "role": "researcher",
         "permit_status": "active"}]}
    assert permit["role"] == "lead"
    assert api.client.get(f"{BASE}/me", headers=api.as_("carl")).json() == {
        "name": "carl", "roles": ["output_checker"], "projects": []}


def test_hub_user_unknown_to_tre_is_403(api: Api) -> None:
    answer = api.client.get(f"{BASE}/me", headers=api.as_("mallory"))
    assert (answer.status_code, answer.json()["detail"]) == (
        403, "mallory is not a user of this tre node: the operator adds them with "
        "`tre users add mallory --role ...`")


def test_openapi_document_lists_every_endpoint(api: Api) -> None:
    doc = api.client.get(f"{BASE}/openapi.json").json()
    assert sorted((path.removeprefix(BASE), sorted(ops)) for path, ops in doc["paths"].items()) \
        == [("/applications", ["get", "post"]),
            ("/applications/{application_id}", ["get"]),
            ("/applications/{application_id}/approve", ["post"]),
            ("/applications/{application_id}/reject", ["post"]),
            ("/applications/{application_id}/submit", ["post"]),
            ("/applications/{application_id}/withdraw", ["post"]),
            ("/datasets", ["get"]),
            ("/datasets/{dataset_id}", ["get"]),
            ("/egress-requests", ["get", "post"]),
            ("/egress-requests/{request_id}", ["get"]),
            ("/egress-requests/{request_id}/files/{name}/reviews", ["post"]),
            ("/egress-requests/{request_id}/release", ["post"]),
            ("/egress-requests/{request_id}/release/files/{name}", ["get"]),
            ("/egress-requests/{request_id}/withdraw", ["post"]),
            ("/me", ["get"]),
            ("/permits", ["get"]),
            ("/permits/{permit_id}", ["get"]),
            ("/permits/{permit_id}/amendments", ["post"]),
            ("/permits/{permit_id}/{action}", ["post"])]
    assert "JupyterHub token" in doc["components"]["securitySchemes"]
