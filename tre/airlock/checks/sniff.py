"""What a file is, from its bytes: magic numbers and structure, never the name's extension.

The name is only used to pick a parser among text formats (a .csv is read as a table); a
``.png`` that holds DICOM is DICOM.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from enum import StrEnum
from pathlib import PurePosixPath

from tre.airlock.checks.dicom import is_dicom

TEXT_PROBE = 64 * 1024
_LEADING_BLANK = re.compile(rb"(?:\xef\xbb\xbf|[ \t\r\n])*")
"""Byte-order marks and blanks before a JSON document."""


class Content(StrEnum):
    """A recognised content type."""

    EMPTY = "empty"
    DICOM = "dicom"
    NIFTI = "nifti"
    NRRD = "nrrd"
    NPY = "npy"
    NPZ = "npz"
    PICKLE = "pickle"
    TORCH = "torch"
    HDF5 = "hdf5"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    GIF = "gif"
    ZIP = "zip"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    PARQUET = "parquet"
    XLSX = "xlsx"
    NOTEBOOK = "notebook"
    JSON = "json"
    CSV = "csv"
    TEXT = "text"
    PDF = "pdf"
    UNKNOWN = "unknown"


ARCHIVES = frozenset({Content.ZIP, Content.TAR, Content.GZIP, Content.BZIP2, Content.XZ})
TABLES = frozenset({Content.CSV, Content.PARQUET, Content.XLSX})
IMAGES = frozenset({Content.PNG, Content.JPEG, Content.TIFF, Content.GIF})

_MAGIC: tuple[tuple[bytes, Content], ...] = (
    (b"\x89PNG\r\n\x1a\n", Content.PNG),
    (b"\xff\xd8\xff", Content.JPEG),
    (b"II*\x00", Content.TIFF),
    (b"MM\x00*", Content.TIFF),
    (b"GIF87a", Content.GIF),
    (b"GIF89a", Content.GIF),
    (b"\x93NUMPY", Content.NPY),
    (b"\x89HDF\r\n\x1a\n", Content.HDF5),
    (b"NRRD000", Content.NRRD),
    (b"\x1f\x8b", Content.GZIP),
    (b"BZh", Content.BZIP2),
    (b"\xfd7zXZ\x00", Content.XZ),
    (b"%PDF", Content.PDF),
)


def _is_nifti(data: bytes) -> bool:
    """NIfTI-1 (348-byte header, magic at 344) or NIfTI-2 (540, magic at 4), either byte order."""
    if len(data) >= 348:
        for order in "<>":
            (size,) = struct.unpack_from(order + "i", data, 0)
            if size == 348 and data[344:347] in (b"n+1", b"ni1"):
                return True
            if size == 540 and data[4:7] in (b"n+2", b"ni2"):
                return True
    return False


def _is_pickle(data: bytes) -> bool:
    """A pickle of protocol 2-5 (PROTO opcode first) ending with STOP."""
    return (len(data) >= 3 and data[0] == 0x80 and 2 <= data[1] <= 5
            and data.rstrip(b"\x00")[-1:] == b".")


def _zip_content(data: bytes) -> Content:
    """A zip's flavour, from its central directory (the members are not read here)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return Content.UNKNOWN
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return Content.TORCH
    if "xl/workbook.xml" in names:
        return Content.XLSX
    if names and all(n.endswith(".npy") for n in names):
        return Content.NPZ
    return Content.ZIP


def _is_utf8(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 (ASCII, the usual case, is answered without decoding)."""
    if data.isascii():
        return True
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text_content(name: str, data: bytes) -> Content:
    """Text flavours; text must be UTF-8 without NUL bytes."""
    if b"\x00" in data[:TEXT_PROBE] or not _is_utf8(data):
        return Content.UNKNOWN
    suffix = PurePosixPath(name).suffix.lower()
    blank = _LEADING_BLANK.match(data)
    offset = blank.end() if blank else 0
    if data[offset:offset + 1] in (b"{", b"["):
        try:
            doc = json.loads(bytes(data).decode("utf-8").lstrip("\ufeff \t\r\n"))
        except ValueError:
            doc = None
        if isinstance(doc, dict) and "cells" in doc and "nbformat" in doc:
            return Content.NOTEBOOK
        if doc is not None:
            return Content.JSON
    if suffix in (".csv", ".tsv"):
        return Content.CSV
    return Content.TEXT


def sniff(name: str, data: bytes) -> Content:
    """The content type of ``data`` (``name`` only separates text formats)."""
    if not data:
        return Content.EMPTY
    if is_dicom(data):
        return Content.DICOM
    for magic, content in _MAGIC:
        if data.startswith(magic):
            return content
    if data[:4] == b"PAR1" and data[-4:] == b"PAR1":
        return Content.PARQUET
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_content(data)
    if len(data) >= 262 and data[257:262] == b"ustar":
        return Content.TAR
    if _is_nifti(data):
        return Content.NIFTI
    if _is_pickle(data):
        return Content.PICKLE
    return _text_content(name, data)
