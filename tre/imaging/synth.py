"""Synthetic CT corpora: DICOM series with planted identifiers, lesion masks, a clinical table.

``generate(out, ...)`` writes::

    dicom/<patient id>/ST<n>/SE<m>/IM<k>.dcm   CT Image Storage, 16-bit, one file per slice
    masks/<patient id>/<series uid>.nii.gz     lesion labels (NIfTI-1, uint8, 0 = background)
    lesions.json                               per series: mask path, affine, lesions in LPS mm
    clinical.csv                               age, sex, diagnosis... keyed by the original id
    planted.json                               every identifying value planted, per patient
    synthetic.json                             the marker: {"synthetic": true, "like": ...}

The same arguments give byte-identical files: every date, UID and pixel comes from the seed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

from tre.errors import InvalidInput
from tre.imaging.synth_dicomfile import (
    ACQUISITION_TIME,
    CONTENT_TIME,
    IMAGE_POSITION,
    INSTANCE_NUMBER,
    PIXEL_DATA,
    SLICE_LOCATION,
    SOP_INSTANCE_UID,
    SeriesEncoder,
    encode_element,
)
from tre.imaging.synth_identity import HOSPITAL_UID_ROOT, Person, lesion_organ, make_person, uid
from tre.imaging.synth_nifti import NiftiLabelWriter, dicom_affine
from tre.imaging.synth_phantom import Lesion, Phantom, PhantomGeometry, noise_bank
from tre.imaging.synth_plan import CorpusPlan, PatientPlan, SeriesPlan, uniform_plan

Progress = Callable[[int, int], None]
"""Called with (files written, files in total) after each file."""

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SOP_CLASSES = {"CT": CT_IMAGE_STORAGE, "MR": "1.2.840.10008.5.1.4.1.1.4",
               "PT": "1.2.840.10008.5.1.4.1.1.128"}
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
PRIVATE_CREATOR = "TRE SYNTH HOSPITAL PACS"
_RESCALE_INTERCEPT = -1024
_MAX_STORED = 4095
_EPOCH = date(2014, 1, 6)


@dataclass(frozen=True, slots=True)
class SynthResult:
    """What a generation wrote."""

    out: Path
    patients: int
    studies: int
    series: int
    instances: int
    patient_ids: tuple[str, ...]


@dataclass(slots=True)
class _Planted:
    """Identifying values planted for one patient, with where each one hides."""

    values: list[dict[str, str]] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)

    def add(self, where: str, value: str) -> str:
        entry = {"where": where, "value": value}
        if entry not in self.values:
            self.values.append(entry)
        return value


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters (DICOM DS)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _da(day: date) -> str:
    return day.strftime("%Y%m%d")


def _tm(seconds: float) -> str:
    whole, millis = int(seconds) % 86_400, int(seconds % 1 * 1e3)
    return f"{whole // 3600:02d}{whole % 3600 // 60:02d}{whole % 60:02d}.{millis:03d}"


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInput(f"{out} exists and is not an empty folder: give a new output folder")


def generate(out: Path, *, patients: int = 3, studies: int = 1, series: int = 1,
             slices: int = 16, size: int = 64, seed: int = 0,
             progress: Progress | None = None) -> SynthResult:
    """Write a synthetic corpus of ``patients`` x ``studies`` x ``series`` CT series to ``out``.

    Each series has ``slices`` axial slices of ``size`` x ``size`` pixels. ``out`` must not
    exist or be empty. Fast enough for benchmarks (vectorised phantom, one pass, no temporaries).
    """
    for name, value, low in (("patients", patients, 1), ("studies", studies, 1),
                             ("series", series, 1), ("slices", slices, 1), ("size", size, 16)):
        if value < low:
            raise InvalidInput(f"--{name} must be at least {low}, got {value}")
    if size > 4096:
        raise InvalidInput(f"--size must be at most 4096, got {size}")
    return generate_from_plan(out, uniform_plan(patients, studies, series, slices, size, seed),
                              seed=seed, progress=progress)


def generate_from_plan(out: Path, plan: CorpusPlan, *, seed: int = 0,
                       progress: Progress | None = None) -> SynthResult:
    """Write the corpus ``plan`` describes (``generate`` and synthetic twins both end here)."""
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    writer = _CorpusWriter(out, plan, seed, progress)
    patient_ids = []
    planted: dict[str, object] = {}
    lesions: list[dict[str, object]] = []
    rows: list[dict[str, str]] = []
    for index, patient in enumerate(plan.patients):
        person, row, marks, series_docs = writer.patient(index, patient)
        patient_ids.append(person.patient_id)
        planted[person.patient_id] = {"values": marks.values, "uids": marks.uids}
        lesions.extend(series_docs)
        rows.append({plan.clinical.columns[0]: person.patient_id, **row})
    _write_json(out / "planted.json", {
        "uid_root": HOSPITAL_UID_ROOT, "private_creator": PRIVATE_CREATOR, "patients": planted})
    _write_json(out / "lesions.json", {"series": lesions})
    (out / "clinical.csv").write_text(_csv(plan.clinical.columns, rows), encoding="utf-8")
    counts = {"patients": len(plan.patients),
              "studies": sum(len(p.studies) for p in plan.patients),
              "series": sum(len(s.series) for p in plan.patients for s in p.studies),
              "instances": plan.instances}
    _write_json(out / "synthetic.json", {"synthetic": True, "like": plan.like, "seed": seed,
                                         "generator": "tre.imaging.synth", **counts})
    return SynthResult(out, counts["patients"], counts["studies"], counts["series"],
                       counts["instances"], tuple(patient_ids))


def _write_json(path: Path, doc: object) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _csv(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    table = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    table.writeheader()
    table.writerows(rows)
    return buffer.getvalue()


class _CorpusWriter:
    """Writes one patient at a time; holds the noise fields shared by all series of a size."""

    def __init__(self, out: Path, plan: CorpusPlan, seed: int, progress: Progress | None) -> None:
        self.out, self.plan, self.seed, self.progress = out, plan, seed, progress
        self.total = plan.instances
        self.done = 0
        self._noise: dict[tuple[int, int], npt.NDArray[np.int16]] = {}

    def noise(self, rows: int, columns: int) -> npt.NDArray[np.int16]:
        key = (rows, columns)
        if key not in self._noise:
            self._noise[key] = noise_bank(np.random.default_rng([self.seed, rows, columns]),
                                          rows, columns)
        return self._noise[key]

    def patient(self, index: int, patient: PatientPlan) -> tuple[
            Person, dict[str, str], _Planted, list[dict[str, object]]]:
        rng = np.random.default_rng([self.seed, index])
        row = self.plan.clinical.sample(rng)
        first_study = _EPOCH + timedelta(days=int(rng.integers(0, 3000)))
        age = _int_or(row.get("age", ""), int(rng.integers(40, 85)))
        sex = row.get("sex", "") if row.get("sex", "") in ("F", "M") else (
            "F" if rng.random() < 0.5 else "M")
        person = make_person(rng, index, sex, age, first_study)
        marks = _Planted()
        organ = lesion_organ(row.get("diagnosis", ""), rng)
        series_docs: list[dict[str, object]] = []
        study_day = first_study
        for s_index, study in enumerate(patient.studies):
            context = _StudyContext.make(self.seed, rng, index, s_index, study_day, person)
            for e_index, series_plan in enumerate(study.series):
                series_docs.append(self.series(rng, person, marks, context, e_index, series_plan,
                                               organ, age))
            study_day += timedelta(days=int(rng.integers(60, 400)))
        return person, row, marks, series_docs

    def series(self, rng: np.random.Generator, person: Person, marks: _Planted,
               study: _StudyContext, e_index: int, plan: SeriesPlan, organ: str,
               age: int) -> dict[str, object]:
        geometry = PhantomGeometry(plan.rows, plan.columns, plan.pixel_spacing[0],
                                   plan.pixel_spacing[1], plan.slices, plan.slice_spacing)
        phantom = Phantom(geometry, (), rng)
        lesions = _place_lesions(rng, phantom, organ)
        phantom = Phantom(geometry, lesions, np.random.default_rng(
            [self.seed, study.patient_index, study.study_index, e_index]))
        series_uid = uid(self.seed, "series", study.patient_index, study.study_index, e_index)
        orientation = np.asarray(plan.orientation, dtype=np.float64)
        normal = np.cross(orientation[:3], orientation[3:])
        centre = np.array([0.0, float(rng.uniform(-20, 20)), float(-rng.integers(50, 400))])
        origin = (centre - orientation[:3] * (plan.columns - 1) / 2 * plan.pixel_spacing[1]
                  - orientation[3:] * (plan.rows - 1) / 2 * plan.pixel_spacing[0])
        ds = _series_dataset(person, marks, study, e_index, series_uid, plan, age)
        marks.uids.append(series_uid)
        folder = self.out / "dicom" / person.patient_id / f"ST{study.study_index + 1:02d}" / \
            f"SE{e_index + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        mask_path = self.out / "masks" / person.patient_id / f"{series_uid}.nii.gz"
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        affine = dicom_affine(origin, plan.orientation, plan.pixel_spacing, plan.slice_spacing)
        mask = NiftiLabelWriter(mask_path, (plan.slices, plan.rows, plan.columns), affine,
                                "tre synthetic lesion labels")
        noise = self.noise(plan.rows, plan.columns)
        labels = np.zeros((plan.rows, plan.columns), dtype=np.uint8)
        acquisition = study.seconds + 120.0 + 60.0 * e_index
        ds.file_meta.MediaStorageSOPInstanceUID = UID("9" * len(series_uid))  # see SeriesEncoder
        encoder = SeriesEncoder(ds)
        for k in range(plan.slices):
            image = phantom.slice(k, noise[(k * 5 + e_index) % len(noise)], labels)
            # stored = HU - intercept; without a rescale (MR) the same values are intensities
            stored = np.clip(image, _RESCALE_INTERCEPT, _RESCALE_INTERCEPT + _MAX_STORED)
            stored -= _RESCALE_INTERCEPT
            position = origin + k * plan.slice_spacing * normal
            sop_uid = uid(self.seed, "sop", study.patient_index, study.study_index, e_index, k)
            moment = _tm(acquisition + 0.35 * k).encode("ascii")
            (folder / f"IM{k + 1:05d}.dcm").write_bytes(encoder.encode(sop_uid, (
                (SOP_INSTANCE_UID, encode_element(SOP_INSTANCE_UID, "UI", sop_uid.encode())),
                (ACQUISITION_TIME, encode_element(ACQUISITION_TIME, "TM", moment)),
                (CONTENT_TIME, encode_element(CONTENT_TIME, "TM", moment)),
                (INSTANCE_NUMBER, encode_element(INSTANCE_NUMBER, "IS", str(k + 1).encode())),
                (IMAGE_POSITION, encode_element(IMAGE_POSITION, "DS", "\\".join(
                    _ds(v) for v in position).encode())),
                (SLICE_LOCATION, encode_element(SLICE_LOCATION, "DS",
                                                _ds(float(position @ normal)).encode())),
                (PIXEL_DATA, encode_element(PIXEL_DATA, "OW", stored.astype("<u2").tobytes())),
            )))
            mask.write_slice(labels)
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)
        mask.close()
        step = plan.slice_spacing
        return {
            "patient_id": person.patient_id, "study_instance_uid": study.study_uid,
            "series_instance_uid": series_uid,
            "mask": mask_path.relative_to(self.out).as_posix(),
            "affine_ras": [[round(float(v), 6) for v in r] for r in affine],
            "lesions": [{
                "label": le.label, "organ": le.organ, "radius_mm": round(le.radius, 4),
                "hu": le.hu,
                "centre_lps": [round(float(v), 4) for v in _volume_to_lps(
                    le, plan, origin, normal, step)],
            } for le in lesions],
        }


def _int_or(text: str, default: int) -> int:
    try:
        return int(float(text))
    except ValueError:
        return default


def _volume_to_lps(lesion: Lesion, plan: SeriesPlan, origin: npt.NDArray[np.float64],
                   normal: npt.NDArray[np.float64], step: float) -> npt.NDArray[np.float64]:
    """Patient coordinates of a lesion centre given in the phantom's volume frame."""
    ori = np.asarray(plan.orientation, dtype=np.float64)
    column = lesion.x / plan.pixel_spacing[1] + (plan.columns - 1) / 2
    row = lesion.y / plan.pixel_spacing[0] + (plan.rows - 1) / 2
    result: npt.NDArray[np.float64] = (origin + column * plan.pixel_spacing[1] * ori[:3]
                                       + row * plan.pixel_spacing[0] * ori[3:]
                                       + lesion.z * normal)
    return result


