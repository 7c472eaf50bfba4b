"""Decisions the embedded engine answers from their ``allow`` rule alone, and their documents."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from math import isfinite
from typing import Any

from tre.policy.bundle import PolicyFile

HeldPermits = Mapping[str, Mapping[str, Any]]
"""``data.permits`` as the engine holds it: project -> permit document (with its revision)."""


@dataclass(frozen=True, slots=True)
class AllowPath:
    """How to answer a decision when its ``allow`` rule holds, without evaluating ``decision``.

    ``reasons`` builds the reasons of the allowed ``decision`` document in Python, mirroring
    the Rego in ``mirrored`` (the ``decision`` definition that gives that document, and the
    rules it reads beyond the input); it is used only while the package holds exactly that
    Rego (:func:`mirrors`), and returns None whenever it cannot be sure. ``encode`` writes the
    input as JSON faster than ``json`` for the shape the service sends, or returns None.
    """

    mirrored: tuple[str, ...]
    encode: Callable[[Mapping[str, Any]], str | None]
    reasons: Callable[[Mapping[str, Any], HeldPermits], tuple[str, ...] | None]


def _words(text: str) -> str:
    return " ".join(text.split())


def mirrors(path: AllowPath, package: str, bundle: Iterable[PolicyFile]) -> bool:
    """Whether ``package``'s modules in ``bundle`` hold all of ``path.mirrored`` (spacing aside)."""
    declaration = re.compile(rf"^package {re.escape(package.replace('/', '.'))}\s*$", re.MULTILINE)
    text = " ".join(_words(policy.text) for policy in bundle if declaration.search(policy.text))
    return all(_words(rego) in text for rego in path.mirrored)


def _one_reason_when_allowed(reason: str, arguments: str) -> str:
    """The Rego of an allowed ``decision`` whose one reason is ``sprintf(reason, [arguments])``."""
    return f"""
decision := {{"allow": true, "reasons": [reason]}} if {{
	allow
	reason := sprintf(
		"{reason}",
		[{arguments}],
	)
}}
"""


_ACCESS_REASON = "permit %s grants %s %s@%s in project %s"

_ACCESS_MIRRORED = (
    _one_reason_when_allowed(
        _ACCESS_REASON, "_judged.id, input.user, input.dataset, input.version, input.project"),
    "_revision := input.permit_revision if is_string(input.permit_revision)",
    "_judged := input.permit if not _revision",
    """
_judged := p if {
	p := data.permits[input.project]
	p.revision == _revision
}
""",
)

_ACCESS_QUERY = ('{"user":%s,"project":%s,"dataset":%s,"version":%s,"now":%s,'
                 '"permit_revision":%s}')


def access_query_json(input: Mapping[str, Any]) -> str | None:
    """JSON of a :func:`tre.policy.inputs.data_access_query` naming a revision, else None."""
    if type(input) is not dict or len(input) != 6:
        return None
    now = input.get("now")
    if type(now) is not float or not isfinite(now):
        return None
    try:  # encode_basestring_ascii refuses anything but a string (TypeError)
        return _ACCESS_QUERY % (
            encode_basestring_ascii(input["user"]), encode_basestring_ascii(input["project"]),
            encode_basestring_ascii(input["dataset"]), encode_basestring_ascii(input["version"]),
            float.__repr__(now), encode_basestring_ascii(input["permit_revision"]))
    except (KeyError, TypeError):
        return None


def access_granted_reasons(input: Mapping[str, Any], held: HeldPermits) -> tuple[str, ...] | None:
    """The reasons of an allowed ``data_access`` (``_ACCESS_MIRRORED``), or None if unsure.

    The permit judged is the one ``_judged`` picks: the held copy of the input's project at the
    revision the input names (a string), else the input's own permit.
    """
    project = input.get("project")
    revision = input.get("permit_revision")
    if isinstance(revision, str):
        permit = held.get(project) if isinstance(project, str) else None
        if permit is None or permit.get("revision") != revision:
            return None
    else:
        permit = input.get("permit")
        if not isinstance(permit, Mapping):
            return None
    permit_id, user = permit.get("id"), input.get("user")
    dataset, version = input.get("dataset"), input.get("version")
    if not (isinstance(permit_id, str) and isinstance(user, str) and isinstance(dataset, str)
            and isinstance(version, str) and isinstance(project, str)):
        return None
    # sprintf's %s of a string is the string, as Python's
    return (_ACCESS_REASON % (permit_id, user, dataset, version, project),)


def _no_encoder(input: Mapping[str, Any]) -> None:
    """No faster encoding than ``json`` for this input: the engine's own is used."""


def _input_reason(reason: str, *fields: tuple[str, str]) -> AllowPath:
    """The allow path of a decision whose one reason is ``reason`` filled with input fields.

    Each field ``(section, key)`` is ``input.section.key`` in the mirrored Rego, in order; the
    reason is built only when every one of them is a string (else None: the engine decides).
    """
    arguments = ", ".join(f"input.{section}.{key}" for section, key in fields)

    def reasons(input: Mapping[str, Any], _held: HeldPermits) -> tuple[str, ...] | None:
        found = []
        for section, key in fields:
            part = input.get(section)
            value = part.get(key) if isinstance(part, Mapping) else None
            if not isinstance(value, str):
                return None
            found.append(value)
        return (reason % tuple(found),)

    return AllowPath((_one_reason_when_allowed(reason, arguments),), _no_encoder, reasons)


ALLOW_PATHS: dict[str, AllowPath] = {
    "tre/data/access": AllowPath(_ACCESS_MIRRORED, access_query_json, access_granted_reasons),
    "tre/applications/submit": _input_reason(
        "%s may submit application %s as its applicant", ("actor", "name"), ("application", "id")),
    "tre/applications/decide": _input_reason(
        "hdab officer %s may %s application %s",
        ("actor", "name"), ("decision", "outcome"), ("application", "id")),
}
"""Package path -> its allow path: data_access is asked on every data read, submit and decide
on every application (the workflow benchmark's two decisions)."""
