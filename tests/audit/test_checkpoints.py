"""Checkpoints are signed with libsodium: plain Ed25519, the very signature OpenSSL gives."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tre.audit.checkpoints import (
    _HEAD_SEQ,
    PRIVATE_KEY,
    PUBLIC_KEY,
    Checkpoint,
    CheckpointWriter,
    _head_seq,
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


@pytest.mark.parametrize("checkpoint", [
    Checkpoint(7, "ab" * 32, "2026-11-23T01:02:03.456789+00:00", "c2lnbmF0dXJl+/=="),
    Checkpoint(0, "", "", ""),
    Checkpoint(2**70, 'a"b\\c', "zoë\u2028雪", "\n"),
    Checkpoint(True, "x", "t", "s"),  # json renders a bool seq as true, not as int does
])
def test_a_checkpoint_line_is_json_with_sorted_keys(checkpoint: Checkpoint) -> None:
    line = checkpoint.to_line()
    assert line == json.dumps({"seq": checkpoint.seq, "hash": checkpoint.hash,
                               "time": checkpoint.time, "signature": checkpoint.signature},
                              sort_keys=True)
    assert Checkpoint.from_json(line, "test") == checkpoint


@pytest.mark.parametrize("raw", [
    b'{"hash": "00", "seq": 12, "signature": "c2ln", "time": "2026-11-23T01:02:03+00:00"}'
    + b" " * 400 + b"\n",
    b'{"hash": "00", "seq": 0, "signature": "", "time": ""}\n',
    b'{"hash": "00", "seq": 012, "signature": "", "time": ""}',
    b'{"hash": "00", "seq": 12, "seq": 13, "signature": "", "time": ""}',
    b'{"seq": 12, "hash": "00", "signature": "", "time": ""}',
    b'  {"hash": "00", "seq": 12, "signature": "", "time": ""}',
    b'{"hash": "00", "seq": "12", "signature": "", "time": ""}',
    b'{"hash": "00", "seq": 12.5, "signature": "", "time": ""}',
    b"", b"not json", b"[]", b'{"seq": null}',
])
def test_the_head_seq_is_what_json_reads(raw: bytes) -> None:
    try:
        expected: int | None = int(json.loads(raw)["seq"])
    except (ValueError, KeyError, TypeError):
        expected = None
    assert _head_seq(raw) == expected


def test_a_written_head_is_read_without_a_json_parse(tmp_path: Path) -> None:
    create_keys(tmp_path / "keys")
    writer = CheckpointWriter(tmp_path / "audit", tmp_path / "keys")
    writer.record(5, "ab" * 32, previous_seq=0)
    raw = (tmp_path / "audit" / "head.json").read_bytes()
    assert _HEAD_SEQ.fullmatch(raw) is not None
    assert _head_seq(raw) == 5
