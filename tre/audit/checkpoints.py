"""Signed audit checkpoints: the chain's head, signed with a key the database never holds.

A checkpoint ``{"seq", "hash", "time", "signature"}`` states "event ``seq`` had hash ``hash``".
``head.json`` holds the newest (rewritten under a file lock after every commit that wrote events);
``checkpoints.jsonl`` keeps one line every :data:`LOG_EVERY` events so that a rewrite deep in the
past is pinned too. Someone who can write the database but not this folder's key cannot truncate,
rewrite or re-chain the log without ``tre audit verify`` noticing (docs/security-model.md).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

from tre.errors import AuditIntegrityError, StorageError

LOG_EVERY = 1000
"""Events between two lines of the checkpoint log."""

HEAD_FILE = "head.json"
LOG_FILE = "checkpoints.jsonl"
LOCK_FILE = "lock"
HEAD_RECORD_BYTES = 512
"""head.json is always this long (the line, padded with spaces): a checkpoint is ~250 bytes."""

PRIVATE_KEY = "audit-ed25519.pem"
PUBLIC_KEY = "audit-ed25519.pub.pem"


_LINE = json.JSONEncoder(sort_keys=True)
"""``json.dumps(..., sort_keys=True)``, built once."""
_LINE_FORMAT = '{"hash": %s, "seq": %s, "signature": %s, "time": %s}'
"""A checkpoint as ``_LINE`` writes it, filled in with each string JSON-encoded."""
_HEAD_SEQ = re.compile(rb'\{"hash": "[0-9a-f]*", "seq": (0|[1-9][0-9]{0,18}), '
                       rb'"signature": "[A-Za-z0-9+/=]*", "time": "[0-9T:.+-]*"\} *\n?')
"""A head record exactly as this module writes one: its seq is read without a JSON parse."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that event ``seq`` carried ``hash``."""

    seq: int
    hash: str
    time: str
    signature: str

    def message(self) -> bytes:
        """The bytes that are signed."""
        return f"tre-audit-checkpoint:{self.seq}:{self.hash}:{self.time}".encode()

    def to_line(self) -> str:
        """One JSON line (keys sorted): exactly ``json.dumps(..., sort_keys=True)``'s."""
        if type(self.seq) is not int:  # as json writes it (a bool, an int subclass...)
            return _LINE.encode({"seq": self.seq, "hash": self.hash, "time": self.time,
                                 "signature": self.signature})
        return _LINE_FORMAT % (encode_basestring_ascii(self.hash), int.__repr__(self.seq),
                               encode_basestring_ascii(self.signature),
                               encode_basestring_ascii(self.time))

    @classmethod
    def from_json(cls, text: str, where: str) -> Checkpoint:
        """Parse a checkpoint, or raise AuditIntegrityError naming ``where``."""
        try:
            raw = json.loads(text)
            return cls(int(raw["seq"]), str(raw["hash"]), str(raw["time"]),
                       str(raw["signature"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditIntegrityError(f"unreadable audit checkpoint in {where}: {exc}") from exc


def create_keys(keys_dir: Path, private_name: str = PRIVATE_KEY,
                public_name: str = PUBLIC_KEY) -> None:
    """Create an Ed25519 key pair once (private key mode 0600); default: the audit key."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = keys_dir / private_name
    if private.exists():
        return
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: theirs stands
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    (keys_dir / public_name).write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The verification key at ``path``."""
    try:
        key = load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise AuditIntegrityError(f"cannot read the audit public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditIntegrityError(f"{path} is not an Ed25519 public key")
    return key


class CheckpointWriter:
    """Signs and records checkpoints after commits; safe across processes (file lock)."""

    def __init__(self, audit_dir: Path, keys_dir: Path) -> None:
        self.audit_dir = audit_dir
        try:
            key = load_pem_private_key((keys_dir / PRIVATE_KEY).read_bytes(), password=None)
        except FileNotFoundError:
            raise StorageError(
                f"the audit signing key {keys_dir / PRIVATE_KEY} is missing: run `tre init`"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise StorageError(f"{keys_dir / PRIVATE_KEY} is not an Ed25519 private key")
        # Signed with libsodium: the same Ed25519 (deterministic, so the very same signature)
        # at about half the cost of a signature through OpenSSL, once per commit.
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        self._secret = crypto_sign_seed_keypair(seed)[1]
        audit_dir.mkdir(parents=True, exist_ok=True)
        self._lock_path = str(audit_dir / LOCK_FILE)
        self._head_path = str(audit_dir / HEAD_FILE)
        self._log_path = str(audit_dir / LOG_FILE)

    def sign(self, seq: int, hash: str) -> Checkpoint:
        """A checkpoint for event ``seq`` with ``hash``, signed now."""
        time = datetime.now(UTC).isoformat()
        unsigned = Checkpoint(seq, hash, time, "")
        signature = base64.b64encode(crypto_sign(unsigned.message(), self._secret)[:64]).decode()
        return Checkpoint(seq, hash, time, signature)

    def record(self, seq: int, hash: str, *, previous_seq: int) -> None:
        """Record the head after a commit that moved it from ``previous_seq`` to ``seq``.

        ``head.json`` is overwritten in place with one fixed-size write, under the folder's
        lock: replacing it by rename (or truncating it) makes ext4 flush the new data at once
        (auto_da_alloc), which cost 0.2 to 2 ms a commit. Readers take the lock shared.
        """
        line = self.sign(seq, hash).to_line()
        lock = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            head = os.open(self._head_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                raw = os.pread(head, HEAD_RECORD_BYTES + 1, 0)
                current = _head_seq(raw)
                if current is None or current < seq:
                    _overwrite(head, line, len(raw))
            finally:
                os.close(head)
            if seq // LOG_EVERY > previous_seq // LOG_EVERY or previous_seq == 0:
                with open(self._log_path, "a") as log:
                    log.write(line + "\n")
        finally:
            os.close(lock)  # and with it the lock


def _head_seq(raw: bytes) -> int | None:
    """The ``seq`` in a head record; None if there is none or it is unreadable (rewrite it)."""
    written = _HEAD_SEQ.fullmatch(raw)
    if written is not None:
        return int(written[1])
    try:
        return int(json.loads(raw)["seq"])
    except (ValueError, KeyError, TypeError):
        return None


def _overwrite(fd: int, line: str, read: int) -> None:
    """Make the file ``line`` padded to a fixed size: one write, no truncation, no rename.

    ``read``: the bytes a read of ``HEAD_RECORD_BYTES + 1`` found; more than a record means the
    file is longer than the new one (which is never shorter than a record): it is cut.
    """
    data = line.encode()
    data += b" " * max(0, HEAD_RECORD_BYTES - 1 - len(data)) + b"\n"
    os.pwrite(fd, data, 0)
    if read > HEAD_RECORD_BYTES:
        os.ftruncate(fd, len(data))


@contextmanager
def _shared_lock(audit_dir: Path) -> Iterator[None]:
    """Hold the folder's lock shared (so no write is seen half done), if it can be opened."""
    try:
        fd = os.open(audit_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:  # no writer yet, or a read-only auditor's copy of the folder
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def read_head(audit_dir: Path) -> Checkpoint | None:
    """The newest signed checkpoint, or None if none was written."""
    path = audit_dir / HEAD_FILE
    try:
        with _shared_lock(audit_dir):
            text = path.read_text()
    except FileNotFoundError:
        return None
    return Checkpoint.from_json(text, str(path))


def read_log(audit_dir: Path, problems: list[str] | None = None) -> Iterator[Checkpoint]:
    """Every checkpoint of the log, in file order.

    An unreadable line raises AuditIntegrityError, or, if ``problems`` is given, is described
    there and skipped.
    """
    path = audit_dir / LOG_FILE
    try:
        with _shared_lock(audit_dir):
            text = path.read_text()
    except FileNotFoundError:
        return
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield Checkpoint.from_json(line, f"{path}:{n}")
            except AuditIntegrityError as exc:
                if problems is None:
                    raise
                problems.append(str(exc))


def check_signature(checkpoint: Checkpoint, key: Ed25519PublicKey) -> bool:
    """Whether ``checkpoint`` was signed by ``key``'s private half."""
    try:
        key.verify(base64.b64decode(checkpoint.signature), checkpoint.message())
    except (InvalidSignature, ValueError):
        return False
    return True
