"""Per-file quality statistics: taken where a file is read (an ingest worker), merged anywhere.

A :class:`FileSummary` holds everything the quality report needs from one DICOM file -- ids,
missing attributes, geometry, pixel value range and histogram -- in a small picklable record, so
ingest workers summarise the files they write while they hold the bytes and the main process
only merges. The report made from summaries is the one made by re-reading the files (the same
function summarises both ways).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "*": ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
          "Modality", "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
          "BitsAllocated", "BitsStored", "PixelRepresentation"),
    "CT": ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
           "FrameOfReferenceUID", "RescaleIntercept", "RescaleSlope"),
    "MR": ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
           "FrameOfReferenceUID"),
    "PT": ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
           "FrameOfReferenceUID", "RescaleIntercept", "RescaleSlope"),
}
"""Attributes every image needs for research use, by modality ("*" applies to all)."""

HIST_LOW, HIST_HIGH = -2048, 8192
"""Histogram bins: one per integer value (HU for CT) in [HIST_LOW, HIST_HIGH), ends clipped."""

_READ_ERRORS = (InvalidDicomError, OSError, ValueError, EOFError)
_PIXEL_ERRORS = (ValueError, TypeError, AttributeError, RuntimeError, NotImplementedError)
_PLAIN_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_SMALL_INTEGERS = frozenset({np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16)})


@dataclass(frozen=True, slots=True)
class PixelSummary:
    """A file's rescaled pixel values: range and histogram (bins that are not empty only)."""

    rescaled: bool
    low: float
    high: float
    bins: npt.NDArray[np.int64]
    """Indexes into the histogram (value - HIST_LOW), ascending."""
    counts: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class FileSummary:
    """What the quality report takes from one file (``relative``: its path in the version)."""

    relative: str
    unreadable: str = ""
    """Why the file could not be read (then nothing else is set)."""
    patient: str = ""
    study: str = ""
    series: str = ""
    modality: str = ""
    sop: str = ""
    missing: tuple[str, ...] = ()
    orientation: tuple[float, ...] | None = None
    grid: tuple[Any, ...] = (None, None, None)
    frame: str = ""
    thickness: float | None = None
    position: tuple[float, ...] | None = None
    pixels: PixelSummary | None = None
    pixel_error: str = ""
    """Why the pixels could not be decoded."""

    def without_histogram(self) -> FileSummary:
        """This summary with an empty histogram (what is kept once the histogram is merged)."""
        if self.pixels is None:
            return self
        empty = np.zeros(0, np.int64)
        return replace(self, pixels=replace(self.pixels, bins=empty, counts=empty))


def read_summary(version_dir: Path, relative: str, pixels: bool = True) -> FileSummary:
    """Summarise the file at ``version_dir/relative``; a file pydicom cannot read says why."""
    try:
        ds = pydicom.dcmread(version_dir / relative, stop_before_pixels=not pixels)
    except _READ_ERRORS as exc:
        return FileSummary(relative, unreadable=f"{relative}: {exc}")
    return summarise(ds, relative, pixels)


