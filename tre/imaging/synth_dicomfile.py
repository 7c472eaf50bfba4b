"""Fast DICOM file encoding for series that differ per slice in only a few elements.

pydicom encodes the series' shared elements once; each slice then splices in its own few
elements (encoded here, explicit VR little endian) in tag order. The result is byte-identical to
``pydicom.dcmwrite(..., enforce_file_format=True)`` of the same dataset (tests check it), and
about five times faster, which is what makes 2,000-slice benchmark corpora quick.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info

SOP_INSTANCE_UID = 0x00080018
ACQUISITION_TIME = 0x00080032
CONTENT_TIME = 0x00080033
INSTANCE_NUMBER = 0x00200013
IMAGE_POSITION = 0x00200032
SLICE_LOCATION = 0x00201041
PIXEL_DATA = 0x7FE00010
PER_SLICE = {SOP_INSTANCE_UID: "UI", ACQUISITION_TIME: "TM", CONTENT_TIME: "TM",
             INSTANCE_NUMBER: "IS", IMAGE_POSITION: "DS", SLICE_LOCATION: "DS",
             PIXEL_DATA: "OW"}
"""The elements a slice sets itself, with their VRs."""

_PREAMBLE = b"\0" * 128 + b"DICM"
_LONG_VRS = {"OW", "OB", "SQ", "UN", "UT", "UC", "UR", "OF", "OD", "OL", "OV"}


def _bytes_io() -> DicomBytesIO:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    return fp


def encode_element(tag: int, vr: str, value: bytes) -> bytes:
    """One explicit VR little endian element; ``value`` is padded to even length."""
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB") else b" "
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr in _LONG_VRS:
        return head + struct.pack("<HI", 0, len(value)) + value
    return head + struct.pack("<H", len(value)) + value


class SeriesEncoder:
    """Encodes the files of one series from a template holding every shared element.

    The template must not hold the per-slice elements (``PER_SLICE``), and its
    ``file_meta.MediaStorageSOPInstanceUID`` must be a placeholder as long as every SOP instance
    UID the series will use.
    """

    def __init__(self, template: Dataset) -> None:
        clash = [f"{t:08X}" for t in PER_SLICE if t in template]
        if clash:
            raise ValueError(f"template holds per-slice elements {clash}")
        self._placeholder = str(template.file_meta.MediaStorageSOPInstanceUID).encode("ascii")
        fp = _bytes_io()
        write_file_meta_info(fp, template.file_meta, enforce_standard=True)
        self._meta = fp.getvalue()
        encoding = template.get("SpecificCharacterSet", "iso8859")
        self._tags: list[int] = []
        self._chunks: list[bytes] = []
        for tag in sorted(template.keys()):
            if tag.element == 0 and tag.group > 6:
                continue
            fp = _bytes_io()
            write_data_element(fp, template[tag], encoding)
            self._tags.append(int(tag))
            self._chunks.append(fp.getvalue())

    def encode(self, sop_instance_uid: str, elements: Sequence[tuple[int, bytes]]) -> bytes:
        """The whole file: ``elements`` are (tag, encoded element) pairs of the slice."""
        uid = sop_instance_uid.encode("ascii")
        if len(uid) != len(self._placeholder):
            raise ValueError("SOP instance UIDs of a series must all have the placeholder length")
        parts = [_PREAMBLE, self._meta.replace(self._placeholder, uid, 1)]
        start = 0
        for tag, encoded in sorted(elements):
            stop = bisect.bisect_left(self._tags, tag, lo=start)
            parts.extend(self._chunks[start:stop])
            parts.append(encoded)
            start = stop
        parts.extend(self._chunks[start:])
        return b"".join(parts)