def _place_lesions(rng: np.random.Generator, phantom: Phantom, organ: str) -> tuple[Lesion, ...]:
    """One to three lesions inside ``organ``, each spanning at least one slice centre."""
    g = phantom.geometry
    x0, y0, u0, organ_radius = phantom.lesion_centre_candidates(organ)
    count = int(rng.integers(1, 4))
    lesions = []
    for label in range(1, count + 1):
        side = -1.0 if organ == "lung" and rng.random() < 0.5 else 1.0
        radius = float(np.clip(rng.uniform(0.025, 0.05) * g.fov,
                               max(1.5 * g.column_spacing, 0.6 * g.slice_step),
                               max(0.45 * organ_radius, 1.5 * g.column_spacing)))
        spread = max(0.0, organ_radius - radius) * 0.6
        span = max(1, g.slices - 1)
        k = int(np.clip(round((u0 + rng.uniform(-0.08, 0.08)) * span), 0, g.slices - 1))
        lesions.append(Lesion(
            label=label, organ=organ,
            x=side * x0 + float(rng.uniform(-spread, spread)),
            y=y0 + float(rng.uniform(-spread, spread)),
            z=k * g.slice_step, radius=radius,
            hu=int(rng.integers(25, 55)) if organ == "lung" else int(rng.integers(5, 25))))
    return tuple(lesions)


