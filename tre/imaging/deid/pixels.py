"""Decide which images may carry identifiers in their pixels (burned-in text, faces): quarantine."""

from __future__ import annotations

from pydicom.dataset import Dataset

# Modalities whose images commonly carry burned-in patient text or are photographs/screenshots.
RISKY_MODALITIES = frozenset({"US", "OT", "SC", "XC", "ES", "GM", "SM", "DOC", "IVUS", "OP",
                              "OPT", "VL", "ECG"})
# SOP class UID prefixes of secondary capture, video, photographic and document objects.
RISKY_SOP_CLASS_PREFIXES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.7",  # secondary capture (all kinds)
    "1.2.840.10008.5.1.4.1.1.77.1",  # visible light (endoscopy, microscopy, photography)
    "1.2.840.10008.5.1.4.1.1.104",  # encapsulated documents (PDF, CDA, STL...)
    "1.2.840.10008.5.1.4.1.1.6",  # ultrasound
    "1.2.840.10008.5.1.4.1.1.3",  # ultrasound multi-frame (retired)
)
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData", "EncapsulatedDocument")


def pixel_risks(ds: Dataset) -> list[str]:
    """Why this file's pixels may identify someone (empty: no known risk)."""
    if not any(k in ds for k in PIXEL_KEYWORDS):
        return []
    reasons = []
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        reasons.append("BurnedInAnnotation is YES")
    if str(ds.get("RecognizableVisualFeatures", "")).strip().upper() == "YES":
        reasons.append("RecognizableVisualFeatures is YES (a face or similar may be visible)")
    modality = str(ds.get("Modality", "")).strip().upper()
    if modality in RISKY_MODALITIES:
        reasons.append(f"modality {modality} often has burned-in text")
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class.startswith(RISKY_SOP_CLASS_PREFIXES) and not reasons:
        reasons.append(f"SOP class {sop_class} (secondary capture, photo, video, document or "
                       "ultrasound) often has burned-in text")
    return reasons
