package tre.airlock.approval_test

import data.tre.airlock.approval

_input(kind, findings, reviews, egress) := {
	"request": {"id": "R-1", "author": "alice", "egress": egress},
	"file": {"name": "f", "kind": kind, "findings": findings, "reviews": reviews},
}

_ok(who) := {"reviewer": who, "verdict": "approve"}

test_clean_table_one_approval_allowed if {
	approval.decision == {"allow": true, "reasons": ["f approved by 1 output checker(s)"]} with input as _input("table", [], [_ok("carl")], "aggregate")
}

test_table_with_warning_needs_two if {
	approval.decision == {"allow": false, "reasons": ["f needs 2 approval(s), has 1"]} with input as _input("table", [{"severity": "warn"}], [_ok("carl")], "aggregate")
}

test_image_needs_two_distinct if {
	approval.decision == {"allow": false, "reasons": ["f needs 2 approval(s), has 1"]} with input as _input("image", [], [_ok("carl"), _ok("carl")], "aggregate")
	approval.decision == {"allow": true, "reasons": ["f approved by 2 output checker(s)"]} with input as _input("image", [], [_ok("carl"), _ok("cleo")], "aggregate")
}

test_model_under_aggregate_permit_denied if {
	approval.decision == {"allow": false, "reasons": ["f is model weights and permit egress is aggregate, not models"]} with input as _input("model", [], [_ok("carl"), _ok("cleo")], "aggregate")
}

test_model_under_models_permit_allowed if {
	approval.decision == {"allow": true, "reasons": ["f approved by 2 output checker(s)"]} with input as _input("model", [], [_ok("carl"), _ok("cleo")], "models")
}

test_dicom_never_allowed if {
	approval.decision == {"allow": false, "reasons": ["f has a blocking finding: it never leaves"]} with input as _input("dicom", [], [_ok("carl"), _ok("cleo")], "models")
}

test_rejection_denies if {
	approval.decision == {"allow": false, "reasons": ["f was rejected by cleo"]} with input as _input("table", [], [_ok("carl"), {"reviewer": "cleo", "verdict": "reject"}], "aggregate")
}

test_authors_approval_does_not_count if {
	approval.decision == {"allow": false, "reasons": ["f needs 1 approval(s), has 0"]} with input as _input("table", [], [_ok("alice")], "aggregate")
}

test_unknown_kind_never_allowed if {
	approval.decision == {"allow": false, "reasons": ["f has a blocking finding: it never leaves"]} with input as _input("unknown", [], [_ok("carl"), _ok("cleo")], "models")
}

test_unrecognised_severity_blocks if {
	approval.decision == {"allow": false, "reasons": ["f has a blocking finding: it never leaves"]} with input as _input("table", [{"code": "x"}], [_ok("carl")], "aggregate")
}

test_malformed_review_denies if {
	approval.decision == {"allow": false, "reasons": ["f has a malformed review"]} with input as _input("table", [], [_ok("carl"), {"verdict": "reject"}], "aggregate")
}

test_findings_not_a_list_denied if {
	approval.decision == {"allow": false, "reasons": ["input.file.findings is missing or not a list"]} with input as _input("table", "block", [_ok("carl")], "aggregate")
}
