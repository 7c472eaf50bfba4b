# METADATA
# title: Review one file of an egress request
# description: |
#   May input.actor record input.review.verdict on input.file of input.request? Only an
#   output_checker who is neither the author nor a member of the project, on a request that is
#   open for review, with a comment. A file with a block finding (DICOM always has one) can only
#   be rejected.
# related_resources:
#   - ref: docs/airlock.md
package tre.airlock.review

# METADATA
# description: Allowed only when every condition holds; anything missing or malformed denies.
default allow := false

allow if {
	is_string(input.actor.name)
	is_array(input.actor.roles)
	"output_checker" in input.actor.roles
	is_string(input.request.author)
	input.actor.name != input.request.author
	is_array(input.request.members)
	not _is_member
	input.request.status in {"submitted", "in_review"}
	input.review.verdict in {"approve", "reject"}
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
		[input.actor.name, input.review.verdict, input.file.name, input.request.id],
	)
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_actor := input.actor.name if is_string(input.actor.name)

_request := input.request.id if is_string(input.request.id)

_roles contains role if {
	is_array(input.actor.roles)
	some role in input.actor.roles
}

_is_member if {
	some member in input.request.members
	member.user == _actor
}

_has_comment if {
	is_string(input.review.comment)
	trim_space(input.review.comment) != ""
}

_blocked if {
	some finding in input.file.findings
	finding.severity == "block"
}

_blocked if input.file.kind == "dicom"

_approving_blocked if {
	input.review.verdict == "approve"
	_blocked
}

# METADATA
# description: Why the review is denied, one reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.request.id is missing or not a string" if not _request

deny contains "input.request.author is missing or not a string" if not is_string(input.request.author)

deny contains "input.request.members is missing or not a list" if not is_array(input.request.members)

deny contains sprintf("%s needs the output_checker role to review outputs", [_actor]) if {
	not "output_checker" in _roles
}

deny contains sprintf("%s may not review their own request %s", [_actor, _request]) if {
	_actor == input.request.author
}

deny contains sprintf("%s is a member of project %s and may not review its outputs", [_actor, input.request.project]) if {
	_is_member
}

deny contains sprintf("request %s is %s, not open for review", [_request, input.request.status]) if {
	not input.request.status in {"submitted", "in_review"}
}

deny contains "the verdict must be approve or reject" if {
	not input.review.verdict in {"approve", "reject"}
}

deny contains "a review needs a comment saying why" if not _has_comment

deny contains sprintf("%s has a blocking finding and can only be rejected", [input.file.name]) if {
	_approving_blocked
}
