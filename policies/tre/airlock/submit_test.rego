package tre.airlock.submit_test

import data.tre.airlock.submit

_permit := {
	"id": "P-1",
	"project": "lung-ai",
	"status": "active",
	"valid_from": 1000,
	"valid_until": 2000,
	"members": [{"user": "alice", "role": "lead"}, {"user": "olive", "role": "observer"}],
	"datasets": [{"dataset": "lung-ct", "version": "v1"}],
	"egress": "aggregate",
}

_input(name, now, permit) := {"actor": {"name": name, "roles": ["researcher"]}, "now": now, "permit": permit}

test_member_in_force_allowed if {
	submit.decision == {"allow": true, "reasons": ["alice may submit outputs of project lung-ai"]} with input as _input("alice", 1500, _permit)
}

test_observer_denied if {
	submit.decision == {"allow": false, "reasons": ["olive is not a lead or researcher of permit P-1"]} with input as _input("olive", 1500, _permit)
}

test_expired_permit_denied if {
	submit.decision == {"allow": false, "reasons": ["permit P-1 is not in force"]} with input as _input("alice", 2000, _permit)
}

test_egress_none_denied if {
	submit.decision == {"allow": false, "reasons": ["permit P-1 lets nothing leave (egress profile none)"]} with input as _input("alice", 1500, object.union(_permit, {"egress": "none"}))
}

test_no_permit_denied if {
	submit.decision == {"allow": false, "reasons": ["the project has no permit"]} with input as {"actor": {"name": "alice"}, "now": 1500}
}

test_missing_now_denied if {
	submit.decision == {"allow": false, "reasons": ["input.now is missing or not a number"]} with input as {"actor": {"name": "alice"}, "permit": _permit}
}

test_missing_egress_denied if {
	submit.decision == {"allow": false, "reasons": ["permit P-1 has no egress profile"]} with input as _input("alice", 1500, object.remove(_permit, ["egress"]))
}
