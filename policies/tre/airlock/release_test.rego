package tre.airlock.release_test

import data.tre.airlock.release

_request(status) := {
	"id": "R-1",
	"project": "lung-ai",
	"author": "alice",
	"status": status,
	"members": [{"user": "alice", "role": "lead"}, {"user": "olive", "role": "observer"}],
}

_checker(name) := {"name": name, "roles": ["output_checker"]}

test_outside_checker_releases_approved_allowed if {
	release.decision == {"allow": true, "reasons": ["output checker carol may release request R-1"]} with input as {"actor": _checker("carol"), "request": _request("approved")}
}

test_partially_approved_allowed if {
	release.allow with input as {"actor": _checker("carol"), "request": _request("partially_approved")}
}

test_researcher_denied if {
	release.decision == {"allow": false, "reasons": ["bob needs the output_checker role to release outputs"]} with input as {"actor": {"name": "bob", "roles": ["researcher"]}, "request": _request("approved")}
}

test_author_denied_even_as_checker if {
	release.decision == {"allow": false, "reasons": ["alice is a member of project lung-ai and may not release its outputs", "alice may not release their own request R-1"]} with input as {"actor": _checker("alice"), "request": _request("approved")}
}

test_member_checker_denied if {
	release.decision == {"allow": false, "reasons": ["olive is a member of project lung-ai and may not release its outputs"]} with input as {"actor": _checker("olive"), "request": _request("approved")}
}

test_undecided_denied if {
	release.decision == {"allow": false, "reasons": ["request R-1 is in_review: only an approved or partially approved request is released"]} with input as {"actor": _checker("carol"), "request": _request("in_review")}
}

test_missing_members_denied if {
	release.decision == {"allow": false, "reasons": ["input.request.members is missing or not a list"]} with input as {"actor": _checker("carol"), "request": object.remove(_request("approved"), ["members"])}
}

test_missing_roles_denied if {
	release.decision == {"allow": false, "reasons": ["carol needs the output_checker role to release outputs"]} with input as {"actor": {"name": "carol"}, "request": _request("approved")}
}