def summarise_bytes(data: bytes | memoryview, relative: str) -> FileSummary | None:
    """Summarise a file held in memory (pixels included); None if pydicom cannot read it, so
    the caller re-reads the written file and reports exactly what a reader of the file sees."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except _READ_ERRORS:
        return None
    return summarise(ds, relative, pixels=True)


def summarise(ds: Dataset, relative: str, pixels: bool = True) -> FileSummary:
    """The summary of one data set (``pixels=False``: headers only)."""
    summary = _summarise(ds, relative, pixels, decode=True)
    assert summary is not None  # decoding allowed: there is always one
    return summary


def summarise_plain(ds: Dataset, relative: str) -> FileSummary | None:
    """:func:`summarise` (pixels included) for a data set whose pixels, if any, are read straight
    from their bytes; None when pydicom would have to decode them (then give it the whole file).
    What an ingest worker uses on the top-level elements of the file it wrote."""
    return _summarise(ds, relative, True, decode=False)


def _summarise(ds: Dataset, relative: str, pixels: bool, decode: bool) -> FileSummary | None:
    modality = str(ds.get("Modality", "") or "")
    required = REQUIRED_ATTRIBUTES["*"] + REQUIRED_ATTRIBUTES.get(modality, ())
    orientation = _floats(ds, "ImageOrientationPatient")
    thickness = _floats(ds, "SliceThickness")
    pixel_summary, pixel_error = None, ""
    if pixels and "PixelData" in ds:
        slope, intercept = _floats(ds, "RescaleSlope"), _floats(ds, "RescaleIntercept")
        plain = _plain_counts(ds)
        if plain is not None:
            pixel_summary = _pixel_summary(*_stored_values(*plain), slope, intercept)
        elif not decode:
            return None
        else:
            try:
                array = ds.pixel_array
            except _PIXEL_ERRORS as exc:
                pixel_error = f"{relative}: {exc}"
            else:
                pixel_summary = _pixel_summary(*_array_values(array), slope, intercept)
    return FileSummary(
        relative=relative,
        patient=str(ds.get("PatientID", "") or ""),
        study=str(ds.get("StudyInstanceUID", "") or ""),
        series=str(ds.get("SeriesInstanceUID", "") or "") or f"(no series uid: {relative})",
        modality=modality,
        sop=str(ds.get("SOPInstanceUID", "") or ""),
        missing=tuple(k for k in required + (("PixelData",) if pixels else ())
                      if ds.get(k) in (None, "")),
        orientation=None if orientation is None else tuple(round(v, 4) for v in orientation),
        grid=(ds.get("Rows"), ds.get("Columns"), _floats(ds, "PixelSpacing")),
        frame=str(ds.FrameOfReferenceUID) if ds.get("FrameOfReferenceUID") else "",
        thickness=round(thickness[0], 4) if thickness else None,
        position=_floats(ds, "ImagePositionPatient"),
        pixels=pixel_summary, pixel_error=pixel_error)


def _floats(ds: Dataset, keyword: str) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    try:
        return tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None


def _plain_layout(ds: Dataset) -> tuple[bytes, int, int] | None:
    """(pixel bytes, signed, bits stored) of the commonest image -- one frame, one sample,
    16 bits allocated, little endian, not compressed; None for any other (pydicom decodes it)."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    shape = (ds.get("Rows"), ds.get("Columns"))
    signed, stored = ds.get("PixelRepresentation"), ds.get("BitsStored")
    if (syntax not in _PLAIN_SYNTAXES or "NumberOfFrames" in ds
            or ds.get("SamplesPerPixel") != 1 or ds.get("BitsAllocated") != 16
            or ds.get("PhotometricInterpretation") not in ("MONOCHROME1", "MONOCHROME2")
            or signed not in (0, 1) or not isinstance(stored, int) or not 0 < stored <= 16
            or not all(isinstance(n, int) and n > 0 for n in shape)):
        return None
    data = ds.PixelData
    if not isinstance(data, bytes) or len(data) != 2 * shape[0] * shape[1]:
        return None
    return data, signed, stored


def _plain_counts(ds: Dataset) -> tuple[npt.NDArray[np.int64], int, int] | None:
    """How often each 16-bit pattern occurs in a plain image's pixel data (one pass over the
    bytes, no array decoded), its signedness and bits stored; None for any other image."""
    layout = _plain_layout(ds)
    if layout is None:
        return None
    data, signed, stored = layout
    return np.bincount(np.frombuffer(data, dtype="<u2")), signed, stored


def _stored_values(per_pattern: npt.NDArray[np.int64], signed: int, stored: int
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The stored values of the patterns that occur (as ``pixel_array`` reads them: bits above
    Bits Stored ignored, sign extended) and how often each pattern occurs."""
    patterns = np.flatnonzero(per_pattern)
    values = patterns & ((1 << stored) - 1)
    if signed:
        values = np.where(values >= 1 << (stored - 1), values - (1 << stored), values)
    return values, per_pattern[patterns]


def _array_values(array: npt.NDArray[Any]
                  ) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64] | None]:
    """An array's values to rescale, and their weights: integer images of at most 16 bits are
    counted per stored value first (each distinct value is rescaled once: the same arithmetic
    on fewer numbers, so the same result); other arrays give every value, unweighted."""
    flat = array.ravel()
    if flat.dtype not in _SMALL_INTEGERS or not flat.size:
        return flat, None
    # count by the unsigned pattern, flipping the sign bit of signed types so that the
    # order is kept: stored value = key - bias
    bias = 1 << (8 * flat.dtype.itemsize - 1) if flat.dtype.kind == "i" else 0
    keys = flat.view(flat.dtype.str.replace("i", "u")) ^ bias if bias else flat
    per_value = np.bincount(keys)
    present = np.flatnonzero(per_value)
    return present - bias, per_value[present]


def _pixel_summary(stored: npt.NDArray[Any], weights: npt.NDArray[np.int64] | None,
                   slope: tuple[float, ...] | None,
                   intercept: tuple[float, ...] | None) -> PixelSummary:
    """Range and histogram of ``stored * slope + intercept`` (rounded to integers, clipped),
    each value counted ``weights`` times (once if None)."""
    scale = slope[0] if slope else 1.0
    offset = intercept[0] if intercept else 0.0
    values = stored.astype(np.float64) * scale + offset
    index = np.clip(np.rint(values).astype(np.int64), HIST_LOW, HIST_HIGH - 1) - HIST_LOW
    histogram = np.bincount(index, weights=weights, minlength=HIST_HIGH - HIST_LOW)
    bins = np.flatnonzero(histogram)
    return PixelSummary(slope is not None and intercept is not None, float(values.min()),
                        float(values.max()), bins, histogram[bins].astype(np.int64))
