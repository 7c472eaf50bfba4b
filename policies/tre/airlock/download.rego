# METADATA
# title: Download a release
# description: |
#   May input.user download the files of released request input.request? Only members of the
#   project (any project role), and only once the request is released.
# related_resources:
#   - ref: docs/airlock.md
package tre.airlock.download

# METADATA
# description: Allowed only when every condition holds; anything missing or malformed denies.
default allow := false

allow if {
	is_string(input.user)
	input.request.status == "released"
	_is_member
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("%s is a member of project %s", [input.user, input.request.project])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_user := input.user if is_string(input.user)

_is_member if {
	is_array(input.request.members)
	some member in input.request.members
	member.user == _user
}

# METADATA
# description: Why the download is denied, one reason per failed condition.
deny contains "input.user is missing or not a string" if not _user

deny contains sprintf("request %v is not released", [input.request.id]) if {
	input.request.status != "released"
}

deny contains sprintf("%s is not a member of project %v", [_user, input.request.project]) if {
	not _is_member
}
