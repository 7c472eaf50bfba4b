"""The node's release signing key (``$TRE_HOME/keys/release-ed25519.pem``) and signatures.

Kept apart from the audit key so that either can be rotated alone; created like it (mode 0600,
created once, never overwritten).
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)

from tre.audit.checkpoints import create_keys
from tre.errors import InvalidInput, StorageError

PRIVATE_KEY = "release-ed25519.pem"
PUBLIC_KEY = "release-ed25519.pub.pem"


def ensure_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The release signing key, created on first use."""
    create_keys(keys_dir, PRIVATE_KEY, PUBLIC_KEY)
    private = keys_dir / PRIVATE_KEY
    loaded = load_pem_private_key(private.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise StorageError(f"{private} is not an Ed25519 private key: move it away and retry")
    return loaded


def public_key(keys_dir: Path) -> Ed25519PublicKey:
    """The release verification key."""
    path = keys_dir / PUBLIC_KEY
    try:
        key = load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the release public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{path} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """A base64 signature of ``message``."""
    return base64.b64encode(key.sign(message)).decode()


def verify(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """Whether ``signature`` signs ``message``."""
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
