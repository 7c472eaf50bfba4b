package tre.applications.withdraw_test

import data.tre.applications.withdraw

_application := {
	"id": "A-1",
	"project": "lung-screening",
	"applicant": "alice",
	"members": [{"user": "alice", "role": "lead"}, {"user": "bob", "role": "researcher"}],
	"status": "submitted",
	"kind": "new",
}

_input(name, roles) := {"actor": {"name": name, "roles": roles}, "application": _application}

_denied(reasons) := {"allow": false, "reasons": reasons}

test_applicant_allowed if {
	req := _input("alice", ["researcher"])
	withdraw.decision == {"allow": true, "reasons": ["alice may withdraw application A-1 as its applicant"]} with input as req
	withdraw.deny == set() with input as req
}

test_applicant_without_roles_allowed if {
	req := _input("alice", [])
	withdraw.decision == {"allow": true, "reasons": ["alice may withdraw application A-1 as its applicant"]} with input as req
}

test_member_not_applicant_denied if {
	withdraw.decision == _denied(["only the applicant of application A-1 (alice) may withdraw it, not bob"]) with input as _input("bob", ["researcher"])
}

test_hdab_officer_denied if {
	withdraw.decision == _denied(["only the applicant of application A-1 (alice) may withdraw it, not olga"]) with input as _input("olga", ["hdab_officer"])
}

test_actor_name_not_a_string_denied if {
	withdraw.decision == _denied(["input.actor.name is missing or not a string"]) with input as _input(["alice"], ["researcher"])
}

test_empty_input_denied if {
	withdraw.decision == _denied([
		"input.actor.name is missing or not a string",
		"input.application.applicant is missing or not a string",
		"input.application.id is missing or not a string",
	]) with input as {}
}