@dataclass(frozen=True, slots=True)
class _StudyContext:
    patient_index: int
    study_index: int
    study_uid: str
    frame_uid: str
    prior_uid: str
    patient_record_uid: str
    day: date
    seconds: float
    accession: str
    study_id: str

    @classmethod
    def make(cls, seed: int, rng: np.random.Generator, p: int, s: int, day: date,
             person: Person) -> _StudyContext:
        return cls(p, s, uid(seed, "study", p, s), uid(seed, "frame", p, s),
                   uid(seed, "prior", p, s), uid(seed, "patient-record", p), day,
                   float(rng.integers(7 * 3600, 19 * 3600)),
                   f"{person.hospital.code}{int(rng.integers(10**7, 10**8))}",
                   f"S{int(rng.integers(10**5, 10**6))}")


def _series_dataset(person: Person, marks: _Planted, study: _StudyContext, e_index: int,
                    series_uid: str, plan: SeriesPlan, age: int) -> Dataset:
    """Every header element of one series except the per-slice ones."""
    m = marks.add
    sop_class = SOP_CLASSES.get(plan.modality, SECONDARY_CAPTURE)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    spoken = person.spoken_name
    day, hospital = _da(study.day), person.hospital
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.StudyDate = m("StudyDate", day)
    ds.SeriesDate = m("SeriesDate", day)
    ds.AcquisitionDate = m("AcquisitionDate", day)
    ds.ContentDate = m("ContentDate", day)
    ds.StudyTime = m("StudyTime", _tm(study.seconds))
    ds.SeriesTime = _tm(study.seconds + 60.0 * (e_index + 1))
    ds.AccessionNumber = m("AccessionNumber", study.accession)
    ds.Modality = plan.modality
    ds.Manufacturer = "TRE Synthetic"
    ds.InstitutionName = m("InstitutionName", hospital.name)
    ds.InstitutionAddress = m("InstitutionAddress", hospital.address)
    ds.ReferringPhysicianName = m("ReferringPhysicianName", person.referring)
    ds.StationName = m("StationName", f"{hospital.code}CT0{study.study_index % 3 + 1}")
    ds.StudyDescription = m("StudyDescription", f"CT CHEST ABDOMEN {spoken}")
    ds.ProcedureCodeSequence = Sequence([_code(
        f"CTCAP{study.study_index + 1}", "99" + hospital.code,
        m("ProcedureCodeSequence[0].CodeMeaning", f"CT chest abdomen for {person.surname}"))])
    ds.SeriesDescription = m(f"SeriesDescription[{e_index}]",
                             f"AX {_ds(plan.slice_thickness)}mm {person.surname}")
    ds.InstitutionalDepartmentName = "Radiology"
    ds.PhysiciansOfRecord = m("PhysiciansOfRecord", person.referring)
    ds.PerformingPhysicianName = m("PerformingPhysicianName", person.performing)
    ds.OperatorsName = m("OperatorsName", person.operator)
    ds.ManufacturerModelName = "Phantom 1"
    ds.ReferencedStudySequence = Sequence([_reference(
        "1.2.840.10008.3.1.2.3.1", m("ReferencedStudySequence[0].ReferencedSOPInstanceUID",
                                     study.prior_uid))])
    ds.ReferencedPatientSequence = Sequence([_reference(
        "1.2.840.10008.3.1.2.1.1", m("ReferencedPatientSequence[0].ReferencedSOPInstanceUID",
                                     study.patient_record_uid))])
    ds.PatientName = m("PatientName", person.dicom_name)
    ds.PatientID = m("PatientID", person.patient_id)
    ds.IssuerOfPatientID = hospital.code
    ds.PatientBirthDate = m("PatientBirthDate", _da(person.birth_date))
    ds.PatientSex = person.sex
    ds.OtherPatientIDs = m("OtherPatientIDs", person.legacy_id)
    ds.OtherPatientIDsSequence = Sequence([
        _other_id(m("OtherPatientIDsSequence[0].PatientID", person.national_id), "NHS"),
        _other_id(m("OtherPatientIDsSequence[1].PatientID", person.legacy_id), hospital.code)])
    ds.OtherPatientNames = m("OtherPatientNames", f"{person.surname}^{person.given[0]}")
    ds.PatientAge = f"{min(age, 999):03d}Y"
    ds.PatientAddress = m("PatientAddress", person.address)
    ds.PatientMotherBirthName = m("PatientMotherBirthName", person.mother_maiden_name)
    ds.PatientTelephoneNumbers = m("PatientTelephoneNumbers", person.phone)
    ds.AdditionalPatientHistory = m(
        "AdditionalPatientHistory", f"{spoken} referred by {hospital.name}; call {person.phone}")
    ds.PatientComments = m("PatientComments", f"Lives at {person.address.split('^')[0]}")
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = _ds(plan.slice_thickness)
    ds.KVP = "120"
    ds.DeviceSerialNumber = m("DeviceSerialNumber", f"SN-{hospital.code}-0042")
    ds.SoftwareVersions = "tre-synth 1"
    ds.ProtocolName = m("ProtocolName", f"{hospital.code} CAP {person.given}")
    ds.ConvolutionKernel = "B30f"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = m("StudyInstanceUID", study.study_uid)
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = m("StudyID", study.study_id)
    ds.SeriesNumber = e_index + 1
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [_ds(v) for v in plan.orientation]
    ds.FrameOfReferenceUID = m("FrameOfReferenceUID", study.frame_uid)
    ds.PositionReferenceIndicator = ""
    ds.ImageComments = m(f"ImageComments[{e_index}]",
                         f"Patient {spoken} ({person.patient_id}), "
                         f"requested by {person.referring.split('^')[0].title()}")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = plan.rows
    ds.Columns = plan.columns
    ds.PixelSpacing = [_ds(v) for v in plan.pixel_spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if plan.modality in ("CT", "PT"):
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.RescaleIntercept = str(_RESCALE_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU" if plan.modality == "CT" else "US"
    else:
        ds.WindowCenter = "600"
        ds.WindowWidth = "1200"
    if plan.slice_spacing != plan.slice_thickness:
        ds.SpacingBetweenSlices = _ds(plan.slice_spacing)
    ds.RequestAttributesSequence = Sequence([_request(person, marks, study)])
    ds.PerformedProcedureStepStartDate = m("PerformedProcedureStepStartDate", day)
    ds.PerformedProcedureStepID = m("PerformedProcedureStepID", f"PPS{study.accession[-7:]}")
    ds.PerformedProcedureStepDescription = m("PerformedProcedureStepDescription",
                                             f"CT for {person.surname} {person.given}")
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", m("Private(0009,1001)", spoken))
    block.add_new(0x02, "LO", m("Private(0009,1002)", person.patient_id))
    block.add_new(0x03, "DA", m("Private(0009,1003)", _da(person.birth_date)))
    block.add_new(0x04, "LT", m("Private(0009,1004)",
                                f"Contact {person.given.title()} on {person.phone}"))
    marks.uids.extend(u for u in (study.study_uid, study.frame_uid, study.prior_uid)
                      if u not in marks.uids)
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _reference(sop_class: str, instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = instance
    return item


def _other_id(value: str, issuer: str) -> Dataset:
    item = Dataset()
    item.PatientID = value
    item.IssuerOfPatientID = issuer
    item.TypeOfPatientID = "TEXT"
    return item


def _request(person: Person, marks: _Planted, study: _StudyContext) -> Dataset:
    m = marks.add
    item = Dataset()
    item.AccessionNumber = study.accession
    item.RequestedProcedureID = m("RequestAttributesSequence[0].RequestedProcedureID",
                                  f"RP{study.accession[-8:]}")
    item.ScheduledProcedureStepID = m("RequestAttributesSequence[0].ScheduledProcedureStepID",
                                      f"SPS{study.accession[-8:]}")
    item.RequestedProcedureDescription = m(
        "RequestAttributesSequence[0].RequestedProcedureDescription",
        f"Staging CT, {person.spoken_name}, DOB {person.birth_date.isoformat()}")
    item.ReferencedStudySequence = Sequence([_reference("1.2.840.10008.3.1.2.3.1",
                                                        study.prior_uid)])
    item.ScheduledProtocolCodeSequence = Sequence([_code(
        "CAP01", "99" + person.hospital.code,
        m("RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0].CodeMeaning",
          f"Chest abdomen pelvis ({person.surname})"))])
    return item
