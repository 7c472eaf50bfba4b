"""The named policy decisions, where their Rego lives, and the shape of an answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DECISIONS: dict[str, str] = {
    "application_submit": "tre/applications/submit",
    "application_withdraw": "tre/applications/withdraw",
    "application_decide": "tre/applications/decide",
    "permit_change": "tre/permits/change",
    "data_access": "tre/data/access",
    "egress_submit": "tre/airlock/submit",
    "egress_review": "tre/airlock/review",
    "egress_approval": "tre/airlock/approval",
    "egress_download": "tre/airlock/download",
    "sandbox_create": "tre/sandboxes/create", "sandbox_access": "tre/sandboxes/access",
    "egress_release": "tre/airlock/release",
}
"""Decision name -> Rego package path; each package defines ``decision``."""

DECISION_RULE = "decision"

ALLOW_RULE = "allow"
"""The boolean rule of each package that ``decision`` allows exactly when it holds."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy answer: allowed or not, and why. ``error`` is set when the engine failed."""

    name: str
    allow: bool
    reasons: tuple[str, ...]
    error: str | None = field(default=None)

    def as_json(self) -> dict[str, Any]:
        """The decision as the JSON users and the audit log see."""
        out: dict[str, Any] = {"decision": self.name, "allow": self.allow,
                               "reasons": list(self.reasons)}
        if self.error is not None:
            out["error"] = self.error
        return out


def deny(name: str, reason: str, *, error: str | None = None) -> Decision:
    """A deny with one reason (used for every failure: fail closed)."""
    return Decision(name=name, allow=False, reasons=(reason,), error=error)


def from_result(name: str, result: Any) -> Decision:
    """Turn an engine's raw result into a Decision; anything malformed is a deny."""
    if not isinstance(result, Mapping):
        return deny(name, f"policy {name} returned no decision (undefined): denied",
                    error="undefined")
    allow = result.get("allow")
    reasons = result.get("reasons")
    if not isinstance(allow, bool) or not isinstance(reasons, list | tuple | set | frozenset):
        return deny(name, f"policy {name} returned a malformed decision: denied",
                    error="malformed")
    texts = sorted(str(r) for r in reasons)
    if not allow and not texts:
        texts = [f"policy {name} gave no reason: denied"]
    return Decision(name=name, allow=allow, reasons=tuple(texts))
