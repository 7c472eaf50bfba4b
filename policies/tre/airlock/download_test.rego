package tre.airlock.download_test

import data.tre.airlock.download

_request(status) := {
	"id": "R-1",
	"project": "lung-ai",
	"status": status,
	"members": [{"user": "alice", "role": "lead"}, {"user": "olive", "role": "observer"}],
}

test_member_downloads_release_allowed if {
	download.decision == {"allow": true, "reasons": ["olive is a member of project lung-ai"]} with input as {"user": "olive", "request": _request("released")}
}

test_outsider_denied if {
	download.decision == {"allow": false, "reasons": ["carl is not a member of project lung-ai"]} with input as {"user": "carl", "request": _request("released")}
}

test_unreleased_denied if {
	download.decision == {"allow": false, "reasons": ["request R-1 is not released"]} with input as {"user": "alice", "request": _request("approved")}
}

test_missing_status_denied if {
	download.decision == {"allow": false, "reasons": ["input.request.status is missing or not a string"]} with input as {"user": "alice", "request": object.remove(_request("released"), ["status"])}
}

test_non_string_project_denied if {
	download.decision == {"allow": false, "reasons": ["input.request.project is missing or not a string"]} with input as {"user": "alice", "request": object.union(_request("released"), {"project": 3})}
}
