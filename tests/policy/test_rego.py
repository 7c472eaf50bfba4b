"""The Rego itself: formatted, strict-checked and unit-tested by the real opa binary."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tre.policy.bundle import default_policies_dir
from tre.policy.decisions import DECISIONS

POLICIES = default_policies_dir()


def _opa(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_every_decision_has_a_policy_and_a_test_file() -> None:
    missing = [
        str(path.relative_to(POLICIES))
        for package in DECISIONS.values()
        for path in (POLICIES / f"{package}.rego", POLICIES / f"{package}_test.rego")
        if not path.is_file()
    ]
    assert missing == []


def test_every_package_mirrors_its_folder() -> None:
    for path in POLICIES.rglob("*.rego"):
        package = re.search(r"^package (\S+)$", path.read_text(), re.MULTILINE)
        assert package is not None, path
        expected = path.relative_to(POLICIES).with_suffix("").as_posix().replace("/", ".")
        assert package.group(1) == expected


@pytest.mark.opa
def test_policies_are_formatted(opa_binary: Path) -> None:
    result = _opa(opa_binary, "fmt", "--list", str(POLICIES))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.opa
def test_policies_pass_strict_check(opa_binary: Path) -> None:
    result = _opa(opa_binary, "check", "--strict", str(POLICIES))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.opa
def test_rego_unit_tests_pass(opa_binary: Path) -> None:
    result = _opa(opa_binary, "test", "-v", str(POLICIES))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"^PASS: (\d+)/(\d+)$", result.stdout, re.MULTILINE)
    assert summary is not None, result.stdout
    assert summary.group(1) == summary.group(2)
    assert "FAIL" not in result.stdout
