# METADATA
# title: Review one file of an egress request
# description: |
#   May input.actor record input.review.verdict on input.file of input.request? Only an
#   output_checker who is neither the author nor a member of the project, on a request that is
#   open for review, with a comment. A blocked file (a block finding, DICOM always, or any
#   finding or kind that is not known to be harmless) can only be rejected.
# related_resources:
#   - ref: docs/airlock.md
package tre.airlock.review

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
	_file
	_members_given
	_findings_given
	"output_checker" in _roles
	_actor != _author
	not _is_member
	_open
	_verdict_ok
	_has_comment
	not _approving_blocked
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf(
		"output checker %s may %s %s of request %s",
		[_actor, _verdict, _file, _request],
	)
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

# Kinds that may leave at all; anything else (dicom, unknown, malformed) is blocked.
_kinds_that_may_leave := {"table", "text", "notebook", "image", "model", "array", "archive"}

_actor := input.actor.name if is_string(input.actor.name)

_request := input.request.id if is_string(input.request.id)

_project := input.request.project if is_string(input.request.project)

_author := input.request.author if is_string(input.request.author)

_status := input.request.status if is_string(input.request.status)

_file := input.file.name if is_string(input.file.name)

_verdict := input.review.verdict if is_string(input.review.verdict)

_verdict_ok if _verdict in {"approve", "reject"}

_open if _status in {"submitted", "in_review"}

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

_has_comment if {
	is_string(input.review.comment)
	trim_space(input.review.comment) != ""
}

_findings_given if is_array(input.file.findings)

_harmless_findings contains i if {
	_findings_given
	some i, finding in input.file.findings
	finding.severity in {"info", "warn"}
}

_kind_may_leave if input.file.kind in _kinds_that_may_leave

_blocked if {
	_findings_given
	count(_harmless_findings) < count(input.file.findings)
}

_blocked if not _kind_may_leave

_approving_blocked if {
	_verdict == "approve"
	_blocked
}

# METADATA
# description: Why the review is denied, one reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.request.id is missing or not a string" if not _request

deny contains "input.request.project is missing or not a string" if not _project

deny contains "input.request.author is missing or not a string" if not _author

deny contains "input.request.status is missing or not a string" if not _status

deny contains "input.request.members is missing or not a list" if not _members_given

deny contains "input.file.name is missing or not a string" if not _file

deny contains "input.file.findings is missing or not a list" if not _findings_given

deny contains sprintf("%s needs the output_checker role to review outputs", [_actor]) if {
	not "output_checker" in _roles
}

deny contains sprintf("%s may not review their own request %s", [_actor, _request]) if {
	_actor == _author
}

deny contains sprintf("%s is a member of project %s and may not review its outputs", [_actor, _project]) if {
	_is_member
}

deny contains sprintf("request %s is %s, not open for review", [_request, _status]) if {
	not _open
}

deny contains "the verdict must be approve or reject" if not _verdict_ok

deny contains "a review needs a comment saying why" if not _has_comment

deny contains sprintf("%s has a blocking finding and can only be rejected", [_file]) if {
	_approving_blocked
}
