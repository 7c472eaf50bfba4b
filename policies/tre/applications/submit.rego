# METADATA
# title: Submit a data access application
# description: |
#   May input.actor submit input.application? Only its applicant may, and only with the node
#   role researcher or sme_developer.
# related_resources:
#   - ref: docs/policies.md
package tre.applications.submit

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty.
default allow := false

allow if {
	is_string(input.actor.name)
	is_string(input.application.id)
	input.actor.name == input.application.applicant
	is_array(input.actor.roles)
	some role in input.actor.roles
	role in {"researcher", "sme_developer"}
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf(
		"%s may submit application %s as its applicant",
		[input.actor.name, input.application.id],
	)
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_actor := input.actor.name if is_string(input.actor.name)

_applicant := input.application.applicant if is_string(input.application.applicant)

_application := input.application.id if is_string(input.application.id)

_roles_given if is_array(input.actor.roles)

_roles contains role if {
	_roles_given
	some role in input.actor.roles
}

_applicant_roles := {"researcher", "sme_developer"}

_may_apply if {
	some role in _roles
	role in _applicant_roles
}

# METADATA
# description: Why submission is denied, one human-readable reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.actor.roles is missing or not a list" if not _roles_given

deny contains "input.application.id is missing or not a string" if not _application

deny contains "input.application.applicant is missing or not a string" if not _applicant

deny contains sprintf("only the applicant of application %s (%s) may submit it, not %s", [_application, _applicant, _actor]) if {
	_actor != _applicant
}

deny contains sprintf("%s needs the researcher or sme_developer role to submit an application", [_actor]) if {
	not _may_apply
}
