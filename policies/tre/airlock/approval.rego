# METADATA
# title: Is one file of an egress request approved?
# description: |
#   How many distinct output checkers must approve input.file before it may leave: one for a
#   clean table, text or notebook; two for images, model weights, arrays, archives, or any
#   file with a warning. A file with a block finding (DICOM always) never leaves; nor does a
#   model under a permit whose egress profile is not "models"; any rejection rejects the file.
# related_resources:
#   - ref: docs/airlock.md
package tre.airlock.approval

# METADATA
# description: Allowed only when every condition holds; anything missing or malformed denies.
default allow := false

allow if {
	is_array(input.file.findings)
	is_array(input.file.reviews)
	not _blocked
	not _model_not_permitted
	count(_rejecting) == 0
	count(_approving) >= _required
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("%s approved by %d output checker(s)", [input.file.name, count(_approving)])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_elevated_kinds := {"image", "model", "array", "archive"}

_blocked if {
	some finding in input.file.findings
	finding.severity == "block"
}

_blocked if input.file.kind in {"dicom", "unknown"}

_warned if {
	some finding in input.file.findings
	finding.severity == "warn"
}

_model_not_permitted if {
	input.file.kind == "model"
	input.request.egress != "models"
}

_required := 2 if input.file.kind in _elevated_kinds

_required := 2 if {
	not input.file.kind in _elevated_kinds
	_warned
}

_required := 1 if {
	not input.file.kind in _elevated_kinds
	not _warned
}

_approving contains review.reviewer if {
	some review in input.file.reviews
	review.verdict == "approve"
	review.reviewer != input.request.author
}

_rejecting contains review.reviewer if {
	some review in input.file.reviews
	review.verdict == "reject"
}

# METADATA
# description: Why the file may not leave (yet), one reason per failed condition.
deny contains "input.file.findings is missing or not a list" if not is_array(input.file.findings)

deny contains "input.file.reviews is missing or not a list" if not is_array(input.file.reviews)

deny contains sprintf("%s has a blocking finding: it never leaves", [input.file.name]) if _blocked

deny contains sprintf("%s is model weights and permit egress is %s, not models", [input.file.name, input.request.egress]) if {
	_model_not_permitted
}

deny contains sprintf("%s was rejected by %s", [input.file.name, concat(", ", sort(_rejecting))]) if {
	count(_rejecting) > 0
}

deny contains sprintf("%s needs %d approval(s), has %d", [input.file.name, _required, count(_approving)]) if {
	count(_approving) < _required
}
