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
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty. Negations only ever apply to helper rules (never to a builtin or a
#   membership test on a possibly undefined input): OPA and regorus disagree there.
default allow := false

allow if {
	_actor
	_now_given
	_permit
	_project
	_in_force
	_data_member
	_egress_lets_out
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("%s may submit outputs of project %s", [_actor, _project])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_actor := input.actor.name if is_string(input.actor.name)

_now_given if is_number(input.now)

_permit := input.permit.id if is_string(input.permit.id)

_project := input.permit.project if is_string(input.permit.project)

_egress := input.permit.egress if is_string(input.permit.egress)

_egress_lets_out if _egress in {"aggregate", "models"}

_in_force if {
	_now_given
	input.permit.status == "active"
	is_number(input.permit.valid_from)
	is_number(input.permit.valid_until)
	input.permit.valid_from <= input.now
	input.now < input.permit.valid_until
}

_members_given if is_array(input.permit.members)

_data_member if {
	_members_given
	some member in input.permit.members
	member.user == _actor
	member.role in {"lead", "researcher"}
}

# METADATA
# description: Why the submission is denied, one reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.now is missing or not a number" if not _now_given

deny contains "the project has no permit" if not _permit

deny contains sprintf("permit %s has no project", [_permit]) if {
	_permit
	not _project
}

deny contains sprintf("permit %s is not in force", [_permit]) if {
	_permit
	_now_given
	not _in_force
}

deny contains sprintf("%s is not a lead or researcher of permit %s", [_actor, _permit]) if {
	_permit
	not _data_member
}

deny contains sprintf("permit %s lets nothing leave (egress profile %s)", [_permit, _egress]) if {
	_permit
	not _egress_lets_out
}

deny contains sprintf("permit %s has no egress profile", [_permit]) if {
	_permit
	not _egress
}
