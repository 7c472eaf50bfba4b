# METADATA
# title: Change a data permit's status
# description: |
#   May input.actor suspend, reinstate or revoke input.permit? Only an hdab_officer who is not
#   a member of the permit, and only with a non-blank reason.
# related_resources:
#   - ref: docs/policies.md
package tre.permits.change

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty.
default allow := false

allow if {
	is_string(input.actor.name)
	is_string(input.permit.id)
	is_array(input.actor.roles)
	"hdab_officer" in input.actor.roles
	is_array(input.permit.members)
	not _is_member
	input.change.action in _actions
	_has_reason
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf(
		"hdab officer %s may %s permit %s",
		[input.actor.name, input.change.action, input.permit.id],
	)
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_actions := {"suspend", "reinstate", "revoke"}

_actor := input.actor.name if is_string(input.actor.name)

_permit := input.permit.id if is_string(input.permit.id)

_action := input.change.action if is_string(input.change.action)

_roles_given if is_array(input.actor.roles)

_roles contains role if {
	_roles_given
	some role in input.actor.roles
}

_members_given if is_array(input.permit.members)

_is_member if {
	_members_given
	some member in input.permit.members
	member.user == _actor
}

_has_reason if {
	is_string(input.change.reason)
	trim_space(input.change.reason) != ""
}

# METADATA
# description: Why the change is denied, one human-readable reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.actor.roles is missing or not a list" if not _roles_given

deny contains "input.permit.id is missing or not a string" if not _permit

deny contains "input.permit.members is missing or not a list" if not _members_given

deny contains "input.change.action is missing or not a string" if not _action

deny contains sprintf("%s needs the hdab_officer role to change a permit", [_actor]) if {
	not "hdab_officer" in _roles
}

deny contains sprintf("hdab officers may not change a permit they are a member of (%s is in %s)", [_actor, _permit]) if {
	_is_member
}

deny contains sprintf("unknown action %s: use suspend, reinstate or revoke", [_action]) if {
	not _action in _actions
}

deny contains sprintf("changing permit %s needs a reason", [_permit]) if not _has_reason
