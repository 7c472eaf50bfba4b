"""Picture checks: a grey picture saved in colour modes is still seen as grey, one coloured pixel
anywhere makes it colour."""

from __future__ import annotations

import io

import numpy as np
import pytest
from airlock.helpers import ct_png
from PIL import Image

from tre.airlock.checks import inspect
from tre.airlock.checks.context import CheckContext, IdentifierSet

CTX = CheckContext(identifiers=IdentifierSet(frozenset(), frozenset()))


def saved(pixels: np.ndarray, mode: str) -> bytes:
    """``pixels`` (RGB) saved as a PNG in ``mode``."""
    out = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def ct_rgb(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    grey = np.asarray(Image.open(io.BytesIO(ct_png(tmp_path_factory.mktemp("ct")))))
    return np.stack([grey] * 3, axis=-1)


def codes(data: bytes) -> list[str]:
    return [f.code for f in inspect("figure.png", data, CTX).findings]


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_ct_slice_saved_in_colour_mode_is_medical_image_like(ct_rgb: np.ndarray,
                                                             mode: str) -> None:
    assert codes(saved(ct_rgb, mode)) == ["medical-image-like"]


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("row", [0, 256, 511])
def test_one_coloured_pixel_anywhere_makes_it_a_colour_picture(ct_rgb: np.ndarray, mode: str,
                                                               row: int) -> None:
    pixels = ct_rgb.copy()
    pixels[row, 7] = (200, 30, 30)
    assert codes(saved(pixels, mode)) == []


def test_truncated_picture_is_unreadable(ct_rgb: np.ndarray) -> None:
    data = saved(ct_rgb, "RGB")
    found = inspect("figure.png", data[: len(data) // 2], CTX).findings
    assert [(f.code, f.severity.value) for f in found] == [("unreadable-image", "block")]
