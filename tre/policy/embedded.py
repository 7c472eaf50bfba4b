"""The in-process policy engine: tre's Rego evaluated by regorus, one compiled engine per thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import regorus

from tre.errors import PolicyEngineUnavailable
from tre.policy.allow_paths import ALLOW_PATHS, AllowPath, HeldPermits, mirrors
from tre.policy.bundle import PolicyFile, default_policies_dir, load_bundle
from tre.policy.data import PolicyData
from tre.policy.decisions import ALLOW_RULE, DECISION_RULE, DECISIONS, Decision
from tre.policy.engine import PolicyEngine

_UNDEFINED = '"<undefined>"'
_GRANTED_KEPT = 4096
"""Allowed Decisions kept per allow path for reuse (they are immutable), before starting over."""
_TO_JSON = json.JSONEncoder(allow_nan=False).encode
"""Strict JSON (NaN is not JSON), with the encoder built once (json.dumps with options
builds one per call)."""


class EmbeddedEvaluationError(Exception):
    """regorus failed to evaluate a decision (the engine turns this into a deny)."""


def rule_path(package: str, rule: str = DECISION_RULE) -> str:
    """``tre/data/access`` -> ``data.tre.data.access.decision`` (or another ``rule``)."""
    return f"data.{package.replace('/', '.')}.{rule}"


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


def compile_program(bundle: tuple[PolicyFile, ...],
                    extra_rules: Iterable[str] = ()) -> regorus.Program | None:
    """The bundle compiled to regorus's bytecode (RVM), every decision an entry point.

    ``extra_rules`` (full rule paths) are entry points too. None when regorus cannot compile
    it: the interpreter then answers every decision.
    """
    try:
        return regorus.Program.compile_from_modules(
            "{}", [(policy.name, policy.text) for policy in bundle],
            [*(rule_path(package) for package in DECISIONS.values()), *extra_rules])
    except Exception:  # an optimisation only: the interpreter stays the fallback
        return None


def program_vm(program: regorus.Program) -> regorus.Rvm:
    """A bytecode VM running ``program``."""
    vm = regorus.Rvm()
    vm.load_program(program)
    return vm


def _run_vm(vm: regorus.Rvm, rule: str, input_json: str) -> str | None:
    """The VM's JSON result of ``rule`` on ``input_json``, or None if it failed."""
    try:
        vm.set_input_json(input_json)
        result: str = vm.execute_entry_point(rule)
    except Exception:  # any VM failure: the interpreter decides
        return None
    except BaseException as exc:
        if not _is_panic(exc):
            raise
        return None
    return result


def fast_allow(vm: regorus.Rvm, rule: str, input_json: str) -> Any:
    """The VM's ``decision`` document if it allows, else None (the interpreter answers).

    regorus 0.13's VM puts undefined elements into partial sets (``deny contains
    sprintf(..., [undefined])`` yields ``"<undefined>"``), so its deny reasons differ from
    OPA's; its ``allow`` agreed with the interpreter on every generated input
    (tests/policy/test_differential.py holds that). So it answers allows only.
    """
    result = _run_vm(vm, rule, input_json)
    if result is None or not result.startswith('{\n  "allow": true,'):
        return None
    answer = json.loads(result)
    return answer if answer.get("allow") is True else None


def _json_text(input: Mapping[str, Any]) -> str | None:
    try:
        return _TO_JSON(input)
    except (TypeError, ValueError):  # not JSON: the interpreter decides (and denies)
        return None


class _AllowAnswer:
    """An allow path of one decision: its ``allow`` rule's path, and the Decisions it gave."""

    def __init__(self, decision: str, package: str, path: AllowPath) -> None:
        self.decision = decision
        self.rule = rule_path(package, ALLOW_RULE)
        self.path = path
        self.granted: dict[tuple[str, ...], Decision] = {}

    def decision_for(self, reasons: tuple[str, ...]) -> Decision:
        """The allow with ``reasons``, reused when it was given before."""
        granted = self.granted.get(reasons)
        if granted is None:
            if len(self.granted) >= _GRANTED_KEPT:
                self.granted.clear()
            granted = self.granted[reasons] = Decision(self.decision, True, reasons)
        return granted


class _Evaluators:
    """One thread's interpreter and bytecode VM, and the data generation they hold."""

    def __init__(self, engine: regorus.Engine, vm: regorus.Rvm | None) -> None:
        self.engine = engine
        self.vm = vm
        self.generation = 0
        self.permits: HeldPermits = {}


