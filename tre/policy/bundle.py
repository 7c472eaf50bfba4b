"""Find and read the Rego policy files that every engine loads (tests excluded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tre
from tre.errors import InvalidInput


def default_policies_dir() -> Path:
    """The repository's ``policies/`` folder, beside the ``tre`` package."""
    return Path(tre.__file__).resolve().parent.parent / "policies"


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One Rego module: its path relative to the policies folder, and its text."""

    name: str
    text: str


def policy_paths(policies_dir: Path) -> list[Path]:
    """Every ``*.rego`` under ``policies_dir`` except ``*_test.rego``, in a stable order."""
    if not policies_dir.is_dir():
        raise InvalidInput(
            f"policies folder {policies_dir} does not exist: point the policy engine at the "
            "folder holding tre's Rego (the repository's policies/)"
        )
    paths = sorted(
        p for p in policies_dir.rglob("*.rego")
        if p.is_file() and not p.name.endswith("_test.rego")
    )
    if not paths:
        raise InvalidInput(
            f"policies folder {policies_dir} holds no .rego policies: point the policy engine "
            "at the folder holding tre's Rego (the repository's policies/)"
        )
    return paths


def load_bundle(policies_dir: Path) -> tuple[PolicyFile, ...]:
    """Read every policy module under ``policies_dir`` (UTF-8)."""
    return tuple(
        PolicyFile(name=path.relative_to(policies_dir).as_posix(),
                   text=path.read_text(encoding="utf-8"))
        for path in policy_paths(policies_dir)
    )
