# METADATA
# title: Create an SME sandbox
# description: |
#   May input.actor create input.sandbox? Only for themselves (they own it), with the
#   sme_developer or researcher role, and with at least one dataset version, every one of them
#   synthetic per the catalogue (input.sandbox.datasets[_].synthetic).
# related_resources:
#   - ref: docs/policies.md
package tre.sandboxes.create

# METADATA
# description: |
#   Allowed only when every condition holds; anything missing or malformed denies.
#   `deny` has a reason for each condition; the tests check that allow holds exactly when
#   deny is empty.
default allow := false

allow if {
	is_string(input.actor.name)
	_may_create
	_sandbox.owner == input.actor.name
	count(_sandbox.datasets) > 0
	not _unsafe_dataset
}

# METADATA
# description: The answer tre reads; reasons are sorted (one reason when allowed).
# entrypoint: true
decision := {"allow": true, "reasons": [reason]} if {
	allow
	reason := sprintf("%s may create sandbox %s (synthetic data only)", [input.actor.name, input.sandbox.name])
}

decision := {"allow": false, "reasons": _deny_reasons} if not allow

_deny_reasons := sort(deny) if count(deny) > 0

_deny_reasons := ["input incomplete: denied"] if count(deny) == 0

_actor := input.actor.name if is_string(input.actor.name)

_roles_given if is_array(input.actor.roles)

_may_create if {
	_roles_given
	some role in input.actor.roles
	role in {"sme_developer", "researcher"}
}

_sandbox_given if input.sandbox != null

# The sandbox, only when it has the shape tre sends (inputs.sandbox_input).
_sandbox := s if {
	s := input.sandbox
	is_string(s.name)
	is_string(s.owner)
	is_array(s.members)
	is_array(s.datasets)
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
# description: Why creation is denied, one human-readable reason per failed condition.
deny contains "input.actor.name is missing or not a string" if not _actor

deny contains "input.actor.roles is missing or not a list" if not _roles_given

deny contains sprintf("%s needs the sme_developer or researcher role to create a sandbox", [_actor]) if {
	_roles_given
	not _may_create
}

deny contains "no sandbox in the input" if not _sandbox_given

deny contains "the sandbox in the input is malformed (see docs/policies.md)" if {
	_sandbox_given
	not _sandbox
}

deny contains sprintf("%s may only create a sandbox they own (owner is %s)", [_actor, _sandbox.owner]) if {
	_sandbox.owner != _actor
}

deny contains sprintf("sandbox %s needs at least one synthetic dataset (--dataset D@V)", [_sandbox.name]) if {
	count(_sandbox.datasets) == 0
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
