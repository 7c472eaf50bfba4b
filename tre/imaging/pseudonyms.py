"""Keyed pseudonyms: patient ids, date shifts and UIDs, all HMAC-SHA256 of the holder's key.

The key belongs to the data holder. It is read from a file given on the command line (or
``TRE_PSEUDONYM_KEY_FILE``) and is never written to a dataset, a project or the database: with
it, the same inputs always give the same pseudonyms; without it, nobody can reverse or recompute
them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tre.errors import InvalidInput

MIN_KEY_BYTES = 32
KEY_ENV = "TRE_PSEUDONYM_KEY_FILE"
UID_ROOT = "2.25."
STANDARD_UID_ROOT = "1.2.840.10008."
MAX_SHIFT_DAYS = 365
_HOW_TO_MAKE = "make one with `head -c 32 /dev/urandom > pseudonym.key && chmod 600 pseudonym.key`"


@dataclass(frozen=True, slots=True)
class PseudonymKey:
    """The holder's secret; ``repr`` never shows it."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise InvalidInput(f"the pseudonym key has {len(self.secret)} bytes, fewer than "
                               f"{MIN_KEY_BYTES}: {_HOW_TO_MAKE}")

    def digest(self, purpose: str, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` for one ``purpose`` (so uses never collide)."""
        return hmac.new(self.secret, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()

    def fingerprint(self) -> str:
        """A public, non-reversible name of the key, to tell versions made with different keys."""
        return self.digest("fingerprint", "tre").hex()[:16]


def load_key(path: Path | None) -> PseudonymKey:
    """Read the key file, refusing one that is missing, short or readable by others."""
    if path is None:
        raise InvalidInput(f"no pseudonym key: give --key-file FILE or set {KEY_ENV}; "
                           f"{_HOW_TO_MAKE}")
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidInput(f"pseudonym key file {path} does not exist: give the data holder's "
                           f"key, or {_HOW_TO_MAKE}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"pseudonym key {path} is not a regular file: give the key file")
    if info.st_mode & 0o077:
        raise InvalidInput(f"pseudonym key file {path} can be read by other users "
                           f"(mode {stat.S_IMODE(info.st_mode):o}): run `chmod 600 {path}`")
    try:
        secret = path.read_bytes()
    except PermissionError:
        raise InvalidInput(f"cannot read pseudonym key file {path}: check its owner") from None
    if not secret.strip():
        raise InvalidInput(f"pseudonym key file {path} is empty: {_HOW_TO_MAKE}")
    return PseudonymKey(secret)


def key_from_environment() -> Path | None:
    """The key file named by ``TRE_PSEUDONYM_KEY_FILE``, if set."""
    value = os.environ.get(KEY_ENV)
    return Path(value) if value else None


def patient_pseudonym(key: PseudonymKey, patient_id: str) -> str:
    """A short, stable pseudonym: ``P-`` and 12 base32 characters (60 bits) of the HMAC."""
    digest = key.digest("patient", patient_id.strip())
    return "P-" + base64.b32encode(digest).decode()[:12]


def date_shift_days(key: PseudonymKey, patient_id: str) -> int:
    """The patient's one date shift, between -365 and -1 days."""
    digest = key.digest("date-shift", patient_id.strip())
    return -(1 + int.from_bytes(digest[:8], "big") % MAX_SHIFT_DAYS)


def time_shift_seconds(key: PseudonymKey, patient_id: str) -> int:
    """The patient's time-of-day shift, 0 to 86399 seconds (added to the date shift)."""
    digest = key.digest("time-shift", patient_id.strip())
    return int.from_bytes(digest[:8], "big") % 86400


def remap_uid(key: PseudonymKey, uid: str) -> str:
    """``2.25.<int of 128 HMAC bits>``: the same UID always maps to the same new UID.

    Standard UIDs (transfer syntaxes, SOP classes, coding schemes under 1.2.840.10008) name
    no one and are left alone.
    """
    uid = uid.strip().rstrip("\0")
    if not uid or uid.startswith(STANDARD_UID_ROOT):
        return uid
    return UID_ROOT + str(int.from_bytes(key.digest("uid", uid)[:16], "big"))
