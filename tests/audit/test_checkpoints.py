"""Checkpoints are signed with libsodium: plain Ed25519, the very signature OpenSSL gives."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tre.audit.checkpoints import (
    PRIVATE_KEY,
    PUBLIC_KEY,
    Checkpoint,
    CheckpointWriter,
    check_signature,
    create_keys,
    load_public_key,
)


def test_a_checkpoint_signature_is_the_keys_ed25519_signature(tmp_path: Path) -> None:
    create_keys(tmp_path / "keys")
    writer = CheckpointWriter(tmp_path / "audit", tmp_path / "keys")
    checkpoint = writer.sign(41, "ab" * 32)
    key = load_pem_private_key((tmp_path / "keys" / PRIVATE_KEY).read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert base64.b64decode(checkpoint.signature) == key.sign(checkpoint.message())
    public = load_public_key(tmp_path / "keys" / PUBLIC_KEY)
    assert check_signature(checkpoint, public)
    forged = Checkpoint(42, checkpoint.hash, checkpoint.time, checkpoint.signature)
    assert not check_signature(forged, public)


def test_another_nodes_key_does_not_verify(tmp_path: Path) -> None:
    create_keys(tmp_path / "ours")
    create_keys(tmp_path / "theirs")
    checkpoint = CheckpointWriter(tmp_path / "audit", tmp_path / "theirs").sign(1, "00" * 32)
    assert not check_signature(checkpoint, load_public_key(tmp_path / "ours" / PUBLIC_KEY))
