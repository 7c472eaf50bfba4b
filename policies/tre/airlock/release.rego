# METADATA
# title: Release a decided egress request
# description: |
#   May input.actor release the approved files of input.request? Only an output_checker who is
#   neither the author nor a member of the project, and only once every file is decided
#   (approved or partially_approved).
# related_resources:
#   - ref: docs/airlock.md
package tre.airlock.release

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty. Negations only ever apply to helper rules: OPA and regorus disagree on
#   `not` over a builtin or membership test with an undefined operand.
default allow := false

allow if {
	_actor
	_request
	_project
	_author
	_members_given
	"output_checker" in _roles
	_actor != _author
	not _is_member
	_decided
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("output checker %s may release request %s", [_actor, _request])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_actor := input.actor.name if is_string(input.actor.name)

_request := input.request.id if is_string(input.request.id)

_project := input.request.project if is_string(input.request.project)

_author := input.request.author if is_string(input.request.author)

_status := input.request.status if is_string(input.request.status)

_decided if _status in {"approved", "partially_approved"}

_roles contains role if {
	is_array(input.actor.roles)
	some role in input.actor.roles
}

_members_given if is_array(input.request.members)

_is_member if {
	_members_given
	some member in input.request.members
	member.user == _actor
}

# METADATA
# description: Why the release is denied, one reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.request.id is missing or not a string" if not _request

deny contains "input.request.project is missing or not a string" if not _project

deny contains "input.request.author is missing or not a string" if not _author

deny contains "input.request.status is missing or not a string" if not _status

deny contains "input.request.members is missing or not a list" if not _members_given

deny contains sprintf("%s needs the output_checker role to release outputs", [_actor]) if {
	not "output_checker" in _roles
}

deny contains sprintf("%s may not release their own request %s", [_actor, _request]) if {
	_actor == _author
}

deny contains sprintf("%s is a member of project %s and may not release its outputs", [_actor, _project]) if {
	_is_member
}

deny contains sprintf("request %s is %s: only an approved or partially approved request is released", [_request, _status]) if {
	_status
	not _decided
}
