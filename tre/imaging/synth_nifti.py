"""A minimal NIfTI-1 single-file (.nii.gz) writer and reader for uint8 label volumes."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

_HEADER_SIZE = 348
_VOX_OFFSET = 352  # header + the 4-byte "no extension" flag
_DT_UINT8 = 2
_NIFTI_XFORM_SCANNER_ANAT = 1
_UNITS_MM = 2
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True, slots=True)
class LabelVolume:
    """A label volume as ``data[k, j, i]`` (slice, row, column) and its voxel-to-RAS affine."""

    data: npt.NDArray[np.uint8]
    affine: npt.NDArray[np.float64]


def dicom_affine(position: Iterable[float], orientation: Iterable[float],
                 pixel_spacing: tuple[float, float], slice_step: float) -> npt.NDArray[np.float64]:
    """The voxel (column i, row j, slice k) to RAS millimetre affine of a DICOM series.

    DICOM gives LPS: ``P = IPP + i*dc*row_dir + j*dr*col_dir + k*step*normal``; NIfTI wants RAS,
    hence the flip of the first two axes.
    """
    ori = np.asarray(list(orientation), dtype=np.float64)
    row_dir, col_dir = ori[:3], ori[3:]
    normal = np.cross(row_dir, col_dir)
    dr, dc = pixel_spacing
    lps = np.eye(4)
    lps[:3, 0] = row_dir * dc
    lps[:3, 1] = col_dir * dr
    lps[:3, 2] = normal * slice_step
    lps[:3, 3] = np.asarray(list(position), dtype=np.float64)
    result: npt.NDArray[np.float64] = _LPS_TO_RAS @ lps
    return result


def _quaternion(affine: npt.NDArray[np.float64]) -> tuple[float, float, float, float,
                                                             tuple[float, float, float]]:
    """qfac, quatern b/c/d and pixdim from an affine (the NIfTI-1 reference algorithm)."""
    m = affine[:3, :3]
    zooms = np.sqrt((m * m).sum(axis=0))
    r = m / zooms
    qfac = 1.0
    if np.linalg.det(r) < 0:
        qfac = -1.0
        r[:, 2] = -r[:, 2]
    a = 1.0 + r[0, 0] + r[1, 1] + r[2, 2]
    if a > 0.5:
        a = 0.5 * np.sqrt(a)
        b = 0.25 * (r[2, 1] - r[1, 2]) / a
        c = 0.25 * (r[0, 2] - r[2, 0]) / a
        d = 0.25 * (r[1, 0] - r[0, 1]) / a
    else:
        xd, yd, zd = 1.0 + r[0, 0] - r[1, 1] - r[2, 2], 1.0 - r[0, 0] + r[1, 1] - r[2, 2], \
            1.0 - r[0, 0] - r[1, 1] + r[2, 2]
        if xd > 1.0:
            b = 0.5 * np.sqrt(xd)
            c = 0.25 * (r[0, 1] + r[1, 0]) / b
            d = 0.25 * (r[0, 2] + r[2, 0]) / b
            a = 0.25 * (r[2, 1] - r[1, 2]) / b
        elif yd > 1.0:
            c = 0.5 * np.sqrt(yd)
            b = 0.25 * (r[0, 1] + r[1, 0]) / c
            d = 0.25 * (r[1, 2] + r[2, 1]) / c
            a = 0.25 * (r[0, 2] - r[2, 0]) / c
        else:
            d = 0.5 * np.sqrt(zd)
            b = 0.25 * (r[0, 2] + r[2, 0]) / d
            c = 0.25 * (r[1, 2] + r[2, 1]) / d
            a = 0.25 * (r[1, 0] - r[0, 1]) / d
        if a < 0:
            b, c, d = -b, -c, -d
    return qfac, float(b), float(c), float(d), (float(zooms[0]), float(zooms[1]),
                                                float(zooms[2]))


def nifti_header(shape: tuple[int, int, int], affine: npt.NDArray[np.float64],
                 description: str = "") -> bytes:
    """The 352 bytes before the voxels: NIfTI-1 header (sform and qform) and no extension.

    ``shape`` is ``(slices, rows, columns)``; NIfTI's dim is ``(columns, rows, slices)``.
    """
    nz, ny, nx = shape
    qfac, qb, qc, qd, zooms = _quaternion(affine)
    header = bytearray(_HEADER_SIZE)
    struct.pack_into("<i", header, 0, _HEADER_SIZE)
    struct.pack_into("<8h", header, 40, 3, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, _DT_UINT8, 8)
    struct.pack_into("<8f", header, 76, qfac, *zooms, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<f", header, 108, float(_VOX_OFFSET))
    struct.pack_into("<ff", header, 112, 1.0, 0.0)  # scl_slope, scl_inter
    header[123] = _UNITS_MM
    header[148:148 + 80] = description.encode("ascii")[:79].ljust(80, b"\0")
    struct.pack_into("<hh", header, 252, _NIFTI_XFORM_SCANNER_ANAT, _NIFTI_XFORM_SCANNER_ANAT)
    struct.pack_into("<6f", header, 256, qb, qc, qd, *(float(v) for v in affine[:3, 3]))
    struct.pack_into("<12f", header, 280, *(float(v) for v in affine[:3, :].ravel()))
    header[344:348] = b"n+1\0"
    return bytes(header) + b"\0\0\0\0"


class NiftiLabelWriter:
    """Streams a uint8 label volume to ``.nii.gz`` one slice at a time (deterministic gzip)."""

    def __init__(self, path: Path, shape: tuple[int, int, int],
                 affine: npt.NDArray[np.float64], description: str = "") -> None:
        self._shape = shape
        self._written = 0
        self._raw = path.open("wb")
        # mtime=0 and no file name inside the gzip stream: same input, same bytes
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0,
                                 compresslevel=1)
        self._gz.write(nifti_header(shape, affine, description))

    def write_slice(self, labels: npt.NDArray[np.uint8]) -> None:
        """Append the next slice, ``labels[row, column]``."""
        if labels.shape != self._shape[1:]:
            raise ValueError(f"slice shape {labels.shape} is not {self._shape[1:]}")
        self._gz.write(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
        self._written += 1

    def close(self) -> None:
        """Finish the file; every slice must have been written."""
        self._gz.close()
        self._raw.close()
        if self._written != self._shape[0]:
            raise ValueError(f"wrote {self._written} of {self._shape[0]} slices")


def write_labels(path: Path, data: npt.NDArray[np.uint8],
                 affine: npt.NDArray[np.float64], description: str = "") -> None:
    """Write a whole ``data[slice, row, column]`` label volume."""
    shape = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
    writer = NiftiLabelWriter(path, shape, affine, description)
    for k in range(shape[0]):
        writer.write_slice(data[k])
    writer.close()


def read_labels(path: Path) -> LabelVolume:
    """Read a uint8 ``.nii.gz`` this module wrote (or any NIfTI-1 uint8 file with an sform)."""
    raw = gzip.decompress(path.read_bytes())
    if struct.unpack_from("<i", raw, 0)[0] != _HEADER_SIZE or raw[344:348] != b"n+1\0":
        raise ValueError(f"{path} is not a single-file NIfTI-1 image")
    dims = struct.unpack_from("<8h", raw, 40)
    datatype = struct.unpack_from("<h", raw, 70)[0]
    if dims[0] != 3 or datatype != _DT_UINT8:
        raise ValueError(f"{path}: expected a 3-D uint8 volume, got dim {dims[0]} type {datatype}")
    nx, ny, nz = dims[1:4]
    offset = int(struct.unpack_from("<f", raw, 108)[0])
    data = np.frombuffer(raw, dtype=np.uint8, count=nx * ny * nz, offset=offset)
    affine = np.eye(4)
    affine[:3, :] = np.asarray(struct.unpack_from("<12f", raw, 280), dtype=np.float64).reshape(3, 4)
    return LabelVolume(data.reshape(nz, ny, nx).copy(), affine)
