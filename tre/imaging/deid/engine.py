"""Apply the compiled profile to a dataset: walk every element (nested too); unknown => removed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID

from tre.imaging.deid import profile
from tre.imaging.deid.profile import Option
from tre.imaging.deid.rules import Op, compile_rules, vr_of
from tre.imaging.deid.scrub import IDENTIFYING_KEYWORDS, TextScrubber, identifying_terms
from tre.imaging.pseudonyms import (
    PseudonymKey,
    date_shift_days,
    patient_pseudonym,
    remap_uid,
    time_shift_seconds,
)

IMPLEMENTATION_CLASS_UID = "2.25.248416530158357442315011338404357307081"
IMPLEMENTATION_VERSION = "TRE_DEID_1"
NUMERIC_VRS = frozenset({"IS", "DS", "FL", "FD", "SS", "US", "SL", "UL", "SV", "UV"})
_DUMMY: dict[str, Any] = {
    "AE": "REMOVED", "AS": "000D", "CS": "REMOVED", "DA": "19000101", "DS": "0",
    "DT": "19000101000000", "FL": 0.0, "FD": 0.0, "IS": "0", "LO": "REMOVED", "LT": "REMOVED",
    "OB": b"\0\0", "OD": b"\0" * 8, "OF": b"\0" * 4, "OL": b"\0" * 4, "OV": b"\0" * 8,
    "OW": b"\0\0", "PN": "REMOVED", "SH": "REMOVED", "SL": 0, "SS": 0, "ST": "REMOVED",
    "SV": 0, "TM": "000000", "UC": "REMOVED", "UL": 0, "UN": b"\0\0", "UR": "http://removed",
    "US": 0, "UT": "REMOVED", "UV": 0, "AT": 0,
}


@dataclass(slots=True)
class FileDeidentification:
    """What de-identifying one dataset did (counts and keywords only: never a value)."""

    pseudonym: str
    date_shift_days: int
    removed_by_profile: int = 0
    removed_private: int = 0
    removed_unlisted: Counter[str] = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Walk:
    """State of one walk over one file."""

    result: FileDeidentification
    shift: timedelta
    scrubber: TextScrubber | None
    shifted_times: set[tuple[int, int]] = field(default_factory=set)


class Deidentifier:
    """De-identifies datasets in place with one key and one set of options."""

    def __init__(self, key: PseudonymKey,
                 options: Iterable[Option] = profile.DEFAULT_OPTIONS) -> None:
        self.key = key
        self.options = tuple(sorted(set(options)))
        self.rules = compile_rules(self.options)
        self._safe_private = {(c.upper(), g, e) for c, g, e in profile.SAFE_PRIVATE}
        self._uids: dict[str, str] = {}
        self._needs_scrubber = Op.CLEAN_TEXT in self.rules.values()
        self._identifying_tags = [int(tag_for_keyword(k) or 0) for k in IDENTIFYING_KEYWORDS]
        self._scrubbers: dict[tuple[bytes, ...], TextScrubber] = {}
        self._method_codes = self._codes()

    def deidentify(self, ds: Dataset) -> FileDeidentification:
        """Clean ``ds`` (and its file meta) in place; return what was done."""
        patient_id = _text(ds.get("PatientID"))
        result = FileDeidentification(patient_pseudonym(self.key, patient_id),
                                      date_shift_days(self.key, patient_id))
        if not patient_id.strip():
            result.findings.append("no PatientID: filed under the pseudonym of an empty id")
        scrubber = self._scrubber(ds) if self._needs_scrubber else None
        shift = timedelta(days=result.date_shift_days,
                          seconds=time_shift_seconds(self.key, patient_id))
        self._clean(ds, _Walk(result, shift, scrubber))
        self._stamp(ds, result)
        return result

    def _scrubber(self, ds: Dataset) -> TextScrubber:
        """The file's scrubber; files of one series share one (cached on the raw values)."""
        raw = tuple(_raw_bytes(ds, tag) for tag in self._identifying_tags)
        scrubber = self._scrubbers.get(raw)
        if scrubber is None:
            if len(self._scrubbers) > 256:
                self._scrubbers.clear()
            scrubber = self._scrubbers[raw] = TextScrubber(identifying_terms(
                _strings(ds.data_element(keyword))
                for keyword in IDENTIFYING_KEYWORDS if keyword in ds))
        return scrubber

    def remap(self, uid: str) -> str:
        """The keyed replacement of a UID (cached: files of a series share most UIDs)."""
        new = self._uids.get(uid)
        if new is None:
            new = self._uids[uid] = remap_uid(self.key, uid)
        return new

    def _clean(self, ds: Dataset, walk: _Walk) -> None:
        rules = self.rules
        creators: list[BaseTag] = []
        used_creators: set[int] = set()
        for tag in list(ds.keys()):
            if tag.group & 1:
                if self._keep_private(ds, tag, creators, used_creators):
                    continue
                del ds[tag]
                walk.result.removed_private += 1
                continue
            op = rules.get(tag)
            if op is None or tag.element == 0:
                del ds[tag]
                walk.result.removed_unlisted[keyword_for_tag(tag) or str(tag)] += 1
            elif op is Op.KEEP:
                if ds.get_item(tag).VR == "SQ" or vr_of(tag) == "SQ":
                    # A kept attribute encoded as a sequence: its items are cleaned like any
                    # other, never copied through; one that should be a sequence but is not
                    # (UN bytes) cannot be inspected, so it goes.
                    value = ds[tag].value
                    if not isinstance(value, Sequence):
                        del ds[tag]
                        walk.result.removed_by_profile += 1
                        continue
                    for item in value:
                        self._clean(item, walk)
                continue
            elif op is Op.REMOVE:
                del ds[tag]
                walk.result.removed_by_profile += 1
            else:
                self._apply(ds, tag, op, walk)
        for tag in creators:
            if int(tag) not in used_creators:
                del ds[tag]
                walk.result.removed_private += 1

    def _keep_private(self, ds: Dataset, tag: BaseTag, creators: list[BaseTag],
                      used: set[int]) -> bool:
        element = tag.element
        if 0x10 <= element <= 0xFF:
            creators.append(tag)
            return True  # decided once the block's elements are seen
        if element < 0x10:
            return False
        creator_tag = (tag.group << 16) | (element >> 8)
        if creator_tag not in ds:
            return False
        creator = _text(ds[creator_tag].value).strip().upper()
        if (creator, tag.group, element & 0xFF) not in self._safe_private:
            return False
        if ds.get_item(tag).VR not in NUMERIC_VRS:  # implicit VR (None) or text: fail closed
            return False
        used.add(creator_tag)
        return True

    def _apply(self, ds: Dataset, tag: BaseTag, op: Op, walk: _Walk) -> None:
        if op in (Op.EMPTY, Op.DUMMY, Op.PSEUDONYM):  # no need to decode the old value
            vr = ds.get_item(tag).VR or vr_of(tag)
            if op is Op.EMPTY:
                ds[tag] = DataElement(tag, vr, Sequence() if vr == "SQ" else None)
            elif op is Op.PSEUDONYM:
                ds[tag] = DataElement(tag, vr, walk.result.pseudonym)
            elif vr in _DUMMY:
                ds[tag] = DataElement(tag, vr, _DUMMY[vr])
            else:
                del ds[tag]  # no dummy exists for this VR: removing is the safe side
                walk.result.removed_by_profile += 1
            return
        elem = ds[tag]
        vr = elem.VR
        if op is Op.UID:
            elem.value = _map_values(elem.value, self.remap)
        elif op is Op.SHIFT_DATE:
            self._shift(ds, elem, walk)
        elif op is Op.SHIFT_TIME:
            if (id(ds), int(tag)) not in walk.shifted_times:
                self._shift(ds, elem, walk)
        elif op is Op.CLEAN_TEXT:
            scrubber = walk.scrubber or TextScrubber(())
            elem.value = _map_values(elem.value, lambda v: scrubber.clean(_text(v)))
        elif op is Op.CLEAN_ITEMS:
            if vr != "SQ":
                raise TypeError(f"CLEAN_ITEMS on non-sequence {tag}")
            for item in elem.value:
                self._clean(item, walk)
        else:  # pragma: no cover - every Op is handled above
            raise ValueError(f"unhandled operation {op!r}")

    def _shift(self, ds: Dataset, elem: Any, walk: _Walk) -> None:
        """Move a date, time or date-time; a date and its paired time move together."""
        keyword = elem.keyword or ""
        pair = keyword[:-4] + "Time" if keyword.endswith("Date") and elem.VR == "DA" else ""
        paired = ds.data_element(pair) if pair and pair in ds else None
        if paired is not None and paired.VR == "TM" and not isinstance(
                elem.value, MultiValue) and not isinstance(paired.value, MultiValue):
            moved = shift_date_time(_text(elem.value), _text(paired.value), walk.shift)
            if moved is not None:
                elem.value, paired.value = moved
                walk.shifted_times.add((id(ds), int(paired.tag)))
                return
        bad = False

        def shift(value: Any) -> str:
            nonlocal bad
            new = shift_temporal(_text(value), elem.VR, walk.shift)
            if new is None:
                bad = True
                return ""
            return new

        elem.value = _map_values(elem.value, shift)
        if bad:
            walk.result.findings.append(
                f"{keyword or elem.tag}: a date or time could not be read and was emptied")

    def _stamp(self, ds: Dataset, result: FileDeidentification) -> None:
        ds.PatientName = result.pseudonym
        ds.PatientID = result.pseudonym
        ds.PatientIdentityRemoved = "YES"
        modified = Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options
        ds.LongitudinalTemporalInformationModified = "MODIFIED" if modified else "REMOVED"
        ds.DeidentificationMethod = ["tre: " + profile.BASIC_PROFILE_CODE[1]] + [
            profile.OPTION_MEANINGS[o] for o in self.options]
        ds.DeidentificationMethodCodeSequence = self._method_codes

    def _codes(self) -> Sequence:
        """CID 7050 codes of the profile and options (built once, shared read-only)."""
        codes = [profile.BASIC_PROFILE_CODE] + [(o.value, profile.OPTION_MEANINGS[o])
                                               for o in self.options]
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        return Sequence(items)


