"""Build the policy engine a deployment asks for: embedded (default) or an OPA server."""

from __future__ import annotations

from pathlib import Path

from tre.errors import InvalidInput
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.policy.engine import PolicyEngine

ENGINE_KINDS: tuple[str, ...] = ("embedded", "opa")
"""Values of TRE_POLICY_ENGINE."""


def build_engine(kind: str, *, policies_dir: Path, opa_url: str, timeout_s: float) -> PolicyEngine:
    """``embedded`` evaluates ``policies_dir`` in-process; ``opa`` asks the OPA at ``opa_url``."""
    if kind == "embedded":
        return EmbeddedPolicyEngine(policies_dir)
    if kind == "opa":
        # Imported here: the OPA client pulls in aiohttp, which the embedded default never needs.
        from tre.policy.opa_server import OpaServerPolicyEngine

        return OpaServerPolicyEngine(opa_url, timeout_s=timeout_s)
    allowed = ", ".join(ENGINE_KINDS)
    raise InvalidInput(f"unknown policy engine {kind!r} (TRE_POLICY_ENGINE): use one of {allowed}")
