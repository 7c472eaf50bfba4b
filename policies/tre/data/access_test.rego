package tre.data.access_test

import data.tre.data.access

_valid_from := 1767225600

_valid_until := 1798761600

_permit := {
	"id": "P-1",
	"project": "lung-screening",
	"status": "active",
	"valid_from": _valid_from,
	"valid_until": _valid_until,
	"members": [
		{"user": "alice", "role": "lead"},
		{"user": "bob", "role": "researcher"},
		{"user": "carol", "role": "observer"},
	],
	"datasets": [{"dataset": "lung-ct", "version": "v1"}],
}

_request := {
	"user": "alice",
	"project": "lung-screening",
	"dataset": "lung-ct",
	"version": "v1",
	"now": 1780000000.5,
	"permit": _permit,
}

_with_permit(changes) := object.union(_request, {"permit": object.union(_permit, changes)})

_granted(user) := {
	"allow": true,
	"reasons": [sprintf("permit P-1 grants %s lung-ct@v1 in project lung-screening", [user])],
}

_denied(reasons) := {"allow": false, "reasons": reasons}

test_lead_with_active_permit_allowed if {
	access.decision == _granted("alice") with input as _request
	access.deny == set() with input as _request
}

test_researcher_with_active_permit_allowed if {
	req := object.union(_request, {"user": "bob"})
	access.decision == _granted("bob") with input as req
	access.deny == set() with input as req
}

test_at_valid_from_allowed if {
	req := object.union(_request, {"now": _valid_from})
	access.decision == _granted("alice") with input as req
}

test_just_before_valid_until_allowed if {
	req := object.union(_request, {"now": 1798761599.999})
	access.decision == _granted("alice") with input as req
}

test_at_valid_until_denied if {
	req := object.union(_request, {"now": _valid_until})
	access.decision == _denied(["permit P-1 has expired"]) with input as req
}

test_before_valid_from_denied if {
	req := object.union(_request, {"now": _valid_from - 0.001})
	access.decision == _denied(["permit P-1 is not yet valid"]) with input as req
}

test_missing_permit_denied if {
	req := object.remove(_request, ["permit"])
	access.decision == _denied(["no permit for project lung-screening"]) with input as req
}

test_null_permit_denied if {
	req := object.union(_request, {"permit": null})
	access.decision == _denied(["no permit for project lung-screening"]) with input as req
}

test_permit_of_other_project_denied if {
	req := object.union(_request, {"project": "brain-mri"})
	access.decision == _denied(["permit P-1 is for project lung-screening, not brain-mri"]) with input as req
}

test_suspended_permit_denied if {
	access.decision == _denied(["permit P-1 is suspended"]) with input as _with_permit({"status": "suspended"})
}

test_revoked_permit_denied if {
	access.decision == _denied(["permit P-1 is revoked"]) with input as _with_permit({"status": "revoked"})
}

test_expired_status_denied if {
	access.decision == _denied(["permit P-1 is expired"]) with input as _with_permit({"status": "expired"})
}

test_non_member_denied if {
	req := object.union(_request, {"user": "mallory"})
	access.decision == _denied(["mallory is not a member of permit P-1"]) with input as req
}

test_removed_member_denied if {
	req := _with_permit({"members": [{"user": "bob", "role": "researcher"}]})
	access.decision == _denied(["alice is not a member of permit P-1"]) with input as req
}

test_observer_denied if {
	req := object.union(_request, {"user": "carol"})
	access.decision == _denied(["observers may not read data: carol is an observer of permit P-1"]) with input as req
}

test_unknown_project_role_denied if {
	req := _with_permit({"members": [{"user": "alice", "role": "auditor"}]})
	access.decision == _denied(["alice has no project role that reads data in permit P-1"]) with input as req
}

test_observer_and_lead_entries_allowed if {
	req := _with_permit({"members": [{"user": "alice", "role": "observer"}, {"user": "alice", "role": "lead"}]})
	access.decision == _granted("alice") with input as req
}

test_wrong_version_denied if {
	req := object.union(_request, {"version": "v2"})
	access.decision == _denied(["permit P-1 does not grant lung-ct@v2"]) with input as req
}

