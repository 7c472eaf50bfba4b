# METADATA
# title: Download a release
# description: |
#   May input.user download the files of released request input.request? Only members of the
#   project (any project role), and only once the request is released.
# related_resources:
#   - ref: docs/airlock.md
package tre.airlock.download

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty. Negations only ever apply to helper rules: OPA and regorus disagree on
#   `not` over a builtin or membership test with an undefined operand.
default allow := false

allow if {
	_user
	_request
	_project
	_released
	_is_member
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("%s is a member of project %s", [_user, _project])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_user := input.user if is_string(input.user)

_request := input.request.id if is_string(input.request.id)

_project := input.request.project if is_string(input.request.project)

_status := input.request.status if is_string(input.request.status)

_released if _status == "released"

_members_given if is_array(input.request.members)

_is_member if {
	_members_given
	some member in input.request.members
	member.user == _user
}

# METADATA
# description: Why the download is denied, one reason per failed condition.
deny contains "input.user is missing or not a string" if not _user

deny contains "input.request.id is missing or not a string" if not _request

deny contains "input.request.project is missing or not a string" if not _project

deny contains "input.request.status is missing or not a string" if not _status

deny contains "input.request.members is missing or not a list" if not _members_given

deny contains sprintf("request %s is not released", [_request]) if {
	_status
	not _released
}

deny contains sprintf("%s is not a member of project %s", [_user, _project]) if {
	_members_given
	not _is_member
}
