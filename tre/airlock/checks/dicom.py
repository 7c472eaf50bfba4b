"""Recognise DICOM by content: the 'DICM' preamble, or a bare data set that parses as one."""

from __future__ import annotations

import struct
from io import BytesIO

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

PREAMBLE = 128
PROBE_BYTES = 64 * 1024
_FIRST_GROUPS = (0x0002, 0x0008)


def has_preamble(data: bytes) -> bool:
    """The DICOM Part 10 file marker: 'DICM' after a 128-byte preamble."""
    return data[PREAMBLE:PREAMBLE + 4] == b"DICM"


def _plausible_start(data: bytes) -> bool:
    """A first tag in group 0002/0008 followed by a VR or a sane implicit length."""
    if len(data) < 8:
        return False
    group, element = struct.unpack_from("<HH", data, 0)
    if group not in _FIRST_GROUPS or element > 0x0100:
        return False
    vr = data[4:6]
    if vr.isalpha() and vr.isupper():
        return True
    (length,) = struct.unpack_from("<I", data, 4)
    return bool(length < 1024)


def is_bare_dataset(data: bytes) -> bool:
    """A DICOM data set without preamble (raw, or stripped to hide it).

    pydicom is asked to parse the first elements only, from a bounded prefix; the result counts
    when it read at least two elements of groups 0002/0008. Any parsing failure means "not
    recognised", never an exception: the caller blocks unknown content anyway.
    """
    if not _plausible_start(data):
        return False
    try:
        ds = dcmread(BytesIO(bytes(data[:PROBE_BYTES])), force=True, stop_before_pixels=True,
                     specific_tags=None)
        tags = [t for t in ds.keys() if t.group in _FIRST_GROUPS]  # noqa: SIM118
        tags += [t for t in ds.file_meta.keys() if t.group in _FIRST_GROUPS]  # noqa: SIM118
    except (InvalidDicomError, ValueError, TypeError, KeyError, IndexError, EOFError,
            OverflowError, struct.error, NotImplementedError, AttributeError):
        return False
    return len(tags) >= 2


def is_dicom(data: bytes) -> bool:
    """DICOM with or without preamble."""
    return has_preamble(data) or is_bare_dataset(data)
