# METADATA
# title: Data access
# description: |
#   May input.user read input.dataset at input.version in input.project at input.now?
#   Only under an active permit for that project, inside its half-open period
#   [valid_from, valid_until), to a member whose project role reads data (lead or researcher),
#   for a dataset version the permit grants. Times are Unix seconds.
#   The permit is input.permit, or, when the input names input.permit_revision, the engine's
#   copy data.permits[input.project] at exactly that revision (a stale copy denies).
# related_resources:
#   - ref: docs/policies.md
package tre.data.access

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   One rule body on purpose: the embedded engine pays per rule it evaluates, and every data
#   read asks this. `deny` has a reason for each condition; the tests check that allow holds
#   exactly when deny is empty.
default allow := false

allow if {
	is_string(input.user)
	is_string(input.project)
	is_string(input.dataset)
	is_string(input.version)
	is_number(input.now)
	permit := _judged
	is_string(permit.id)
	permit.project == input.project
	permit.status == "active"
	is_number(permit.valid_from)
	is_number(permit.valid_until)
	permit.valid_from <= input.now
	input.now < permit.valid_until
	is_array(permit.members)
	some member in permit.members
	member.user == input.user
	member.role in {"lead", "researcher"}
	is_array(permit.datasets)
	some granted in permit.datasets
	granted.dataset == input.dataset
	granted.version == input.version
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf(
		"permit %s grants %s %s@%s in project %s",
		[_judged.id, input.user, input.dataset, input.version, input.project],
	)
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_user := input.user if is_string(input.user)

_project := input.project if is_string(input.project)

_dataset := input.dataset if is_string(input.dataset)

_version := input.version if is_string(input.version)

_now := input.now if is_number(input.now)

_revision := input.permit_revision if is_string(input.permit_revision)

# The permit judged: the input's, or the engine's copy at the revision the input names.
_judged := input.permit if not _revision

_judged := p if {
	p := data.permits[input.project]
	p.revision == _revision
}

_permit_given if _judged != null

# The permit, only when it has the shape tre sends (inputs.permit_input).
_permit := p if {
	p := _judged
	is_string(p.id)
	is_string(p.project)
	is_string(p.status)
	is_number(p.valid_from)
	is_number(p.valid_until)
	is_array(p.members)
	is_array(p.datasets)
}

_member_roles contains m.role if {
	some m in _permit.members
	m.user == _user
}

_data_roles := {"lead", "researcher"}

_reads_data if {
	some role in _member_roles
	role in _data_roles
}

_grants_dataset if {
	some d in _permit.datasets
	d.dataset == _dataset
	d.version == _version
}

# METADATA
# description: Why access is denied, one human-readable reason per failed condition.
deny contains "input.user is missing or not a string" if not _user

deny contains "input.project is missing or not a string" if not _project

deny contains "input.dataset is missing or not a string" if not _dataset

deny contains "input.version is missing or not a string" if not _version

deny contains "input.now is missing or not a number (Unix seconds)" if not _now

deny contains sprintf("no permit for project %s", [_project]) if {
	not _permit_given
	not _revision
}

deny contains "no permit for this project" if {
	not _permit_given
	not _revision
	not _project
}

deny contains sprintf("policy data holds no permit of project %s at revision %s (stale engine data)", [_project, _revision]) if {
	not _permit_given
}

deny contains sprintf("policy data holds no permit at revision %s (stale engine data)", [_revision]) if {
	not _permit_given
	not _project
}

deny contains "the permit in the input is malformed (see docs/policies.md)" if {
	_permit_given
	not _permit
}

deny contains sprintf("permit %s is for project %s, not %s", [_permit.id, _permit.project, _project]) if {
	_permit.project != _project
}

deny contains sprintf("permit %s is %s", [_permit.id, _permit.status]) if {
	_permit.status != "active"
}

deny contains sprintf("permit %s is not yet valid", [_permit.id]) if {
	_now < _permit.valid_from
}

deny contains sprintf("permit %s has expired", [_permit.id]) if {
	_now >= _permit.valid_until
}

deny contains sprintf("%s is not a member of permit %s", [_user, _permit.id]) if {
	count(_member_roles) == 0
}

deny contains sprintf("observers may not read data: %s is an observer of permit %s", [_user, _permit.id]) if {
	"observer" in _member_roles
	not _reads_data
}

deny contains sprintf("%s has no project role that reads data in permit %s", [_user, _permit.id]) if {
	count(_member_roles) > 0
	not "observer" in _member_roles
	not _reads_data
}

deny contains sprintf("permit %s does not grant %s@%s", [_permit.id, _dataset, _version]) if {
	not _grants_dataset
}
