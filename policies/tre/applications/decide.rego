# METADATA
# title: Decide on a data access application
# description: |
#   May input.actor record input.decision (outcome review, approve or reject) on
#   input.application? Only an hdab_officer who is neither its applicant nor one of its members,
#   and approve or reject need a non-blank reason.
# related_resources:
#   - ref: docs/policies.md
package tre.applications.decide

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty.
default allow := false

allow if {
	is_string(input.actor.name)
	is_string(input.application.id)
	is_array(input.actor.roles)
	"hdab_officer" in input.actor.roles
	is_string(input.application.applicant)
	input.actor.name != input.application.applicant
	is_array(input.application.members)
	not _is_member
	_outcome in _outcomes
	_reason_ok
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf(
		"hdab officer %s may %s application %s",
		[input.actor.name, input.decision.outcome, input.application.id],
	)
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_outcomes := {"review", "approve", "reject"}

_needs_reason := {"approve", "reject"}

_actor := input.actor.name if is_string(input.actor.name)

_applicant := input.application.applicant if is_string(input.application.applicant)

_application := input.application.id if is_string(input.application.id)

_outcome := input.decision.outcome if is_string(input.decision.outcome)

_roles_given if is_array(input.actor.roles)

_roles contains role if {
	_roles_given
	some role in input.actor.roles
}

_members_given if is_array(input.application.members)

_is_member if {
	_members_given
	some member in input.application.members
	member.user == _actor
}

_has_reason if {
	is_string(input.decision.reason)
	trim_space(input.decision.reason) != ""
}

_reason_ok if {
	_outcome in _outcomes
	not _outcome in _needs_reason
}

_reason_ok if {
	_outcome in _needs_reason
	_has_reason
}

# METADATA
# description: Why the decision is denied, one human-readable reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.actor.roles is missing or not a list" if not _roles_given

deny contains "input.application.id is missing or not a string" if not _application

deny contains "input.application.applicant is missing or not a string" if not _applicant

deny contains "input.application.members is missing or not a list" if not _members_given

deny contains "input.decision.outcome is missing or not a string" if not _outcome

deny contains sprintf("%s needs the hdab_officer role to decide on applications", [_actor]) if {
	not "hdab_officer" in _roles
}

deny contains sprintf("hdab officers may not decide on an application they submitted (%s submitted %s)", [_actor, _application]) if {
	_actor == _applicant
}

deny contains sprintf("hdab officers may not decide on an application they are a member of (%s is in %s)", [_actor, _application]) if {
	_is_member
}

deny contains sprintf("unknown outcome %s: use review, approve or reject", [_outcome]) if {
	not _outcome in _outcomes
}

deny contains sprintf("a decision to %s needs a reason", [_outcome]) if {
	_outcome in _needs_reason
	not _has_reason
}