test_wrong_dataset_denied if {
	req := object.union(_request, {"dataset": "brain-mri"})
	access.decision == _denied(["permit P-1 does not grant brain-mri@v1"]) with input as req
}

test_every_failure_reported_denied if {
	req := object.union(_request, {
		"user": "carol",
		"project": "other",
		"version": "v9",
		"now": _valid_until + 1,
		"permit": object.union(_permit, {"status": "suspended"}),
	})
	access.decision == _denied([
		"observers may not read data: carol is an observer of permit P-1",
		"permit P-1 does not grant lung-ct@v9",
		"permit P-1 has expired",
		"permit P-1 is for project lung-screening, not other",
		"permit P-1 is suspended",
	]) with input as req
}

test_empty_input_denied if {
	access.decision == _denied([
		"input.dataset is missing or not a string",
		"input.now is missing or not a number (Unix seconds)",
		"input.project is missing or not a string",
		"input.user is missing or not a string",
		"input.version is missing or not a string",
		"no permit for this project",
	]) with input as {}
}

test_non_object_input_denied if {
	access.decision.allow == false with input as ["alice"]
}

test_now_as_string_denied if {
	req := object.union(_request, {"now": "2026-06-01T00:00:00Z"})
	access.decision == _denied(["input.now is missing or not a number (Unix seconds)"]) with input as req
}

test_user_as_number_denied if {
	req := object.union(_request, {"user": 7})
	access.decision == _denied(["input.user is missing or not a string"]) with input as req
}

test_malformed_permit_denied if {
	req := _with_permit({"valid_until": "2027-01-01"})
	access.decision == _denied(["the permit in the input is malformed (see docs/policies.md)"]) with input as req
}

test_members_not_a_list_denied if {
	req := _with_permit({"members": {"alice": "lead"}})
	access.decision == _denied(["the permit in the input is malformed (see docs/policies.md)"]) with input as req
}

# The permit held as policy data (data.permits), named by its revision in a five-field query.

_held := {"lung-screening": object.union(_permit, {"revision": "r-1"})}

_query := object.union(object.remove(_request, ["permit"]), {"permit_revision": "r-1"})

test_held_permit_at_named_revision_allowed if {
	access.decision == _granted("alice") with input as _query with data.permits as _held
	access.deny == set() with input as _query with data.permits as _held
}

test_held_permit_judged_like_input_permit_denied if {
	held := {"lung-screening": object.union(_permit, {"revision": "r-1", "status": "suspended"})}
	req := object.union(_query, {"user": "carol"})
	access.decision == _denied([
		"observers may not read data: carol is an observer of permit P-1",
		"permit P-1 is suspended",
	]) with input as req with data.permits as held
}

test_held_permit_at_other_revision_denied if {
	req := object.union(_query, {"permit_revision": "r-2"})
	access.decision == _denied(["policy data holds no permit of project lung-screening at revision r-2 (stale engine data)"]) with input as req with data.permits as _held
}

test_named_revision_without_held_permit_denied if {
	access.decision == _denied(["policy data holds no permit of project lung-screening at revision r-1 (stale engine data)"]) with input as _query
}

test_named_revision_ignores_input_permit_denied if {
	req := object.union(_request, {"permit_revision": "r-2"})
	access.decision == _denied(["policy data holds no permit of project lung-screening at revision r-2 (stale engine data)"]) with input as req with data.permits as _held
}

test_held_permit_of_other_project_not_used_denied if {
	req := object.union(_query, {"project": "brain-mri"})
	access.decision == _denied(["policy data holds no permit of project brain-mri at revision r-1 (stale engine data)"]) with input as req with data.permits as _held
}

test_revision_without_project_denied if {
	req := object.remove(_query, ["project"])
	access.decision == _denied([
		"input.project is missing or not a string",
		"policy data holds no permit at revision r-1 (stale engine data)",
	]) with input as req with data.permits as _held
}

test_held_permit_at_expiry_second_denied if {
	req := object.union(_query, {"now": _valid_until})
	access.decision == _denied(["permit P-1 has expired"]) with input as req with data.permits as _held
}