class EmbeddedPolicyEngine(PolicyEngine):
    """Answers decisions in-process with regorus; the default engine (no server to run).

    regorus engines are bound to the thread that made them, so each thread compiles its own
    from the bundle read once at construction. A decision first runs on regorus's bytecode VM
    (input as JSON text): an allow from it is the answer; anything else (deny, undefined,
    error) is answered by the interpreter, whose deny reasons match OPA's. Decisions of
    :data:`~tre.policy.allow_paths.ALLOW_PATHS` (data_access) run only their ``allow`` rule on
    the VM, and an allow is answered with the document built in Python, while the policy holds
    the Rego that builder mirrors. The interpreter takes the input with
    ``set_input`` (a dict) and gives results as JSON, like OPA's REST API: sets become arrays
    in Rego's order (and sets of sets convert, which ``eval_rule`` cannot do). Permits put
    with :meth:`put_permit` are ``data.permits`` for both, reloaded by each thread before its
    next decision.
    """

    name = "embedded"

    def __init__(self, policies_dir: Path | None = None) -> None:
        super().__init__()
        self.policies_dir = policies_dir if policies_dir is not None else default_policies_dir()
        self._bundle = load_bundle(self.policies_dir)
        self._rules = {package: rule_path(package) for package in DECISIONS.values()}
        self._allow_answers = {
            name: _AllowAnswer(name, package, ALLOW_PATHS[package])
            for name, package in DECISIONS.items()
            if package in ALLOW_PATHS and mirrors(ALLOW_PATHS[package], package, self._bundle)}
        self._allow_packages = frozenset(DECISIONS[name] for name in self._allow_answers)
        self._data = PolicyData()
        self._local = threading.local()
        # Compile now: broken policies fail at startup, not at the first decision.
        self.compiled = self._evaluators().vm is not None
        """Whether allows come from the bytecode VM (False: the interpreter answers all)."""
        self.allow_only = self._allow_packages if self.compiled else frozenset()
        """Packages whose allows come from their ``allow`` rule alone."""

    def _evaluators(self) -> _Evaluators:
        evaluators: _Evaluators | None = getattr(self._local, "evaluators", None)
        if evaluators is None:
            engine = compile_engine(self._bundle, self.policies_dir)
            program = compile_program(
                self._bundle, [answer.rule for answer in self._allow_answers.values()])
            evaluators = _Evaluators(engine, None if program is None else program_vm(program))
            self._local.evaluators = evaluators
        if evaluators.generation != self._data.generation:
            generation, text, permits = self._data.snapshot()
            evaluators.engine.clear_data()
            evaluators.engine.add_data_json(text)
            if evaluators.vm is not None:
                evaluators.vm.set_data_json(text)
            evaluators.generation, evaluators.permits = generation, permits
        return evaluators

    def _store_permit(self, project: str, permit: Mapping[str, Any]) -> None:
        self._data.put_permit(project, permit)

    def decide(self, decision: str, input: Mapping[str, Any]) -> Decision:
        """As :meth:`PolicyEngine.decide`; an allow path's allow is answered first."""
        answer = self._allow_answers.get(decision)
        if answer is not None:
            try:
                granted = self._granted(answer, input)
            except Exception:  # the general path below decides, and denies on failure
                granted = None
            if granted is not None:
                return granted
        return super().decide(decision, input)

    def _granted(self, answer: _AllowAnswer, input: Mapping[str, Any]) -> Decision | None:
        """The allow when the VM's ``allow`` rule holds and the path builds its reasons."""
        evaluators = self._evaluators()
        if evaluators.vm is None:
            return None
        text = answer.path.encode(input) or _json_text(input)
        if text is None or _run_vm(evaluators.vm, answer.rule, text) != "true":
            return None
        reasons = answer.path.reasons(input, evaluators.permits)
        return None if reasons is None else answer.decision_for(reasons)

    def _evaluate(self, package: str, input: Mapping[str, Any]) -> Any:
        try:
            evaluators = self._evaluators()
        except Exception as exc:
            message = f"cannot prepare the engine: {_first_line(exc)}"
            raise EmbeddedEvaluationError(message) from None
        rule = self._rules[package]
        # An allow path's allows were answered in decide(): no second run of the VM.
        if evaluators.vm is not None and package not in self._allow_packages:
            text = _json_text(input)
            allowed = None if text is None else fast_allow(evaluators.vm, rule, text)
            if allowed is not None:
                return allowed
        engine = evaluators.engine
        try:
            engine.set_input(input if isinstance(input, dict) else dict(input))
            result = engine.eval_rule_as_json(rule)
        except Exception as exc:
            raise EmbeddedEvaluationError(_first_line(exc)) from None
        except BaseException as exc:
            if not _is_panic(exc):
                raise
            raise EmbeddedEvaluationError(f"regorus panicked: {_first_line(exc)}") from None
        return _from_json(result)
