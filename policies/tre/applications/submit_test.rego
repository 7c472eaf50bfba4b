package tre.applications.submit_test

import data.tre.applications.submit

_application := {
	"id": "A-1",
	"project": "lung-screening",
	"applicant": "alice",
	"members": [{"user": "alice", "role": "lead"}, {"user": "bob", "role": "researcher"}],
	"status": "draft",
	"kind": "new",
}

_input(name, roles) := {"actor": {"name": name, "roles": roles}, "application": _application}

_denied(reasons) := {"allow": false, "reasons": reasons}

test_applicant_researcher_allowed if {
	req := _input("alice", ["researcher"])
	submit.decision == {"allow": true, "reasons": ["alice may submit application A-1 as its applicant"]} with input as req
	submit.deny == set() with input as req
}

test_applicant_sme_developer_allowed if {
	req := _input("alice", ["data_holder", "sme_developer"])
	submit.decision == {"allow": true, "reasons": ["alice may submit application A-1 as its applicant"]} with input as req
	submit.deny == set() with input as req
}

test_applicant_without_applicant_role_denied if {
	submit.decision == _denied(["alice needs the researcher or sme_developer role to submit an application"]) with input as _input("alice", ["hdab_officer"])
}

test_applicant_without_roles_denied if {
	submit.decision == _denied(["alice needs the researcher or sme_developer role to submit an application"]) with input as _input("alice", [])
}

test_other_researcher_denied if {
	submit.decision == _denied(["only the applicant of application A-1 (alice) may submit it, not bob"]) with input as _input("bob", ["researcher"])
}

test_other_user_without_role_denied if {
	submit.decision == _denied([
		"mallory needs the researcher or sme_developer role to submit an application",
		"only the applicant of application A-1 (alice) may submit it, not mallory",
	]) with input as _input("mallory", ["operator"])
}

test_roles_not_a_list_denied if {
	submit.decision == _denied([
		"alice needs the researcher or sme_developer role to submit an application",
		"input.actor.roles is missing or not a list",
	]) with input as _input("alice", "researcher")
}

test_missing_application_id_denied if {
	req := {"actor": {"name": "alice", "roles": ["researcher"]}, "application": object.remove(_application, ["id"])}
	submit.decision == _denied(["input.application.id is missing or not a string"]) with input as req
}

test_empty_input_denied if {
	submit.decision == _denied([
		"input.actor.name is missing or not a string",
		"input.actor.roles is missing or not a list",
		"input.application.applicant is missing or not a string",
		"input.application.id is missing or not a string",
	]) with input as {}
}

test_non_object_input_denied if {
	submit.decision.allow == false with input as "alice"
}
