# METADATA
# title: Submit an egress (airlock) request
# description: |
#   May input.actor ask to take files out of input.permit's project at input.now? Only a member
#   whose project role reads data (lead or researcher), under an active permit inside its
#   period, whose egress profile lets anything leave.
# related_resources:
#   - ref: docs/airlock.md
package tre.airlock.submit

# METADATA
# description: Allowed only when every condition holds; anything missing or malformed denies.
default allow := false

allow if {
	is_string(input.actor.name)
	is_number(input.now)
	_in_force
	_data_member
	input.permit.egress in {"aggregate", "models"}
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("%s may submit outputs of project %s", [input.actor.name, input.permit.project])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_actor := input.actor.name if is_string(input.actor.name)

_permit := input.permit.id if is_string(input.permit.id)

_in_force if {
	input.permit.status == "active"
	is_number(input.permit.valid_from)
	is_number(input.permit.valid_until)
	input.permit.valid_from <= input.now
	input.now < input.permit.valid_until
}

_data_member if {
	is_array(input.permit.members)
	some member in input.permit.members
	member.user == _actor
	member.role in {"lead", "researcher"}
}

# METADATA
# description: Why the submission is denied, one reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.now is missing or not a number" if not is_number(input.now)

deny contains "the project has no permit" if not _permit

deny contains sprintf("permit %s is not in force", [_permit]) if {
	_permit
	not _in_force
}

deny contains sprintf("%s is not a lead or researcher of permit %s", [_actor, _permit]) if {
	_permit
	not _data_member
}

deny contains sprintf("permit %s lets nothing leave (egress profile none)", [_permit]) if {
	_permit
	not input.permit.egress in {"aggregate", "models"}
}
