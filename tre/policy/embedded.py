"""The in-process policy engine: tre's Rego evaluated by regorus, one compiled engine per thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import regorus

from tre.errors import PolicyEngineUnavailable
from tre.policy.bundle import PolicyFile, default_policies_dir, load_bundle
from tre.policy.decisions import DECISION_RULE, DECISIONS
from tre.policy.engine import PolicyEngine

_UNDEFINED = '"<undefined>"'


class EmbeddedEvaluationError(Exception):
    """regorus failed to evaluate a decision (the engine turns this into a deny)."""


def rule_path(package: str) -> str:
    """``tre/data/access`` -> ``data.tre.data.access.decision``."""
    return f"data.{package.replace('/', '.')}.{DECISION_RULE}"


def _first_line(exc: BaseException) -> str:
    # regorus errors carry a Rust backtrace after the message: keep the message only.
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _is_panic(exc: BaseException) -> bool:
    # pyo3 raises PanicException (a BaseException) when the Rust side panics.
    return type(exc).__name__ == "PanicException"


def _from_json(text: str) -> Any:
    # regorus gives undefined as the JSON string "<undefined>"; from_result denies None.
    return None if text == _UNDEFINED else json.loads(text)


def compile_engine(bundle: tuple[PolicyFile, ...], source: Path) -> regorus.Engine:
    """A regorus engine holding ``bundle``, checked to define every decision of DECISIONS."""
    engine = regorus.Engine()
    for policy in bundle:
        try:
            engine.add_policy(policy.name, policy.text)
        except Exception as exc:  # any parse error: refuse to start
            raise PolicyEngineUnavailable(
                f"policy {source / policy.name} does not compile: {_first_line(exc)}: "
                "fix it (opa check --strict policies/)"
            ) from None
    engine.set_input({})
    for name, package in DECISIONS.items():
        try:
            engine.eval_rule_as_json(rule_path(package))
        except Exception as exc:
            raise PolicyEngineUnavailable(
                f"policies in {source} do not define {rule_path(package)} (decision {name}): "
                f"{_first_line(exc)}"
            ) from None
    return engine


class EmbeddedPolicyEngine(PolicyEngine):
    """Answers decisions in-process with regorus; the default engine (no server to run).

    regorus engines are bound to the thread that made them, so each thread compiles its own
    from the bundle read once at construction. Inputs go in with ``set_input`` (a dict):
    measured faster here than ``json.dumps`` + ``set_input_json``. Results come out as JSON,
    like OPA's REST API: sets become arrays in Rego's order (and sets of sets convert, which
    ``eval_rule`` cannot do), at the same cost as ``eval_rule``.
    """

    name = "embedded"

    def __init__(self, policies_dir: Path | None = None) -> None:
        self.policies_dir = policies_dir if policies_dir is not None else default_policies_dir()
        self._bundle = load_bundle(self.policies_dir)
        self._rules = {package: rule_path(package) for package in DECISIONS.values()}
        self._local = threading.local()
        self._engine()  # compile now: broken policies fail at startup, not at the first decision

    def _engine(self) -> regorus.Engine:
        engine: regorus.Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            engine = compile_engine(self._bundle, self.policies_dir)
            self._local.engine = engine
        return engine

    def _evaluate(self, package: str, input: Mapping[str, Any]) -> Any:
        engine = self._engine()
        try:
            engine.set_input(input if isinstance(input, dict) else dict(input))
            result = engine.eval_rule_as_json(self._rules[package])
        except Exception as exc:
            raise EmbeddedEvaluationError(_first_line(exc)) from None
        except BaseException as exc:
            if not _is_panic(exc):
                raise
            raise EmbeddedEvaluationError(f"regorus panicked: {_first_line(exc)}") from None
        return _from_json(result)
