package tre.permits.change_test

import data.tre.permits.change

_permit := {
	"id": "P-1",
	"project": "lung-screening",
	"status": "active",
	"valid_from": 1767225600,
	"valid_until": 1798761600,
	"members": [{"user": "alice", "role": "lead"}, {"user": "bob", "role": "researcher"}],
	"datasets": [{"dataset": "lung-ct", "version": "v1"}],
}

_input(name, roles, action, reason) := {
	"actor": {"name": name, "roles": roles},
	"permit": _permit,
	"change": {"action": action, "reason": reason},
}

_denied(reasons) := {"allow": false, "reasons": reasons}

test_officer_suspends_allowed if {
	req := _input("olga", ["hdab_officer"], "suspend", "incident 42 under investigation")
	change.decision == {"allow": true, "reasons": ["hdab officer olga may suspend permit P-1"]} with input as req
	change.deny == set() with input as req
}

test_officer_reinstates_allowed if {
	req := _input("olga", ["hdab_officer"], "reinstate", "incident 42 closed")
	change.decision == {"allow": true, "reasons": ["hdab officer olga may reinstate permit P-1"]} with input as req
}

test_officer_revokes_allowed if {
	req := _input("olga", ["hdab_officer"], "revoke", "breach of conditions")
	change.decision == {"allow": true, "reasons": ["hdab officer olga may revoke permit P-1"]} with input as req
	change.deny == set() with input as req
}

test_blank_reason_denied if {
	change.decision == _denied(["changing permit P-1 needs a reason"]) with input as _input("olga", ["hdab_officer"], "revoke", "   ")
}

test_reason_not_a_string_denied if {
	change.decision == _denied(["changing permit P-1 needs a reason"]) with input as _input("olga", ["hdab_officer"], "revoke", null)
}

test_operator_denied if {
	change.decision == _denied(["oscar needs the hdab_officer role to change a permit"]) with input as _input("oscar", ["operator"], "suspend", "maintenance")
}

test_officer_who_is_member_denied if {
	change.decision == _denied(["hdab officers may not change a permit they are a member of (bob is in P-1)"]) with input as _input("bob", ["hdab_officer"], "reinstate", "my own permit")
}

test_unknown_action_denied if {
	change.decision == _denied(["unknown action expire: use suspend, reinstate or revoke"]) with input as _input("olga", ["hdab_officer"], "expire", "end of period")
}

test_every_failure_reported_denied if {
	change.decision == _denied([
		"alice needs the hdab_officer role to change a permit",
		"changing permit P-1 needs a reason",
		"hdab officers may not change a permit they are a member of (alice is in P-1)",
		"unknown action delete: use suspend, reinstate or revoke",
	]) with input as _input("alice", ["researcher"], "delete", "")
}

test_empty_input_denied if {
	change.decision == _denied([
		"input.actor.name is missing or not a string",
		"input.actor.roles is missing or not a list",
		"input.change.action is missing or not a string",
		"input.permit.id is missing or not a string",
		"input.permit.members is missing or not a list",
	]) with input as {}
}
