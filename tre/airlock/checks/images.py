"""Pictures: metadata (PNG text chunks, EXIF) scanned for identifiers, and medical-image-like
pixels (a CT slice saved as PNG) routed to a human.

A picture counts as medical-image-like when it is grayscale, roughly square, 256-1024 pixels a
side, with dark corners (the scanner's circular field of view or air around the body), a large
share of near-black background and a body of mid-grey tissue. Plots rarely match all of these;
a false positive only costs a reviewer a look.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from tre.airlock.checks.context import CheckContext
from tre.airlock.checks.identifiers import scan
from tre.domain.egress import Finding, Severity

CHECK = "images"
GREY_SPREAD = 4
"""Largest channel spread of a picture still treated as grayscale."""
GREY_BAND = 16
"""Rows across the middle looked at first for colour."""


def _metadata_text(image: Image.Image) -> bytes:
    """PNG text chunks, EXIF and comments as bytes for the identifier scan."""
    parts: list[bytes] = []
    for key, value in image.info.items():
        if isinstance(value, bytes):
            parts.append(str(key).encode() + b"=" + value)
        elif isinstance(value, str):
            parts.append(f"{key}={value}".encode("utf-8", "replace"))
    for tag, value in image.getexif().items():
        parts.append(f"{tag}={value}".encode("utf-8", "replace"))
    return b"\n".join(parts)


def ct_like_score(pixels: npt.NDArray[np.float64]) -> tuple[int, list[str]]:
    """How many of the four CT-slice signs a grayscale picture shows, and which."""
    height, width = pixels.shape
    signs: list[str] = []
    if min(height, width) >= 256 and max(height, width) <= 1024 and \
            0.75 <= height / width <= 1.33:
        signs.append("scanner-like size")
    low, high = float(pixels.min()), float(pixels.max())
    span = max(high - low, 1.0)
    scaled = (pixels - low) / span
    patch = max(height, width) // 16
    corners = np.concatenate([scaled[:patch, :patch].ravel(), scaled[:patch, -patch:].ravel(),
                              scaled[-patch:, :patch].ravel(), scaled[-patch:, -patch:].ravel()])
    if corners.mean() <= 0.1:
        signs.append("dark corners (circular field of view or air)")
    if (scaled <= 0.05).mean() >= 0.15:
        signs.append("large dark background")
    if ((scaled >= 0.2) & (scaled <= 0.8)).mean() >= 0.15:
        signs.append("mid-grey tissue")
    return len(signs), signs


def _colour_spread(rgb: npt.NDArray[np.uint8]) -> int:
    """How far apart the channels get: 0 for a grey picture saved as RGB."""
    wide = rgb.astype(np.int16)
    return int(np.abs(wide[..., 0] - wide[..., 1]).max()
               + np.abs(wide[..., 1] - wide[..., 2]).max())


def _grayscale(image: Image.Image) -> npt.NDArray[np.float64] | None:
    """The picture as a grayscale array, or None when it has colour."""
    if image.mode in ("L", "I", "I;16", "I;16B", "F", "1"):
        return np.asarray(image, dtype=np.float64)
    # A band's spread is at most the whole picture's: a coloured band across the middle decides
    # without converting every pixel (most figures); a grey one is confirmed on all of them.
    width, height = image.size
    top = max(0, height // 2 - GREY_BAND // 2)
    band = image.crop((0, top, width, min(height, top + GREY_BAND)))
    if _colour_spread(np.asarray(band.convert("RGB"))) > GREY_SPREAD:
        return None
    rgb = np.asarray(image.convert("RGB"))
    if _colour_spread(rgb) > GREY_SPREAD:
        return None
    return rgb[..., 0].astype(np.float64)


def check(data: bytes, ctx: CheckContext, where: str = "") -> list[Finding]:
    """Findings for one picture."""
    findings: list[Finding] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > ctx.limits.max_image_pixels:
                return [Finding(CHECK, "image-too-large", Severity.BLOCK,
                                f"{width}x{height} pixels is over the limit of "
                                f"{ctx.limits.max_image_pixels}: too big to review", where)]
            image.load()
            meta = _metadata_text(image)
            pixels = _grayscale(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return [Finding(CHECK, "unreadable-image", Severity.BLOCK,
                        f"the picture cannot be decoded ({exc}): it cannot be checked", where)]
    if meta:
        findings.append(Finding(CHECK, "image-metadata", Severity.INFO,
                                f"the picture carries {len(meta)} bytes of metadata (text "
                                "chunks or EXIF)", where))
        findings += scan(meta, ctx.identifiers, where)
    if pixels is not None:
        score, signs = ct_like_score(pixels)
        if score >= 4:
            findings.append(Finding(
                CHECK, "medical-image-like", Severity.WARN,
                "looks like a medical image slice (" + ", ".join(signs) + "): images of "
                "patients must not leave; a human must confirm it is a derived figure", where))
    return findings
