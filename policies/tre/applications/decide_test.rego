package tre.applications.decide_test

import data.tre.applications.decide

_application := {
	"id": "A-1",
	"project": "lung-screening",
	"applicant": "alice",
	"members": [{"user": "alice", "role": "lead"}, {"user": "bob", "role": "researcher"}],
	"status": "submitted",
	"kind": "new",
}

_input(name, roles, outcome, reason) := {
	"actor": {"name": name, "roles": roles},
	"application": _application,
	"decision": {"outcome": outcome, "reason": reason},
}

_denied(reasons) := {"allow": false, "reasons": reasons}

test_officer_approves_with_reason_allowed if {
	req := _input("olga", ["hdab_officer"], "approve", "meets the EHDS purposes")
	decide.decision == {"allow": true, "reasons": ["hdab officer olga may approve application A-1"]} with input as req
	decide.deny == set() with input as req
}

test_officer_rejects_with_reason_allowed if {
	req := _input("olga", ["hdab_officer"], "reject", "purpose not covered")
	decide.decision == {"allow": true, "reasons": ["hdab officer olga may reject application A-1"]} with input as req
	decide.deny == set() with input as req
}

test_officer_reviews_without_reason_allowed if {
	req := _input("olga", ["hdab_officer"], "review", "")
	decide.decision == {"allow": true, "reasons": ["hdab officer olga may review application A-1"]} with input as req
	decide.deny == set() with input as req
}

test_approve_with_blank_reason_denied if {
	decide.decision == _denied(["a decision to approve needs a reason"]) with input as _input("olga", ["hdab_officer"], "approve", " \t\n")
}

test_reject_without_reason_denied if {
	decide.decision == _denied(["a decision to reject needs a reason"]) with input as _input("olga", ["hdab_officer"], "reject", "")
}

test_reason_not_a_string_denied if {
	decide.decision == _denied(["a decision to approve needs a reason"]) with input as _input("olga", ["hdab_officer"], "approve", 42)
}

test_researcher_denied if {
	decide.decision == _denied(["carl needs the hdab_officer role to decide on applications"]) with input as _input("carl", ["researcher"], "approve", "fine")
}

test_officer_who_submitted_denied if {
	decide.decision == _denied([
		"hdab officers may not decide on an application they are a member of (alice is in A-1)",
		"hdab officers may not decide on an application they submitted (alice submitted A-1)",
	]) with input as _input("alice", ["hdab_officer", "researcher"], "approve", "fine")
}

test_officer_who_submitted_but_left_denied if {
	req := object.union(
		_input("alice", ["hdab_officer"], "approve", "fine"),
		{"application": {"members": [{"user": "bob", "role": "lead"}]}},
	)
	decide.decision == _denied(["hdab officers may not decide on an application they submitted (alice submitted A-1)"]) with input as req
}

test_officer_who_is_member_denied if {
	decide.decision == _denied(["hdab officers may not decide on an application they are a member of (bob is in A-1)"]) with input as _input("bob", ["hdab_officer"], "review", "")
}

test_unknown_outcome_denied if {
	decide.decision == _denied(["unknown outcome withdraw: use review, approve or reject"]) with input as _input("olga", ["hdab_officer"], "withdraw", "why")
}

test_every_failure_reported_denied if {
	decide.decision == _denied([
		"a decision to approve needs a reason",
		"alice needs the hdab_officer role to decide on applications",
		"hdab officers may not decide on an application they are a member of (alice is in A-1)",
		"hdab officers may not decide on an application they submitted (alice submitted A-1)",
	]) with input as _input("alice", ["researcher"], "approve", "")
}

test_empty_input_denied if {
	decide.decision == _denied([
		"input.actor.name is missing or not a string",
		"input.actor.roles is missing or not a list",
		"input.application.applicant is missing or not a string",
		"input.application.id is missing or not a string",
		"input.application.members is missing or not a list",
		"input.decision.outcome is missing or not a string",
	]) with input as {}
}
