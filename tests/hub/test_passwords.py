"""Local hub passwords: scrypt hashes in a 0600 file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tre.errors import InvalidInput, StorageError
from tre.hub.passwords import check_password, password_file, set_password


def test_a_set_password_checks_and_others_do_not(tmp_path: Path) -> None:
    set_password(tmp_path, "alice", "a long enough secret")
    assert check_password(tmp_path, "alice", "a long enough secret")
    assert not check_password(tmp_path, "alice", "a long enough secreT")
    assert not check_password(tmp_path, "bob", "a long enough secret")
    stored = password_file(tmp_path)
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert "a long enough secret" not in stored.read_text()


def test_setting_again_replaces_the_password(tmp_path: Path) -> None:
    set_password(tmp_path, "alice", "first password!")
    set_password(tmp_path, "alice", "second password!")
    assert not check_password(tmp_path, "alice", "first password!")
    assert check_password(tmp_path, "alice", "second password!")


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="at least 12 characters"):
        set_password(tmp_path, "alice", "short")


def test_a_malformed_file_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    password_file(tmp_path).write_text(json.dumps({"format": 9}))
    with pytest.raises(StorageError, match="tre users passwd"):
        check_password(tmp_path, "alice", "whatever it is")
