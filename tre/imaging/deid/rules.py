"""Compile the profile (actions + options + keep-list) into one tag -> operation table."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from pydicom.datadict import dictionary_VR, tag_for_keyword

from tre.errors import TREError
from tre.imaging.deid import profile
from tre.imaging.deid.profile import Action, Option


class ProfileError(TREError):
    """The de-identification profile names an action or attribute tre does not know."""


class Op(IntEnum):
    """What the engine does to one element (the concrete meaning of an action for its VR)."""

    KEEP = 0
    REMOVE = 1
    EMPTY = 2
    DUMMY = 3
    UID = 4
    SHIFT_DATE = 5
    CLEAN_TEXT = 6
    CLEAN_ITEMS = 7
    PSEUDONYM = 8
    SHIFT_TIME = 9


TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN", "CS"})
DATE_VRS = frozenset({"DA", "DT"})
TIME_VRS = frozenset({"TM"})
PSEUDONYMISED = frozenset({"PatientName", "PatientID"})


def vr_of(tag: int) -> str:
    """The dictionary VR of a tag (the first when the standard allows several)."""
    return dictionary_VR(tag).split(" or ")[0]


def op_for(action: Action | str, vr: str, where: str) -> Op:
    """The operation an action means for an element of ``vr``; an unknown action raises."""
    try:
        action = Action(action)
    except ValueError:
        raise ProfileError(f"unknown action {action!r} for {where}: use one of "
                           f"{', '.join(a.value for a in Action)}") from None
    is_sequence = vr == "SQ"
    if action is Action.X:
        return Op.REMOVE
    if action is Action.K:
        return Op.CLEAN_ITEMS if is_sequence else Op.KEEP
    if action in (Action.Z, Action.Z_D, Action.X_Z, Action.X_Z_D):
        # Z/D and X/Z/D: the zero-length choice is always conformant for tre's outputs.
        return Op.EMPTY
    if action in (Action.D, Action.X_D):
        if is_sequence:
            return Op.CLEAN_ITEMS
        return Op.UID if vr == "UI" else Op.DUMMY
    if action is Action.U:
        return Op.CLEAN_ITEMS if is_sequence else Op.UID
    if action is Action.X_Z_U:
        if is_sequence:
            return Op.CLEAN_ITEMS
        return Op.UID if vr == "UI" else Op.EMPTY
    # Action.C, the only one left
    if is_sequence:
        return Op.CLEAN_ITEMS
    if vr in DATE_VRS:
        return Op.SHIFT_DATE
    if vr in TIME_VRS:
        return Op.SHIFT_TIME
    if vr in TEXT_VRS:
        return Op.CLEAN_TEXT
    raise ProfileError(f"action C is not defined for {where} with VR {vr}: give it another "
                       "action in tre/imaging/deid/profile.py")


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ProfileError(f"unknown attribute keyword {keyword!r} in the profile: "
                           "use the keyword of the DICOM data dictionary")
    return tag


def overrides(options: Iterable[Option]) -> dict[str, Action]:
    """The option columns in force, keyword -> action (later options win on overlap)."""
    chosen = set(options)
    result: dict[str, Action] = {}
    if Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in chosen:
        result.update(dict.fromkeys(profile.MODIFIED_DATES, Action.C))
    if Option.RETAIN_PATIENT_CHARACTERISTICS in chosen:
        result.update(profile.RETAIN_PATIENT_CHARACTERISTICS)
    if Option.CLEAN_DESCRIPTORS in chosen:
        result.update(dict.fromkeys(profile.CLEAN_DESCRIPTORS, Action.C))
    if Option.CLEAN_STRUCTURED_CONTENT in chosen:
        result.update(profile.CLEAN_STRUCTURED_CONTENT)
    return result


def compile_rules(options: Iterable[Option]) -> dict[int, Op]:
    """tag -> operation for every attribute tre acts on; a tag not in it is removed."""
    table: dict[int, Op] = {}
    for keyword in profile.KEEP:
        tag = _tag(keyword)
        table[tag] = Op.CLEAN_ITEMS if vr_of(tag) == "SQ" else Op.KEEP
    extra = overrides(options)
    for tag, keyword, action in profile.BASIC:
        table[tag] = op_for(extra.pop(keyword, action), vr_of(tag), keyword)
    for keyword, action in extra.items():  # option rows for attributes outside the Basic column
        tag = _tag(keyword)
        table[tag] = op_for(action, vr_of(tag), keyword)
    for keyword in PSEUDONYMISED:
        table[_tag(keyword)] = Op.PSEUDONYM
    return table
