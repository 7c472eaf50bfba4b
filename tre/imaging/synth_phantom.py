"""A vectorised chest-abdomen CT phantom with spherical lesions, painted one slice at a time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

AIR_HU = -1000
FAT_HU = -100
SOFT_TISSUE_HU = 40
LUNG_HU = -850
BONE_HU = 700
CORTEX_HU = 1200
BLOOD_HU = 150
LIVER_HU = 60
KIDNEY_HU = 30
TABLE_HU = 250
NOISE_HU = 12.0


@dataclass(frozen=True, slots=True)
class Lesion:
    """A spherical lesion in the volume frame (mm from the volume centre; z from slice 0)."""

    label: int
    organ: str
    x: float
    y: float
    z: float
    radius: float
    hu: int


@dataclass(frozen=True, slots=True)
class PhantomGeometry:
    """The voxel grid a phantom is painted on."""

    rows: int
    columns: int
    row_spacing: float
    column_spacing: float
    slices: int
    slice_step: float

    @property
    def fov(self) -> float:
        """Width of the field of view in mm (the phantom scales with it)."""
        return min(self.rows * self.row_spacing, self.columns * self.column_spacing)


def _centred(count: int, spacing: float) -> npt.NDArray[np.float64]:
    """Voxel centres in mm from the middle of an axis."""
    return (np.arange(count, dtype=np.float64) - (count - 1) / 2) * spacing


def _lung_scale(u: float) -> float:
    """Lung cross-section scale along the scan (0 = top of the scan, 1 = bottom)."""
    t = (u - 0.3) / 0.32
    return float(np.sqrt(max(0.0, 1.0 - t * t)))


def _liver_scale(u: float) -> float:
    t = (u - 0.72) / 0.3
    return float(np.sqrt(max(0.0, 1.0 - t * t)))


def _kidney_scale(u: float) -> float:
    t = (u - 0.85) / 0.13
    return float(np.sqrt(max(0.0, 1.0 - t * t)))


class Phantom:
    """Paints slices of one series: a fixed body cross-section plus organs that vary along z."""

    def __init__(self, geometry: PhantomGeometry, lesions: tuple[Lesion, ...],
                 rng: np.random.Generator) -> None:
        self.geometry = geometry
        self.lesions = lesions
        g = geometry
        self._xs = _centred(g.columns, g.column_spacing)
        self._ys = _centred(g.rows, g.row_spacing)
        fov = g.fov
        jitter = 1.0 + rng.uniform(-0.06, 0.06, size=4)
        self._body_a, self._body_b = 0.40 * fov * jitter[0], 0.27 * fov * jitter[1]
        self._lung_dx, self._lung_a, self._lung_b = 0.17 * fov, 0.11 * fov * jitter[2], \
            0.17 * fov * jitter[3]
        base = np.full((g.rows, g.columns), AIR_HU, dtype=np.int16)
        table_y = self._body_b + 0.03 * fov
        base[(self._ys > table_y) & (self._ys < table_y + 0.025 * fov), :] = TABLE_HU
        self._paint(base, 0.0, 0.0, self._body_a, self._body_b, FAT_HU)
        fat = max(0.03 * fov, 2.0 * g.column_spacing)
        self._paint(base, 0.0, 0.0, self._body_a - fat, self._body_b - fat, SOFT_TISSUE_HU)
        spine_y, spine_r = 0.17 * fov, 0.04 * fov
        self._paint(base, 0.0, spine_y, spine_r, spine_r, CORTEX_HU)
        self._paint(base, 0.0, spine_y, 0.75 * spine_r, 0.75 * spine_r, BONE_HU)
        self._paint(base, 0.03 * fov, 0.09 * fov, 0.025 * fov, 0.025 * fov, BLOOD_HU)
        self._base = base

    def lesion_centre_candidates(self, organ: str) -> tuple[float, float, float, float]:
        """Where a lesion in ``organ`` may sit: x, y, u (scan fraction) and the organ's radius."""
        if organ == "lung":
            return self._lung_dx, -0.02 * self.geometry.fov, 0.3, min(self._lung_a, self._lung_b)
        return -0.12 * self.geometry.fov, 0.0, 0.72, 0.15 * self.geometry.fov

    def _window(self, centre: float, half: float, axis: npt.NDArray[np.float64]) -> slice:
        lo = int(np.searchsorted(axis, centre - half, side="left"))
        hi = int(np.searchsorted(axis, centre + half, side="right"))
        return slice(lo, hi)

    def _ellipse(self, cx: float, cy: float, a: float,
                 b: float) -> tuple[slice, slice, npt.NDArray[np.bool_]] | None:
        if a <= 0 or b <= 0:
            return None
        rs, cs = self._window(cy, b, self._ys), self._window(cx, a, self._xs)
        if rs.start >= rs.stop or cs.start >= cs.stop:
            return None
        dx = ((self._xs[cs] - cx) / a) ** 2
        dy = ((self._ys[rs] - cy) / b) ** 2
        return rs, cs, (dy[:, None] + dx[None, :]) <= 1.0

    def _paint(self, image: npt.NDArray[np.int16], cx: float, cy: float, a: float, b: float,
               value: int) -> None:
        found = self._ellipse(cx, cy, a, b)
        if found is not None:
            rs, cs, inside = found
            image[rs, cs][inside] = value

    def slice(self, k: int, noise: npt.NDArray[np.int16],
              labels: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
        """Slice ``k`` in HU (with ``noise`` added); ``labels`` receives the lesion mask."""
        g = self.geometry
        fov = g.fov
        u = k / max(1, g.slices - 1)
        image = self._base.copy()
        s = _lung_scale(u)
        if s > 0:
            for side in (-1.0, 1.0):
                self._paint(image, side * self._lung_dx, -0.02 * fov, self._lung_a * s,
                            self._lung_b * s, LUNG_HU)
            if 0.3 < u < 0.6:
                self._paint(image, 0.04 * fov, -0.06 * fov, 0.1 * fov, 0.08 * fov,
                            SOFT_TISSUE_HU)
        s = _liver_scale(u)
        if s > 0:
            self._paint(image, -0.12 * fov, 0.0, 0.2 * fov * s, 0.16 * fov * s, LIVER_HU)
        s = _kidney_scale(u)
        if s > 0:
            for side in (-1.0, 1.0):
                self._paint(image, side * 0.14 * fov, 0.11 * fov, 0.04 * fov * s,
                            0.06 * fov * s, KIDNEY_HU)
        labels.fill(0)
        z = k * g.slice_step
        for lesion in self.lesions:
            dz = z - lesion.z
            if abs(dz) >= lesion.radius:
                continue
            r = float(np.sqrt(lesion.radius ** 2 - dz ** 2))
            found = self._ellipse(lesion.x, lesion.y, r, r)
            if found is not None:
                rs, cs, inside = found
                image[rs, cs][inside] = lesion.hu
                labels[rs, cs][inside] = lesion.label
        image += noise
        return image


def noise_bank(rng: np.random.Generator, rows: int, columns: int,
               count: int = 8) -> npt.NDArray[np.int16]:
    """``count`` fields of Gaussian noise reused across slices (fresh noise per slice is slow)."""
    fields = rng.normal(0.0, NOISE_HU, size=(count, rows, columns)).round()
    return fields.astype(np.int16)
