package tre.sandboxes.create_test

import data.tre.sandboxes.create

_twin := {"dataset": "lung-ct-synth", "version": "v1", "synthetic": true}

_real := {"dataset": "lung-ct", "version": "v1", "synthetic": false}

_sandbox(owner, datasets) := {"name": "nodule-proto", "owner": owner, "members": ["bob"], "datasets": datasets}

_input(name, roles, sandbox) := {"actor": {"name": name, "roles": roles}, "sandbox": sandbox}

_denied(reasons) := {"allow": false, "reasons": reasons}

test_sme_creates_synthetic_allowed if {
	req := _input("sam", ["sme_developer"], _sandbox("sam", [_twin]))
	create.decision == {"allow": true, "reasons": ["sam may create sandbox nodule-proto (synthetic data only)"]} with input as req
	create.deny == set() with input as req
}

test_researcher_creates_allowed if {
	req := _input("alice", ["researcher"], _sandbox("alice", [_twin]))
	create.decision.allow with input as req
}

test_real_dataset_denied if {
	req := _input("sam", ["sme_developer"], _sandbox("sam", [_real, _twin]))
	create.decision == _denied(["lung-ct@v1 is not synthetic: real data needs a data permit (tre permits apply)"]) with input as req
}

test_no_dataset_denied if {
	req := _input("sam", ["sme_developer"], _sandbox("sam", []))
	create.decision == _denied(["sandbox nodule-proto needs at least one synthetic dataset (--dataset D@V)"]) with input as req
}

test_for_someone_else_denied if {
	req := _input("sam", ["sme_developer"], _sandbox("bob", [_twin]))
	create.decision == _denied(["sam may only create a sandbox they own (owner is bob)"]) with input as req
}

test_officer_denied if {
	req := _input("olga", ["hdab_officer"], _sandbox("olga", [_twin]))
	create.decision == _denied(["olga needs the sme_developer or researcher role to create a sandbox"]) with input as req
}

test_malformed_denied if {
	req := _input("sam", ["sme_developer"], {"name": "nodule-proto", "owner": "sam", "datasets": [_twin]})
	create.decision == _denied(["the sandbox in the input is malformed (see docs/policies.md)"]) with input as req
}

test_malformed_dataset_denied if {
	req := _input("sam", ["sme_developer"], _sandbox("sam", [{"dataset": "lung-ct-synth"}]))
	create.decision == _denied(["sandbox nodule-proto lists a malformed dataset (see docs/policies.md)"]) with input as req
}

test_empty_input_denied if {
	create.decision == _denied([
		"input.actor.name is missing or not a string",
		"input.actor.roles is missing or not a list",
		"no sandbox in the input",
	]) with input as {}
}
