# METADATA
# title: Is one file of an egress request approved?
# description: |
#   How many distinct output checkers must approve input.file before it may leave: one for a
#   clean table, text or notebook; two for images, model weights, arrays, archives, or any
#   file with a warning. A blocked file never leaves: a block finding (DICOM always), a
#   finding whose severity is not info or warn, or a kind other than the known ones (dicom,
#   unknown). Nor does a model under a permit whose egress profile is not "models"; any
#   rejection rejects the file, and a malformed review denies.
# related_resources:
#   - ref: docs/airlock.md
package tre.airlock.approval

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty. Negations only ever apply to helper rules: OPA and regorus disagree on
#   `not` over a builtin or membership test with an undefined operand.
default allow := false

allow if {
	_file
	_author
	_egress
	_findings_given
	_reviews_given
	not _blocked
	not _malformed_review
	not _model_not_permitted
	count(_rejecting) == 0
	count(_approving) >= _required
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("%s approved by %d output checker(s)", [_file, count(_approving)])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_elevated_kinds := {"image", "model", "array", "archive"}

_plain_kinds := {"table", "text", "notebook"}

_file := input.file.name if is_string(input.file.name)

_author := input.request.author if is_string(input.request.author)

_egress := input.request.egress if is_string(input.request.egress)

_findings_given if is_array(input.file.findings)

_reviews_given if is_array(input.file.reviews)

_elevated if input.file.kind in _elevated_kinds

_plain if input.file.kind in _plain_kinds

_harmless_findings contains i if {
	_findings_given
	some i, finding in input.file.findings
	finding.severity in {"info", "warn"}
}

_blocked if {
	_findings_given
	count(_harmless_findings) < count(input.file.findings)
}

_blocked if {
	not _elevated
	not _plain
}

_warned if {
	_findings_given
	some finding in input.file.findings
	finding.severity == "warn"
}

_model_not_permitted if {
	input.file.kind == "model"
	_egress != "models"
}

_required := 2 if _elevated

_required := 2 if {
	_plain
	_warned
}

_required := 1 if {
	_plain
	not _warned
}

_well_formed_reviews contains i if {
	_reviews_given
	some i, review in input.file.reviews
	is_string(review.reviewer)
	review.verdict in {"approve", "reject"}
}

_malformed_review if {
	_reviews_given
	count(_well_formed_reviews) < count(input.file.reviews)
}

_approving contains review.reviewer if {
	_reviews_given
	some review in input.file.reviews
	is_string(review.reviewer)
	review.verdict == "approve"
	review.reviewer != _author
}

_rejecting contains review.reviewer if {
	_reviews_given
	some review in input.file.reviews
	is_string(review.reviewer)
	review.verdict == "reject"
}

# METADATA
# description: Why the file may not leave (yet), one reason per failed condition.
deny contains "input.file.name is missing or not a string" if not _file

deny contains "input.request.author is missing or not a string" if not _author

deny contains "input.request.egress is missing or not a string" if not _egress

deny contains "input.file.findings is missing or not a list" if not _findings_given

deny contains "input.file.reviews is missing or not a list" if not _reviews_given

deny contains sprintf("%s has a blocking finding: it never leaves", [_file]) if _blocked

deny contains sprintf("%s has a malformed review", [_file]) if _malformed_review

deny contains sprintf("%s is model weights and permit egress is %s, not models", [_file, _egress]) if {
	_model_not_permitted
}

deny contains sprintf("%s was rejected by %s", [_file, concat(", ", sort(_rejecting))]) if {
	count(_rejecting) > 0
}

deny contains sprintf("%s needs %d approval(s), has %d", [_file, _required, count(_approving)]) if {
	count(_approving) < _required
}
