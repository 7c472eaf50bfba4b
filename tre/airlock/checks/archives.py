"""Members of zip, tar and compressed files, read within bounds (zip-bomb safe).

Every member is read through a counter: the total unpacked bytes and number of members of one
submitted file are bounded, declared sizes are not trusted, and a member that inflates more
than the allowed ratio stops the walk. Links and device entries in a tar are findings.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from tre.airlock.checks.context import Limits
from tre.airlock.checks.sniff import Content
from tre.domain.egress import Finding, Severity

CHECK = "archives"
CHUNK = 1 << 20


class ArchiveLimitExceeded(Exception):
    """Unpacking would pass a bound; the walk stops with a block finding."""


@dataclass
class Budget:
    """What is left to unpack for one submitted file."""

    bytes_left: int
    members_left: int

    @classmethod
    def of(cls, limits: Limits) -> Budget:
        """A fresh budget."""
        return cls(limits.max_unpacked_bytes, limits.max_members)


def _read_bounded(stream: IO[bytes], budget: Budget, packed: int, limits: Limits,
                  name: str) -> bytes:
    """Read ``stream`` to its end without passing the budget or the compression ratio."""
    budget.members_left -= 1
    if budget.members_left < 0:
        raise ArchiveLimitExceeded(f"more than {limits.max_members} archive members")
    ceiling = max(packed, 1) * limits.max_ratio + CHUNK
    out = bytearray()
    while chunk := stream.read(CHUNK):
        out += chunk
        if len(out) > budget.bytes_left:
            raise ArchiveLimitExceeded(
                f"{name} unpacks past the limit of {limits.max_unpacked_bytes} bytes")
        if len(out) > ceiling:
            raise ArchiveLimitExceeded(
                f"{name} inflates more than {limits.max_ratio} times (a compression bomb)")
    budget.bytes_left -= len(out)
    return bytes(out)


def members(content: Content, data: bytes, budget: Budget, limits: Limits
            ) -> Iterator[tuple[str, bytes] | Finding]:
    """Each member as ``(name, bytes)``, or a Finding for one that cannot be read."""
    if content is Content.ZIP:
        yield from _zip_members(data, budget, limits)
    elif content is Content.TAR:
        yield from _tar_members(data, budget, limits)
    else:
        opener = {Content.GZIP: gzip.GzipFile, Content.BZIP2: bz2.BZ2File,
                  Content.XZ: lzma.LZMAFile}[content]
        stream = opener(fileobj=io.BytesIO(data))
        try:
            inner = _read_bounded(stream, budget, len(data), limits, "the compressed stream")
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
            yield Finding(CHECK, "unreadable-archive", Severity.BLOCK,
                          f"the compressed stream cannot be read ({exc})")
            return
        try:
            tarfile.open(fileobj=io.BytesIO(inner), mode="r:").close()
            yield from _tar_members(inner, budget, limits)
        except tarfile.TarError:
            yield ("(decompressed)", inner)


def _zip_members(data: bytes, budget: Budget, limits: Limits
                 ) -> Iterator[tuple[str, bytes] | Finding]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield Finding(CHECK, "unreadable-archive", Severity.BLOCK,
                      f"the zip cannot be read ({exc})")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                yield Finding(CHECK, "encrypted-member", Severity.BLOCK,
                              "the member is encrypted: it cannot be checked", info.filename)
                continue
            try:
                with archive.open(info) as stream:
                    yield (info.filename, _read_bounded(stream, budget, info.compress_size,
                                                        limits, info.filename))
            except (zipfile.BadZipFile, OSError, NotImplementedError, zlib.error,
                    EOFError, RuntimeError) as exc:
                yield Finding(CHECK, "unreadable-member", Severity.BLOCK,
                              f"the member cannot be read ({exc})", info.filename)


def _tar_members(data: bytes, budget: Budget, limits: Limits
                 ) -> Iterator[tuple[str, bytes] | Finding]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - closed below
    except tarfile.TarError as exc:
        yield Finding(CHECK, "unreadable-archive", Severity.BLOCK,
                      f"the tar cannot be read ({exc})")
        return
    with archive:
        try:
            for info in archive:
                if info.isdir():
                    continue
                if not info.isfile():
                    yield Finding(CHECK, "special-member", Severity.BLOCK,
                                  "the member is a link or device entry: archives may hold "
                                  "regular files only", info.name)
                    continue
                stream = archive.extractfile(info)
                if stream is None:
                    continue
                yield (info.name, _read_bounded(stream, budget, info.size, limits, info.name))
        except (tarfile.TarError, OSError, EOFError) as exc:
            yield Finding(CHECK, "unreadable-archive", Severity.BLOCK,
                          f"the tar cannot be read to its end ({exc})")
