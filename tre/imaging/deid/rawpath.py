"""De-identify a DICOM file on its bytes: patch only the acted-on elements, copy the rest.

The pydicom path (``engine.Deidentifier`` on a ``Dataset``, then ``save_as``) converts every
element it touches and re-encodes the whole file. This module reads the element stream itself
(explicit or implicit VR little endian, defined- and undefined-length sequences and items,
encapsulated pixel data), decides each element from the same compiled tag -> operation table
with the same rules as the engine, re-encodes only the elements it changes, and copies every
other byte range -- pixel data included -- unchanged. Its output is byte-identical to the
pydicom path's (tests compare both on every test file).

Fail closed: anything this module does not fully understand (big endian, deflate, VR UN,
elements out of order, truncation, other character sets, safe-listed private tags, an existing
de-identification stamp...) raises :class:`Unsupported` and the caller uses the pydicom path,
so correctness never depends on this module; it never keeps an element it did not decide on.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydicom.charset import convert_encodings, encode_string
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from tre.imaging.deid import engine as eng
from tre.imaging.deid.engine import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    Deidentifier,
    FileDeidentification,
)
from tre.imaging.deid.pixels import PIXEL_KEYWORDS, pixel_risks
from tre.imaging.deid.profile import SAFE_PRIVATE
from tre.imaging.deid.rules import Op, vr_of
from tre.imaging.deid.scrub import IDENTIFYING_KEYWORDS, TextScrubber, identifying_terms
from tre.imaging.pseudonyms import date_shift_days, patient_pseudonym, time_shift_seconds

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
MAX_BYTES = 1024**3
"""Larger files go to the pydicom path (it defers large values instead of holding them)."""

_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_CHARSET = 0x00080005
_PATIENT_NAME, _PATIENT_ID = 0x00100010, 0x00100020
_SOP_CLASS, _SOP_INSTANCE = 0x00080016, 0x00080018
_STUDY_UID, _SERIES_UID = 0x0020000D, 0x0020000E
_STAMPED = tuple(int(tag_for_keyword(k) or 0) for k in (
    "PatientIdentityRemoved", "LongitudinalTemporalInformationModified",
    "DeidentificationMethod", "DeidentificationMethodCodeSequence"))
_CHECKED = tuple(int(tag_for_keyword(k) or 0) for k in (
    "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "PatientID", "Modality",
    "BurnedInAnnotation", "RecognizableVisualFeatures", "Rows", "Columns", "SamplesPerPixel",
    "NumberOfFrames", "BitsAllocated", *PIXEL_KEYWORDS))
"""Top-level elements the pydicom path reads before cleaning (checks, pixel risks, the id)."""
_IDENTIFYING = tuple(int(tag_for_keyword(k) or 0) for k in IDENTIFYING_KEYWORDS)
_LATIN1 = (["iso8859"], ["latin_1"])
_VRS = {vr.encode("ascii"): vr for vr in (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF",
    "OL", "OW", "OV", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UR",
    "US", "UT", "UV")}  # UN is left out on purpose: pydicom may re-type it on the safe path
_LONG = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)
_PLAIN = frozenset({"UI", "DA", "TM", "DT", "CS", "AS", "AE"})
_TEXT = frozenset({"SH", "LO", "ST", "LT", "UT", "UC"})
_STRING_VRS = _TEXT | {"PN"}
_TAG_LENGTH = struct.Struct("<HHI")
_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_EXPLICIT_LONG = struct.Struct("<HH2sHI")
_UL = struct.Struct("<I")


class Unsupported(Exception):
    """This file needs the pydicom path (the message says why, for statistics only)."""


class _El:
    """One parsed element: where its bytes are, and its items once parsed."""

    __slots__ = ("end", "items", "length", "start", "tag", "value", "vr")

    def __init__(self, tag: int, vr: str | None, start: int, value: int, length: int,
                 end: int, items: list[_Item] | None) -> None:
        self.tag, self.vr, self.start, self.value = tag, vr, start, value
        self.length, self.end, self.items = length, end, items


@dataclass(slots=True)
class _Item:
    elements: list[_El]
    undefined: bool


@dataclass(slots=True)
class RawResult:
    """A de-identified file, as parts to join, and what the worker reports about it."""

    parts: list[bytes | memoryview]
    done: FileDeidentification
    risks: list[str]
    study_uid: str
    series_uid: str
    sop_instance_uid: str


class _Parser:
    def __init__(self, buf: bytes, implicit: bool, encapsulated: bool) -> None:
        self.buf, self.implicit, self.encapsulated = buf, implicit, encapsulated
        self.view = memoryview(buf)

    def elements(self, pos: int, end: int, in_undefined_item: bool) -> tuple[list[_El], int]:
        buf, implicit = self.buf, self.implicit
        out: list[_El] = []
        last = -1
        while True:
            if pos + 8 > end:
                if pos == end and not in_undefined_item:
                    return out, pos
                raise Unsupported("element stream ends inside an element or item")
            group, element, length = _TAG_LENGTH.unpack_from(buf, pos)
            tag = group << 16 | element
            if group == 0xFFFE:
                if tag == _ITEM_END and in_undefined_item and length == 0:
                    return out, pos + 8
                raise Unsupported("unexpected item or delimiter tag")
            if tag <= last:
                raise Unsupported("elements not in ascending tag order")
            last = tag
            vr: str | None
            if implicit:
                vr, value = None, pos + 8
            else:
                vr = _VRS.get(buf[pos + 4:pos + 6])
                if vr is None:
                    raise Unsupported("VR UN or not a valid explicit VR")
                if vr in _LONG:
                    if pos + 12 > end:
                        raise Unsupported("truncated element header")
                    length, value = _UL.unpack_from(buf, pos + 8)[0], pos + 12
                else:
                    length, value = length >> 16, pos + 8
            items: list[_Item] | None = None
            if length == _UNDEFINED:
                if tag == _PIXEL_DATA and self.encapsulated and not in_undefined_item:
                    stop = self._fragments(value, end)
                elif vr == "SQ" or (implicit and (group & 1 or _is_sequence(tag))):
                    items, stop = self.items(value, end, undefined=True)
                else:
                    raise Unsupported("undefined length on an element that is not a sequence")
            else:
                stop = value + length
                if stop > end:
                    raise Unsupported("element runs past its container (truncated?)")
            out.append(_El(tag, vr, pos, value, length, stop, items))
            pos = stop

    def items(self, pos: int, end: int, undefined: bool) -> tuple[list[_Item], int]:
        buf = self.buf
        out: list[_Item] = []
        while True:
            if pos + 8 > end:
                if pos == end and not undefined:
                    return out, pos
                raise Unsupported("sequence ends inside an item")
            group, element, length = _TAG_LENGTH.unpack_from(buf, pos)
            tag = group << 16 | element
            if tag == _SEQ_END and undefined and length == 0:
                return out, pos + 8
            if tag != _ITEM:
                raise Unsupported("sequence holds something other than items")
            if length == _UNDEFINED:
                elements, pos = self.elements(pos + 8, end, in_undefined_item=True)
                out.append(_Item(elements, True))
            else:
                stop = pos + 8 + length
                if stop > end:
                    raise Unsupported("item runs past its sequence")
                elements, _ = self.elements(pos + 8, stop, in_undefined_item=False)
                out.append(_Item(elements, False))
                pos = stop

    def sequence_items(self, el: _El) -> list[_Item]:
        if el.items is None:
            el.items, _ = self.items(el.value, el.end, undefined=False)
        return el.items

    def _fragments(self, pos: int, end: int) -> int:
        buf = self.buf
        while True:
            if pos + 8 > end:
                raise Unsupported("encapsulated pixel data not terminated")
            group, element, length = _TAG_LENGTH.unpack_from(buf, pos)
            tag = group << 16 | element
            if tag == _SEQ_END and length == 0:
                return pos + 8
            if tag != _ITEM or length == _UNDEFINED or pos + 8 + length > end:
                raise Unsupported("malformed encapsulated pixel data")
            pos += 8 + length


_SEQUENCE_CACHE: dict[int, bool] = {}


def _is_sequence(tag: int) -> bool:
    known = _SEQUENCE_CACHE.get(tag)
    if known is None:
        try:
            known = dictionary_VR(tag) == "SQ"
        except KeyError:
            known = False
        _SEQUENCE_CACHE[tag] = known
    return known


class _Walk:
    """State of one file: results, the shift, the scrubber, the encodings."""

    __slots__ = ("encodings", "implicit", "parser", "result", "scrubber", "shift")

    def __init__(self, result: FileDeidentification, shift: timedelta,
                 scrubber: TextScrubber | None, encodings: list[str], implicit: bool,
                 parser: _Parser) -> None:
        self.result, self.shift, self.scrubber = result, shift, scrubber
        self.encodings, self.implicit, self.parser = encodings, implicit, parser


# A planned output element: (tag, raw byte range | encoded bytes | element to encode later)
_Plan = tuple[int, Any]


class RawDeidentifier:
    """The bytes path, sharing the engine's key, table and caches."""

    def __init__(self, engine: Deidentifier) -> None:
        self.engine = engine
        self.rules = engine.rules
        self._safe_private = {(g, e) for _, g, e in SAFE_PRIVATE}
        self._scrubbers: dict[tuple[bytes, ...], TextScrubber] = {}
        self._stamps: dict[tuple[bool, tuple[str, ...]], list[_Plan]] = {}
        self._unlisted: dict[int, str] = {}
        self._dummies = {vr: _value_bytes(vr, value) for vr, value in eng._DUMMY.items()}

    def deidentify(self, buf: bytes) -> RawResult:
        """De-identify a whole file held in ``buf``; raises Unsupported to defer to pydicom."""
        if len(buf) > MAX_BYTES:
            raise Unsupported("file too large for the bytes path")
        if len(buf) < 144 or buf[128:132] != b"DICM":
            raise Unsupported("no preamble and DICM prefix")
        transfer_syntax, start = _file_meta(buf)
        implicit, encapsulated = _encoding(transfer_syntax)
        parser = _Parser(buf, implicit, encapsulated)
        elements, _ = parser.elements(start, len(buf), in_undefined_item=False)
        if not elements or elements[0].tag < 0x00080000:
            raise Unsupported("file meta or command elements in the data set")
        by_tag = {el.tag: el for el in elements}
        for tag in _STAMPED:  # re-stamped below: only in the form the pydicom path keeps
            el = by_tag.get(tag)
            if el is not None and ((el.vr or vr_of(tag)) != vr_of(tag)
                                   or el.length == _UNDEFINED):
                raise Unsupported("de-identification stamp in an unexpected form")
        view = _view(buf, by_tag, implicit, transfer_syntax)
        encodings = convert_encodings(view._character_set)
        if encodings not in _LATIN1:
            raise Unsupported("character set other than the default or ISO_IR 100")
        self._preflight(view, buf)
        risks = pixel_risks(view)
        patient_id = eng._text(view.get("PatientID"))
        key = self.engine.key
        result = FileDeidentification(patient_pseudonym(key, patient_id),
                                      date_shift_days(key, patient_id))
        if not patient_id.strip():
            result.findings.append("no PatientID: filed under the pseudonym of an empty id")
        scrubber = (self._scrubber(buf, by_tag, view, implicit)
                    if self.engine._needs_scrubber else None)
        shift = timedelta(days=result.date_shift_days,
                          seconds=time_shift_seconds(key, patient_id))
        walk = _Walk(result, shift, scrubber, encodings, implicit, parser)
        plan, decoded = self._clean(elements, walk, view)
        plan = self._stamp(plan, walk, by_tag)
        for tag in _CHECKED:  # converted to check them, so the pydicom path re-encodes them
            if tag in by_tag and tag not in decoded and self.rules.get(tag) is Op.KEEP:
                elem = view._dict.get(BaseTag(tag))
                if isinstance(elem, DataElement):
                    decoded[tag] = elem
        parts: list[bytes | memoryview] = []
        self._emit(plan, decoded, walk, parts)
        sop_class = _single(decoded[_SOP_CLASS].value if _SOP_CLASS in decoded
                            else view.get("SOPClassUID"))
        uids = [_single(decoded[t].value) if t in decoded else "" for t in
                (_STUDY_UID, _SERIES_UID, _SOP_INSTANCE)]
        if not uids[2]:
            raise Unsupported("SOP Instance UID not remapped")
        meta = _meta_bytes(sop_class, uids[2], transfer_syntax)
        return RawResult([b"\0" * 128 + b"DICM" + meta, *parts], result, risks, *uids)

    def _preflight(self, view: Dataset, buf: bytes) -> None:
        """The pydicom path's structural checks: anything it would refuse, it must see."""
        from tre.imaging.deid.worker import _structural_problem

        if _structural_problem(view, len(buf)):
            raise Unsupported("structural problem: the pydicom path reports it")

    def _scrubber(self, buf: bytes, by_tag: dict[int, _El], view: Dataset,
                  implicit: bool) -> TextScrubber:
        raw = tuple(buf[by_tag[t].start:by_tag[t].end] if t in by_tag else b""
                    for t in _IDENTIFYING)
        scrubber = self._scrubbers.get(raw)
        if scrubber is None:
            values = []
            for tag in _IDENTIFYING:
                el = by_tag.get(tag)
                if el is None:
                    continue
                if el.vr == "SQ" or (el.vr is None and _is_sequence(tag)):
                    values.append("")
                    continue
                values.append(eng._strings(_decode(buf, el, implicit, view._character_set)))
            if len(self._scrubbers) > 256:
                self._scrubbers.clear()
            scrubber = self._scrubbers[raw] = TextScrubber(identifying_terms(values))
        return scrubber

    def _clean(self, elements: list[_El], walk: _Walk, view: Dataset | None
               ) -> tuple[list[_Plan], dict[int, DataElement]]:
        """Decide every element of one data set, as engine.Deidentifier._clean does."""
        rules, result, buf = self.rules, walk.result, walk.parser.buf
        plan: list[_Plan] = []
        decoded: dict[int, DataElement] = {}
        shifted: set[int] = set()
        creators = 0
        siblings = {el.tag: el for el in elements}
        if view is None and _CHARSET in siblings:
            raise Unsupported("character set inside a sequence item")
        for el in elements:
            tag = el.tag
            element = tag & 0xFFFF
            if tag >> 16 & 1:
                if 0x10 <= element <= 0xFF:
                    creators += 1  # removed below: the bytes path keeps no private element
                elif element > 0xFF and (tag >> 16, element & 0xFF) in self._safe_private:
                    raise Unsupported("private element on the safe list")
                else:
                    result.removed_private += 1
                continue
            op = rules.get(tag)
            if op is None or element == 0:
                name = self._unlisted.get(tag)
                if name is None:
                    name = self._unlisted[tag] = keyword_for_tag(tag) or str(BaseTag(tag))
                result.removed_unlisted[name] += 1
            elif op is Op.KEEP:
                if el.vr == "SQ":  # items would be copied uncleaned: let the engine decide
                    raise Unsupported("sequence VR on an attribute kept as a value")
                plan.append((tag, el))
            elif op is Op.REMOVE:
                result.removed_by_profile += 1
            elif op is Op.EMPTY or op is Op.DUMMY or op is Op.PSEUDONYM:
                vr = el.vr or vr_of(tag)
                if op is Op.EMPTY:
                    plan.append((tag, _element(tag, vr, b"", walk.implicit)))
                elif op is Op.PSEUDONYM:
                    if vr not in _STRING_VRS:
                        raise Unsupported("pseudonym for an element that is not text")
                    plan.append((tag, _element(tag, vr, result.pseudonym.encode("ascii"),
                                               walk.implicit)))
                elif vr in self._dummies:
                    if el.vr is None and " or " in dictionary_VR(tag):
                        raise Unsupported("dummy for an ambiguous implicit VR")
                    plan.append((tag, _element(tag, vr, self._dummies[vr], walk.implicit)))
                else:
                    result.removed_by_profile += 1
            elif op is Op.CLEAN_ITEMS:
                if not (el.vr == "SQ" or (el.vr is None and _is_sequence(tag))):
                    raise Unsupported("sequence action on an element that is not a sequence")
                items = []
                for item in walk.parser.sequence_items(el):
                    sub_plan, sub_decoded = self._clean(item.elements, walk, None)
                    sub_parts: list[bytes | memoryview] = []
                    self._emit(sub_plan, sub_decoded, walk, sub_parts)
                    items.append((item.undefined, sub_parts))
                plan.append((tag, _sequence(tag, el.length == _UNDEFINED, items,
                                            walk.implicit)))
            else:
                elem = decoded.get(tag) or self._decode(buf, el, walk, view)
                decoded[tag] = elem
                plan.append((tag, elem))
                self._apply(elem, op, walk, siblings, decoded, shifted, view)
        result.removed_private += creators
        return plan, decoded

    def _decode(self, buf: bytes, el: _El, walk: _Walk, view: Dataset | None) -> DataElement:
        if view is not None and BaseTag(el.tag) in view._dict:
            return view[el.tag]
        return _decode(buf, el, walk.implicit, walk.encodings)

    def _apply(self, elem: DataElement, op: Op, walk: _Walk, siblings: dict[int, _El],
               decoded: dict[int, DataElement], shifted: set[int], view: Dataset | None
               ) -> None:
        vr = elem.VR
        if op is Op.UID:
            if vr != "UI":
                raise Unsupported("UID action on an element that is not a UID")
            elem.value = eng._map_values(elem.value, self.engine.remap)
        elif op is Op.SHIFT_DATE or op is Op.SHIFT_TIME:
            if vr not in ("DA", "DT", "TM"):
                raise Unsupported("date action on an element that is not a date or time")
            if op is Op.SHIFT_DATE or int(elem.tag) not in shifted:
                self._shift(elem, walk, siblings, decoded, shifted, view)
        elif op is Op.CLEAN_TEXT:
            if vr not in _STRING_VRS and vr not in _PLAIN:
                raise Unsupported("text action on an element that is not text")
            scrubber = walk.scrubber or TextScrubber(())
            elem.value = eng._map_values(elem.value, lambda v: scrubber.clean(eng._text(v)))
        else:  # pragma: no cover - every Op is handled by the caller or above
            raise Unsupported(f"operation {op!r}")

    def _shift(self, elem: DataElement, walk: _Walk, siblings: dict[int, _El],
               decoded: dict[int, DataElement], shifted: set[int], view: Dataset | None
               ) -> None:
        keyword = elem.keyword or ""
        pair = keyword[:-4] + "Time" if keyword.endswith("Date") and elem.VR == "DA" else ""
        pair_tag = tag_for_keyword(pair) if pair else None
        paired = None
        if pair_tag is not None and pair_tag in siblings:
            if pair_tag < int(elem.tag):  # the engine may have replaced it already
                raise Unsupported("time element before its date")
            paired = decoded.get(pair_tag)
            if paired is None:
                paired = decoded[pair_tag] = self._decode(walk.parser.buf, siblings[pair_tag],
                                                          walk, view)
        if paired is not None and paired.VR == "TM" and not isinstance(
                elem.value, MultiValue) and not isinstance(paired.value, MultiValue):
            moved = eng.shift_date_time(eng._text(elem.value), eng._text(paired.value),
                                        walk.shift)
            if moved is not None:
                elem.value, paired.value = moved
                shifted.add(int(paired.tag))
                return
        bad = False

        def shift(value: Any) -> str:
            nonlocal bad
            new = eng.shift_temporal(eng._text(value), elem.VR, walk.shift)
            if new is None:
                bad = True
                return ""
            return new

        elem.value = eng._map_values(elem.value, shift)
        if bad:
            walk.result.findings.append(
                f"{keyword or elem.tag}: a date or time could not be read and was emptied")

    def _stamp(self, plan: list[_Plan], walk: _Walk, by_tag: dict[int, _El]) -> list[_Plan]:
        stamps: list[_Plan] = list(self._stamp_elements(walk.implicit, walk.encodings))
        pseudonym = walk.result.pseudonym.encode("ascii")
        for tag, vr in ((_PATIENT_NAME, "PN"), (_PATIENT_ID, "LO")):
            if tag not in by_tag:
                stamps.append((tag, _element(tag, vr, pseudonym, walk.implicit)))
        replaced = {tag for tag, _ in stamps}
        merged = [entry for entry in plan if entry[0] not in replaced] + stamps
        merged.sort(key=lambda entry: entry[0])
        return merged

    def _stamp_elements(self, implicit: bool, encodings: list[str]) -> list[_Plan]:
        """The engine's own stamp (minus the pseudonyms), encoded once by pydicom."""
        key = (implicit, tuple(encodings))
        cached = self._stamps.get(key)
        if cached is None:
            ds = Dataset()
            self.engine._stamp(ds, FileDeidentification("P-", 0))
            cached = []
            for tag in _STAMPED:
                fp = DicomBytesIO()
                fp.is_little_endian, fp.is_implicit_VR = True, implicit
                write_data_element(fp, ds[tag], encodings)
                cached.append((tag, fp.getvalue()))
            self._stamps[key] = cached
        return cached

    def _emit(self, plan: list[_Plan], decoded: dict[int, DataElement], walk: _Walk,
              parts: list[bytes | memoryview]) -> None:
        """Encode a planned data set: runs of kept elements become one slice each."""
        view = walk.parser.view
        run_start = run_end = -1
        for tag, entry in plan:
            if isinstance(entry, _El) and tag not in decoded:
                if entry.start == run_end:
                    run_end = entry.end
                    continue
                if run_end > run_start:
                    parts.append(view[run_start:run_end])
                run_start, run_end = entry.start, entry.end
                continue
            if run_end > run_start:
                parts.append(view[run_start:run_end])
                run_start = run_end = -1
            if isinstance(entry, _El):
                entry = decoded[tag]
            if isinstance(entry, DataElement):
                parts.append(_encode(entry, walk.implicit, walk.encodings))
            elif isinstance(entry, list):
                parts.extend(entry)
            else:
                parts.append(entry)
        if run_end > run_start:
            parts.append(view[run_start:run_end])


