# METADATA
# title: Use an SME sandbox
# description: |
#   May input.user start a server or run a job in input.sandbox? Only the sandbox's owner or a
#   member, holding the sme_developer or researcher role, while the sandbox is active, and only
#   if every dataset version in it is synthetic per the catalogue (input.sandbox.datasets[_]
#   .synthetic). Real data is kept out at every spawn and run, not only at creation.
# related_resources:
#   - ref: docs/policies.md
package tre.sandboxes.access

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty.
default allow := false

allow if {
	is_string(input.user.name)
	_may_use_sandboxes
	_sandbox.status == "active"
	_is_member
	not _unsafe_dataset
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("%s may use sandbox %s (synthetic data only)", [input.user.name, input.sandbox.name])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_user := input.user.name if is_string(input.user.name)

_roles_given if is_array(input.user.roles)

_may_use_sandboxes if {
	_roles_given
	some role in input.user.roles
	role in {"sme_developer", "researcher"}
}

_sandbox_given if input.sandbox != null

# The sandbox, only when it has the shape tre sends (inputs.sandbox_input).
_sandbox := s if {
	s := input.sandbox
	is_string(s.name)
	is_string(s.owner)
	is_string(s.status)
	is_array(s.members)
	is_array(s.datasets)
}

_is_member if _sandbox.owner == _user

_is_member if {
	some member in _sandbox.members
	member == _user
}

_well_formed(d) if {
	is_string(d.dataset)
	is_string(d.version)
}

_unsafe_dataset if {
	some d in _sandbox.datasets
	not _well_formed(d)
}

_unsafe_dataset if {
	some d in _sandbox.datasets
	not d.synthetic == true
}

# METADATA
# description: Why use is denied, one human-readable reason per failed condition.
deny contains "input.user.name is missing or not a string" if not _user

deny contains "input.user.roles is missing or not a list" if not _roles_given

deny contains sprintf("%s needs the sme_developer or researcher role to use a sandbox", [_user]) if {
	_roles_given
	not _may_use_sandboxes
}

deny contains "no sandbox in the input" if not _sandbox_given

deny contains "the sandbox in the input is malformed (see docs/policies.md)" if {
	_sandbox_given
	not _sandbox
}

deny contains sprintf("sandbox %s is %s", [_sandbox.name, _sandbox.status]) if {
	_sandbox.status != "active"
}

deny contains sprintf("%s is not the owner or a member of sandbox %s", [_user, _sandbox.name]) if {
	not _is_member
}

deny contains sprintf("sandbox %s lists a malformed dataset (see docs/policies.md)", [_sandbox.name]) if {
	some d in _sandbox.datasets
	not _well_formed(d)
}

deny contains sprintf("%s@%s is not synthetic: real data needs a data permit (tre permits apply)", [d.dataset, d.version]) if {
	some d in _sandbox.datasets
	_well_formed(d)
	not d.synthetic == true
}
