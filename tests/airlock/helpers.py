"""Builders of smuggling attempts and of published-version folders for airlock tests."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from tre.imaging import synth
from tre.imaging.layout import Manifest, ManifestFile

PSEUDONYM = "P-ABCDEFGHIJKL"
STUDY_UID = "2.25.118263472930128374650192837465019283"
SERIES_UID = "2.25.228263472930128374650192837465019284"
SOP_UID = "2.25.338263472930128374650192837465019285"


def published_version(folder: Path) -> Path:
    """A version folder whose manifest names one image of PSEUDONYM (the layout's contract)."""
    folder.mkdir(parents=True)
    path = f"dicom/{PSEUDONYM}/{STUDY_UID}/{SERIES_UID}/{SOP_UID}.dcm"
    manifest = Manifest(dataset="lung-ct", created_at="2026-11-01T00:00:00+00:00",
                        synthetic=True, files=(ManifestFile(path, "0" * 64, 10),))
    (folder / "manifest.json").write_text(manifest.to_json())
    (folder / "clinical.csv").write_text("patient_id,age\nP-MNOPQRSTUVWX,61\n")
    return folder


def synthetic_dicom(tmp: Path, size: int = 64) -> Path:
    """One synthetic CT slice written by tre.imaging.synth."""
    synth.generate(tmp / "synth", patients=1, slices=1, size=size)
    return next((tmp / "synth").rglob("*.dcm"))


def ct_png(tmp: Path) -> bytes:
    """A 512x512 CT slice from tre.imaging.synth, windowed and saved as an 8-bit PNG."""
    ds = pydicom.dcmread(synthetic_dicom(tmp, 512))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    pixels = np.clip((hu + 1000) / 1400 * 255, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def plot_png() -> bytes:
    """A white-background bar chart-ish picture (not medical-image-like)."""
    pixels = np.full((480, 640, 3), 255, dtype=np.uint8)
    pixels[100:400, 100:160] = (31, 119, 180)
    pixels[200:400, 220:280] = (255, 127, 14)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    """A zip holding ``members``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def tar_gz_of(members: dict[str, bytes]) -> bytes:
    """A gzip-compressed tar holding ``members``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def torch_checkpoint() -> bytes:
    """The structure torch.save writes: a zip with archive/data.pkl and tensor storages."""
    state = {"conv.weight": "storage-0", "conv.bias": "storage-1"}
    return zip_of({"archive/data.pkl": pickle.dumps(state, protocol=2),
                   "archive/data/0": np.zeros(64, np.float32).tobytes(),
                   "archive/data/1": np.zeros(8, np.float32).tobytes(),
                   "archive/version": b"3\n"})


def notebook(output_text: str) -> bytes:
    """A notebook whose one code cell printed ``output_text``."""
    return json.dumps({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": "code", "execution_count": 1, "metadata": {}, "id": "c1",
                   "source": ["print(study)"],
                   "outputs": [{"output_type": "stream", "name": "stdout",
                                "text": [output_text + "\n"]}]}]}).encode()
