package tre.airlock.review_test

import data.tre.airlock.review

_request := {
	"id": "R-1",
	"project": "lung-ai",
	"author": "alice",
	"status": "in_review",
	"members": [{"user": "alice", "role": "lead"}, {"user": "bob", "role": "researcher"}],
}

_table := {"name": "counts.csv", "kind": "table", "findings": []}

_dicom := {"name": "scan.png", "kind": "dicom", "findings": [{"code": "dicom", "severity": "block"}]}

_input(name, roles, file, verdict, comment) := {
	"actor": {"name": name, "roles": roles},
	"request": _request,
	"file": file,
	"review": {"verdict": verdict, "comment": comment},
}

test_checker_approves_allowed if {
	review.decision == {"allow": true, "reasons": ["output checker carl may approve counts.csv of request R-1"]} with input as _input("carl", ["output_checker"], _table, "approve", "aggregate, safe")
}

test_checker_rejects_dicom_allowed if {
	review.decision == {"allow": true, "reasons": ["output checker carl may reject scan.png of request R-1"]} with input as _input("carl", ["output_checker"], _dicom, "reject", "DICOM")
}

test_approving_dicom_denied if {
	review.decision == {"allow": false, "reasons": ["scan.png has a blocking finding and can only be rejected"]} with input as _input("carl", ["output_checker"], _dicom, "approve", "looks fine")
}

test_author_denied if {
	review.decision == {"allow": false, "reasons": [
		"alice is a member of project lung-ai and may not review its outputs",
		"alice may not review their own request R-1",
	]} with input as _input("alice", ["output_checker", "researcher"], _table, "approve", "mine")
}

test_member_denied if {
	review.decision == {"allow": false, "reasons": ["bob is a member of project lung-ai and may not review its outputs"]} with input as _input("bob", ["output_checker"], _table, "approve", "ok")
}

test_researcher_denied if {
	review.decision == {"allow": false, "reasons": ["rita needs the output_checker role to review outputs"]} with input as _input("rita", ["researcher"], _table, "approve", "ok")
}

test_blank_comment_denied if {
	review.decision == {"allow": false, "reasons": ["a review needs a comment saying why"]} with input as _input("carl", ["output_checker"], _table, "reject", " ")
}

test_closed_request_denied if {
	req := object.union(_input("carl", ["output_checker"], _table, "approve", "ok"), {"request": object.union(_request, {"status": "released"})})
	review.decision == {"allow": false, "reasons": ["request R-1 is released, not open for review"]} with input as req
}

test_missing_verdict_denied if {
	req := json.remove(_input("carl", ["output_checker"], _table, "approve", "ok"), ["review/verdict"])
	review.decision == {"allow": false, "reasons": ["the verdict must be approve or reject"]} with input as req
}

test_findings_not_a_list_denied if {
	file := object.union(_table, {"findings": "block"})
	review.decision == {"allow": false, "reasons": ["input.file.findings is missing or not a list"]} with input as _input("carl", ["output_checker"], file, "reject", "no")
}