def new_file_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    """A file meta group with nothing but what the standard requires (old one is discarded)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def shift_temporal(value: str, vr: str, shift: timedelta) -> str | None:
    """A DA, TM or DT value (or DA range) moved by ``shift``; None if it cannot be read.

    A date alone moves by the shift's whole days, a time alone by its seconds (modulo a day),
    a date-time by the whole shift.
    """
    value = value.strip()
    if not value:
        return value
    if vr == "DA" and "-" in value:
        parts = [shift_temporal(p, vr, shift) if p else "" for p in value.split("-", 1)]
        return None if None in parts else "-".join(p or "" for p in parts)
    if vr == "TM":
        moved = shift_date_time("20000101", value, timedelta(seconds=shift.seconds))
        return None if moved is None else moved[1]
    if vr == "DT" and len(value) > 8:
        body, _, zone = value.partition("+") if "+" in value else value.partition("-")
        moved = shift_date_time(body[:8], body[8:], shift)
        if moved is None:
            return None
        return moved[0] + moved[1] + (value[len(body):] if zone else "")
    head = value[:8].replace(".", "") if vr == "DA" else value[:8]
    if len(head) != 8 or not head.isdigit():
        return None
    try:
        day = date(int(head[:4]), int(head[4:6]), int(head[6:8])) + timedelta(days=shift.days)
    except (ValueError, OverflowError):
        return None
    return day.strftime("%Y%m%d")


def shift_date_time(day: str, time: str, shift: timedelta) -> tuple[str, str] | None:
    """A DA and a TM value moved together by ``shift`` (the time keeps its precision)."""
    day, time = day.strip(), time.strip().replace(":", "")
    whole, _, fraction = time.partition(".")
    if len(day) != 8 or not day.isdigit() or not whole.isdigit() or len(whole) not in (2, 4, 6):
        return None
    try:
        moment = datetime(int(day[:4]), int(day[4:6]), int(day[6:8]), int(whole[:2]),
                          int(whole[2:4] or 0), int(whole[4:6] or 0)) + shift
    except (ValueError, OverflowError):
        return None
    new_time = moment.strftime("%H%M%S")[:len(whole)] + ("." + fraction if fraction else "")
    return moment.strftime("%Y%m%d"), new_time


def _map_values(value: Any, fn: Any) -> Any:
    if isinstance(value, MultiValue | list | tuple):
        return [fn(v) for v in value]
    if value is None or value == "":
        return value
    return fn(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _raw_bytes(ds: Dataset, tag: int) -> bytes:
    if tag not in ds:
        return b""
    value: Any = ds.get_item(tag).value
    return value if isinstance(value, bytes) else repr(value).encode()


def _strings(elem: Any) -> str:
    if elem is None or elem.VR == "SQ":
        return ""
    value = elem.value
    if isinstance(value, MultiValue | list | tuple):
        return " ".join(_text(v) for v in value)
    return _text(value)
