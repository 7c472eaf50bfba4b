package tre.sandboxes.access_test

import data.tre.sandboxes.access

_twin := {"dataset": "lung-ct-synth", "version": "v1", "synthetic": true}

_real := {"dataset": "lung-ct", "version": "v1", "synthetic": false}

_sandbox(status, datasets) := {
	"id": "sbx-1",
	"name": "nodule-proto",
	"owner": "sam",
	"members": ["bob"],
	"status": status,
	"datasets": datasets,
}

_input(name, roles, sandbox) := {"user": {"name": name, "roles": roles}, "sandbox": sandbox}

_denied(reasons) := {"allow": false, "reasons": reasons}

test_owner_sme_allowed if {
	req := _input("sam", ["sme_developer"], _sandbox("active", [_twin]))
	access.decision == {"allow": true, "reasons": ["sam may use sandbox nodule-proto (synthetic data only)"]} with input as req
	access.deny == set() with input as req
}

test_member_researcher_allowed if {
	req := _input("bob", ["researcher"], _sandbox("active", [_twin]))
	access.decision == {"allow": true, "reasons": ["bob may use sandbox nodule-proto (synthetic data only)"]} with input as req
}

test_real_dataset_denied if {
	req := _input("sam", ["sme_developer"], _sandbox("active", [_twin, _real]))
	access.decision == _denied(["lung-ct@v1 is not synthetic: real data needs a data permit (tre permits apply)"]) with input as req
}

test_dataset_without_flag_denied if {
	req := _input("sam", ["sme_developer"], _sandbox("active", [{"dataset": "x", "version": "v2"}]))
	access.decision == _denied(["x@v2 is not synthetic: real data needs a data permit (tre permits apply)"]) with input as req
}

test_flag_not_boolean_true_denied if {
	twin := object.union(_twin, {"synthetic": "true"})
	req := _input("sam", ["sme_developer"], _sandbox("active", [twin]))
	access.decision == _denied(["lung-ct-synth@v1 is not synthetic: real data needs a data permit (tre permits apply)"]) with input as req
}

test_closed_sandbox_denied if {
	req := _input("sam", ["sme_developer"], _sandbox("closed", [_twin]))
	access.decision == _denied(["sandbox nodule-proto is closed"]) with input as req
}

test_outsider_denied if {
	req := _input("mallory", ["sme_developer"], _sandbox("active", [_twin]))
	access.decision == _denied(["mallory is not the owner or a member of sandbox nodule-proto"]) with input as req
}

test_officer_member_denied if {
	req := _input("bob", ["hdab_officer"], _sandbox("active", [_twin]))
	access.decision == _denied(["bob needs the sme_developer or researcher role to use a sandbox"]) with input as req
}

test_malformed_dataset_denied if {
	req := _input("sam", ["sme_developer"], _sandbox("active", [_twin, "lung-ct@v1"]))
	access.decision == _denied(["sandbox nodule-proto lists a malformed dataset (see docs/policies.md)"]) with input as req
}

test_no_sandbox_denied if {
	access.decision == _denied(["no sandbox in the input"]) with input as {"user": {"name": "sam", "roles": ["sme_developer"]}}
}

test_malformed_sandbox_denied if {
	req := _input("sam", ["sme_developer"], {"name": "nodule-proto"})
	access.decision == _denied(["the sandbox in the input is malformed (see docs/policies.md)"]) with input as req
}

test_every_failure_reported_denied if {
	req := {"user": {"name": "mallory"}, "sandbox": _sandbox("closed", [_real])}
	access.decision == _denied([
		"input.user.roles is missing or not a list",
		"lung-ct@v1 is not synthetic: real data needs a data permit (tre permits apply)",
		"mallory is not the owner or a member of sandbox nodule-proto",
		"sandbox nodule-proto is closed",
	]) with input as req
}

test_empty_input_denied if {
	access.decision == _denied([
		"input.user.name is missing or not a string",
		"input.user.roles is missing or not a list",
		"no sandbox in the input",
	]) with input as {}
}