def _single(value: Any) -> str:
    if isinstance(value, MultiValue | list | tuple):
        raise Unsupported("multi-valued identifying UID")
    return str(value if value is not None else "").strip()


def _file_meta(buf: bytes) -> tuple[str, int]:
    """The transfer syntax and where the data set starts (after the group 0002 elements)."""
    pos, end = 132, len(buf)
    transfer_syntax = None
    while pos + 8 <= end:
        group, element = struct.unpack_from("<HH", buf, pos)
        if group != 2:
            break
        vr = _VRS.get(buf[pos + 4:pos + 6])
        if vr is None:
            raise Unsupported("file meta not in explicit VR")
        if vr in _LONG:
            length, value = _UL.unpack_from(buf, pos + 8)[0], pos + 12
        else:
            length, value = struct.unpack_from("<H", buf, pos + 6)[0], pos + 8
        if length == _UNDEFINED or value + length > end:
            raise Unsupported("bad file meta element")
        if element == 0x0010:
            transfer_syntax = bytes(buf[value:value + length]).decode("ascii").rstrip("\0 ")
        pos = value + length
    if not transfer_syntax:
        raise Unsupported("no transfer syntax in the file meta")
    return transfer_syntax, pos


def _encoding(transfer_syntax: str) -> tuple[bool, bool]:
    """(implicit VR, encapsulated pixel data) for the transfer syntaxes the bytes path reads."""
    if transfer_syntax == IMPLICIT_LE:
        return True, False
    if transfer_syntax == EXPLICIT_LE:
        return False, False
    try:
        uid = UID(transfer_syntax)
        ok = (uid.is_transfer_syntax and uid.is_little_endian and not uid.is_implicit_VR
              and not uid.is_deflated and uid.is_encapsulated)
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise Unsupported("transfer syntax not read by the bytes path")
    return False, True


