"""Local hub passwords: scrypt hashes in $TRE_HOME/hub-passwords.json (until tre stores them)."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from tre.domain.values import check_user_name
from tre.errors import InvalidInput, StorageError

FORMAT = 1
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_LENGTH = 12


def password_file(home: Path) -> Path:
    """Where the hashes live (mode 0600, beside tre's database)."""
    return home / "hub-passwords.json"


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024**2,
                          dklen=32)


def _read(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read {path}: {exc}; reset passwords with "
                           "`tre users passwd NAME`") from None
    users = raw.get("users") if isinstance(raw, dict) else None
    if raw.get("format") != FORMAT or not isinstance(users, dict):
        raise StorageError(f"{path} is malformed: move it away and reset passwords with "
                           "`tre users passwd NAME`")
    return {str(k): str(v) for k, v in users.items()}


def set_password(home: Path, user: str, password: str) -> None:
    """Store ``user``'s password as a salted scrypt hash (replacing any earlier one)."""
    check_user_name(user)
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a hub password needs at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = _hash(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    encoded = "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                        base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])
    path = password_file(home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        users = _read(path)
        users[user] = encoded
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"format": FORMAT, "users": users}, indent=2, sort_keys=True))
        tmp.chmod(0o600)
        os.replace(tmp, path)
    finally:
        os.close(fd)


def check_password(home: Path, user: str, password: str) -> bool:
    """Whether ``password`` is ``user``'s; False for unknown users or malformed entries."""
    encoded = _read(password_file(home)).get(user)
    if encoded is None:
        return False
    try:
        kind, n, r, p, salt, digest = encoded.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = _hash(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)
