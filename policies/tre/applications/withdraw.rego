# METADATA
# title: Withdraw a data access application
# description: May input.actor withdraw input.application? Only its applicant may.
# related_resources:
#   - ref: docs/policies.md
package tre.applications.withdraw

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
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf(
		"%s may withdraw application %s as its applicant",
		[input.actor.name, input.application.id],
	)
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_actor := input.actor.name if is_string(input.actor.name)

_applicant := input.application.applicant if is_string(input.application.applicant)

_application := input.application.id if is_string(input.application.id)

# METADATA
# description: Why withdrawal is denied, one human-readable reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.application.id is missing or not a string" if not _application

deny contains "input.application.applicant is missing or not a string" if not _applicant

deny contains sprintf("only the applicant of application %s (%s) may withdraw it, not %s", [_application, _applicant, _actor]) if {
	_actor != _applicant
}