def _raw(buf: bytes, el: _El, implicit: bool) -> RawDataElement:
    return RawDataElement(BaseTag(el.tag), el.vr, el.length, bytes(buf[el.value:el.end]),
                          el.value, implicit, True)


def _decode(buf: bytes, el: _El, implicit: bool, encodings: Any) -> DataElement:
    if el.length == _UNDEFINED:
        raise Unsupported("undefined length where a value is needed")
    return convert_raw_data_element(_raw(buf, el, implicit), encoding=encodings)


def _view(buf: bytes, by_tag: dict[int, _El], implicit: bool, transfer_syntax: str) -> Dataset:
    """A pydicom data set of the checked top-level elements only, still raw (converted lazily,
    exactly as the pydicom path converts them)."""
    raws: dict[BaseTag, RawDataElement] = {}
    for tag in _CHECKED:
        el = by_tag.get(tag)
        if el is None:
            continue
        if tag >> 16 == 0x7FE0 or tag == 0x00420011:  # pixels: only presence and length
            raws[BaseTag(tag)] = RawDataElement(
                BaseTag(tag), el.vr, el.length,
                memoryview(buf)[el.value:el.end],  # type: ignore[arg-type]
                el.value, implicit, True)
        else:
            if el.length == _UNDEFINED:
                raise Unsupported("undefined length on a checked element")
            raws[BaseTag(tag)] = _raw(buf, el, implicit)
    return _dataset(raws, implicit, transfer_syntax)


