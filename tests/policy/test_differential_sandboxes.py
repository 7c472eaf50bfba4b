"""Generated inputs of the sandbox decisions (test_differential.py runs both engines, the VM
and the allow/deny check on them through its GENERATORS) and every sandbox reason reached.

The generators reuse test_differential.py's machinery, imported when they run rather than at
import time, so that test_differential.py may import ``SANDBOX_GENERATORS`` into its own registry.
"""

from __future__ import annotations

import copy
import importlib
import random
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tre.policy.embedded import EmbeddedPolicyEngine

TWIN = {"dataset": "lung-ct-synth", "version": "v1", "synthetic": True}
REAL = {"dataset": "lung-ct", "version": "v1", "synthetic": False}
DATASET_CHOICES: list[Any] = [[TWIN], [TWIN, REAL], [REAL], [], [{"dataset": "x", "version": "v2"}],
                              [{**TWIN, "synthetic": "true"}], [None, TWIN], "lung-ct@v1",
                              [{"dataset": "lung-ct-synth", "synthetic": True}]]
ROLE_CHOICES: list[Any] = [["sme_developer"], ["researcher"], ["hdab_officer"], "sme_developer",
                           [None, "researcher"]]


def _differential() -> ModuleType:
    """test_differential.py (whose GENERATORS holds SANDBOX_GENERATORS too)."""
    return importlib.import_module("policy.test_differential")


def _sandbox(rng: random.Random) -> dict[str, Any]:
    return {"id": "sbx-1", "name": "proto", "owner": "sam", "members": ["sue"],
            "status": rng.choice(["active", "active", "closed"]),
            "datasets": copy.deepcopy(rng.choice([[TWIN], [TWIN], [TWIN, REAL]]))}


def sandbox_access_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    shared = _differential()
    yield {}
    for _ in range(shared.CASES_PER_DECISION):
        base = {"user": shared._actor(rng, rng.choice(["sam", "sue"]), "sme_developer"),
                "sandbox": _sandbox(rng)}
        yield shared._mutate(rng, base, {
            "user.name": ["sam", "sue", "mallory", 3], "user.roles": ROLE_CHOICES,
            "sandbox": [None, _sandbox(rng)], "sandbox.name": ["proto", 7],
            "sandbox.owner": ["sam", "mallory", None],
            "sandbox.members": [[], ["sue", "bob"], "sue", [None, 4]],
            "sandbox.status": ["active", "closed", "ACTIVE"], "sandbox.datasets": DATASET_CHOICES,
        })


def sandbox_create_cases(rng: random.Random) -> Iterator[dict[str, Any]]:
    shared = _differential()
    yield {}
    for _ in range(shared.CASES_PER_DECISION):
        sandbox = _sandbox(rng)
        del sandbox["id"], sandbox["status"]
        base = {"actor": shared._actor(rng, "sam", rng.choice(["sme_developer", "researcher"])),
                "sandbox": sandbox}
        yield shared._mutate(rng, base, {
            "actor.name": ["sam", "sue", 3], "actor.roles": ROLE_CHOICES,
            "sandbox": [None, {"name": "proto"}], "sandbox.name": ["proto", 7],
            "sandbox.owner": ["sam", "sue", None], "sandbox.members": [[], "sue", [None]],
            "sandbox.datasets": DATASET_CHOICES,
        })


SANDBOX_GENERATORS = {"sandbox_access": sandbox_access_cases,
                      "sandbox_create": sandbox_create_cases}
"""The generated inputs of the sandbox decisions."""
NAMES = sorted(SANDBOX_GENERATORS)


REASONS = {
    "sandbox_access": [
        "may use sandbox proto", "is not synthetic: real data needs a data permit",
        "sandbox proto is closed", "is not the owner or a member of sandbox proto",
        "needs the sme_developer or researcher role", "lists a malformed dataset",
        "the sandbox in the input is malformed", "no sandbox in the input",
        "input.user.name is missing or not a string", "input.user.roles is missing",
    ],
    "sandbox_create": [
        "may create sandbox proto", "is not synthetic: real data needs a data permit",
        "needs at least one synthetic dataset", "may only create a sandbox they own",
        "needs the sme_developer or researcher role", "lists a malformed dataset",
        "the sandbox in the input is malformed", "no sandbox in the input",
        "input.actor.name is missing or not a string",
    ],
}


@pytest.mark.parametrize("name", NAMES)
def test_generated_inputs_reach_every_sandbox_reason(
        name: str, embedded_engine: EmbeddedPolicyEngine) -> None:
    reasons = {reason for document in _differential().cases(name)
               for reason in embedded_engine.decide(name, document).reasons}
    assert [text for text in REASONS[name] if not any(text in r for r in reasons)] == []
