"""The policy-engine port: any engine answers named decisions, and every failure is a deny."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from tre.domain.values import check_slug
from tre.errors import InvalidInput, PolicyEngineUnavailable
from tre.policy.decisions import DECISIONS, Decision, deny, from_result


class PolicyEngine(abc.ABC):
    """Answers the decisions of :data:`tre.policy.decisions.DECISIONS`; never raises on failure.

    Subclasses implement :meth:`_evaluate` (return the raw ``decision`` document, or ``None``
    when undefined). This base turns errors, undefined results and malformed answers into denies.
    """

    name: str = "engine"

    def __init__(self) -> None:
        self._held: dict[str, str] = {}  # project -> revision of the permit stored as data

    def put_permit(self, project: str, permit: Mapping[str, Any]) -> None:
        """Hold ``permit`` (:func:`tre.policy.inputs.permit_data`) as ``data.permits[project]``.

        The one way permits reach an engine's data; nothing happens when that revision is held
        already. A failure to store is not raised: the decision naming the revision then
        denies as stale, so no answer is ever given on data the engine does not hold.
        ``project`` must be a project id (a slug: it is a path in OPA's data API).
        """
        check_slug("project", project)
        revision = str(permit["revision"])
        if self._held.get(project) == revision:
            return
        try:
            self._store_permit(project, permit)
        except Exception:  # fail closed: the next decision on this permit denies (stale)
            self._held.pop(project, None)
            return
        self._held[project] = revision

    def forget_permit(self, project: str) -> None:
        """Forget which revision of ``project``'s permit was stored (the next put stores it)."""
        self._held.pop(project, None)

    def _store_permit(self, project: str, permit: Mapping[str, Any]) -> None:
        """Store ``permit`` as ``data.permits[project]``; engines that hold data override."""
        raise PolicyEngineUnavailable(f"policy engine {self.name} holds no permit data")

    def decide(self, decision: str, input: Mapping[str, Any]) -> Decision:
        """Evaluate ``decision`` on ``input``; errors, timeouts and undefined are denies."""
        package = check_decision_name(decision)
        try:
            raw = self._evaluate(package, input)
        except Exception as exc:  # fail closed: any engine failure is a deny, with the cause
            return self._failure(decision, exc)
        return from_result(decision, raw)

    def _failure(self, decision: str, exc: Exception) -> Decision:
        """The deny for an engine failure; subclasses may name known causes (unreachable...)."""
        return deny(decision, f"policy engine {self.name} failed: {exc}: denied",
                    error=type(exc).__name__)

    @abc.abstractmethod
    def _evaluate(self, package: str, input: Mapping[str, Any]) -> Any:
        """Evaluate ``data.<package>.decision`` on ``input`` and return the raw result."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or processes, if any."""


def check_decision_name(decision: str) -> str:
    """The Rego package path of ``decision``, or an error listing the known decisions."""
    try:
        return DECISIONS[decision]
    except KeyError:
        known = ", ".join(sorted(DECISIONS))
        raise InvalidInput(f"unknown decision {decision!r}: use one of {known}") from None