def _dataset(raws: dict[BaseTag, RawDataElement], implicit: bool,
             transfer_syntax: str) -> Dataset:
    view = Dataset(raws)  # type: ignore[arg-type]
    view.set_original_encoding(implicit, True, None)
    view.file_meta = FileMetaDataset()
    view.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    return view


def written_view(data: bytes) -> Dataset | None:
    """The top-level elements (sequences left out) of a written file in explicit or implicit VR
    little endian, still raw as ``dcmread`` leaves them (converted on access, the same way);
    None for any other file. Cheaper than ``dcmread``, which parses every element and
    sequence."""
    try:
        if len(data) < 144 or data[128:132] != b"DICM":
            return None
        transfer_syntax, start = _file_meta(data)
        implicit, encapsulated = _encoding(transfer_syntax)
        if encapsulated:
            return None
        elements, _ = _Parser(data, implicit, False).elements(start, len(data), False)
    except Unsupported:
        return None
    return _dataset({BaseTag(el.tag): _raw(data, el, implicit) for el in elements
                     if el.items is None and el.vr != "SQ"
                     and not (el.vr is None and _is_sequence(el.tag))},
                    implicit, transfer_syntax)


def _element(tag: int, vr: str, value: bytes, implicit: bool) -> bytes:
    if implicit:
        return _TAG_LENGTH.pack(tag >> 16, tag & 0xFFFF, len(value)) + value
    if vr in _LONG:
        return _EXPLICIT_LONG.pack(tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(value)) + value
    if len(value) > 0xFFFF:
        raise Unsupported("value too long for its VR")
    return _EXPLICIT_SHORT.pack(tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def _sequence(tag: int, undefined: bool,
              items: Iterable[tuple[bool, list[bytes | memoryview]]], implicit: bool
              ) -> list[bytes | memoryview]:
    body: list[bytes | memoryview] = []
    for item_undefined, parts in items:
        size = sum(len(p) for p in parts)
        body.append(_TAG_LENGTH.pack(0xFFFE, 0xE000, _UNDEFINED if item_undefined else size))
        body.extend(parts)
        if item_undefined:
            body.append(_TAG_LENGTH.pack(0xFFFE, 0xE00D, 0))
    if undefined:
        body.append(_TAG_LENGTH.pack(0xFFFE, 0xE0DD, 0))
    length = _UNDEFINED if undefined else sum(len(p) for p in body)
    if implicit:
        head = _TAG_LENGTH.pack(tag >> 16, tag & 0xFFFF, length)
    else:
        head = _EXPLICIT_LONG.pack(tag >> 16, tag & 0xFFFF, b"SQ", 0, length)
    return [head, *body]


def _strings_of(value: Any) -> list[str] | None:
    """The values of a text element as plain strings, or None if any is not one."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, MultiValue | list | tuple) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return None


def _encode(elem: DataElement, implicit: bool, encodings: list[str]) -> bytes:
    """One changed element, encoded exactly as pydicom's writer encodes it."""
    vr, value, tag = elem.VR, elem.value, int(elem.tag)
    if value is None or (isinstance(value, str) and not value):
        return _element(tag, vr, b"", implicit)
    strings = _strings_of(value) if vr in _PLAIN or vr in _TEXT else None
    if strings is not None:
        if vr in _PLAIN:
            data = "\\".join(strings).encode("latin-1")
        else:
            data = b"\\".join(encode_string(s, encodings) for s in strings)
        if len(data) % 2:
            data += b"\0" if vr == "UI" else b" "
        return _element(tag, vr, data, implicit)
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


def _value_bytes(vr: str, value: Any) -> bytes:
    """The encoded value (no tag, VR or length) pydicom writes for ``value`` with ``vr``."""
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_data_element(fp, DataElement(0x00100010, vr, value), ["iso8859"])
    return fp.getvalue()[8:]


def _meta_bytes(sop_class: str, sop_instance: str, transfer_syntax: str) -> bytes:
    """The file meta group engine.new_file_meta builds, as pydicom writes it."""
    body = b"".join((
        _EXPLICIT_LONG.pack(2, 0x0001, b"OB", 0, 2) + b"\0\1",
        _meta_uid(0x0002, sop_class), _meta_uid(0x0003, sop_instance),
        _meta_uid(0x0010, transfer_syntax), _meta_uid(0x0012, IMPLEMENTATION_CLASS_UID),
        _element(0x00020013, "SH", _pad(IMPLEMENTATION_VERSION.encode("ascii"), b" "), False),
    ))
    return _EXPLICIT_SHORT.pack(2, 0, b"UL", 4) + _UL.pack(len(body)) + body


def _meta_uid(element: int, uid: str) -> bytes:
    return _element(0x00020000 | element, "UI", _pad(uid.encode("ascii"), b"\0"), False)


def _pad(data: bytes, padding: bytes) -> bytes:
    return data + padding if len(data) % 2 else data


def read_source_bytes(opened: Any, reader: Callable[[str], bytes] | None = None) -> bytes:
    """The whole input: a path's bytes (bounded) or an in-memory stream's contents."""
    if isinstance(opened, str):
        with open(opened, "rb") as handle:
            return handle.read(MAX_BYTES + 1)
    getvalue = getattr(opened, "getvalue", None)
    if getvalue is None:
        raise Unsupported("stream without getvalue")
    data = getvalue()
    if not isinstance(data, bytes):
        raise Unsupported("stream is not bytes")
    return data
