"""File names a request may carry: relative, plain, NFC, one script, no control or bidi tricks."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

from tre.errors import InvalidInput

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_DEPTH = 16


def _script(ch: str) -> str | None:
    """The script of a letter, from its Unicode name (``LATIN``, ``CYRILLIC``...); None else."""
    if not ch.isalpha():
        return None
    try:
        return unicodedata.name(ch).split(" ", 1)[0]
    except ValueError:
        return "UNNAMED"


def check_component(part: str, whole: str) -> None:
    """Refuse one path component that could hide what it is."""
    if part in ("", ".", ".."):
        raise InvalidInput(f"file name {whole!r} has an empty, '.' or '..' part: give a plain "
                           "path inside your outputs folder")
    if len(part.encode()) > MAX_COMPONENT_BYTES:
        raise InvalidInput(f"file name {whole!r} has a part over {MAX_COMPONENT_BYTES} bytes")
    for ch in part:
        # Cc control, Cf format (bidi overrides, zero-width joiners), Co/Cn/Cs: never in a name.
        if unicodedata.category(ch).startswith("C"):
            raise InvalidInput(f"file name {whole!r} contains the invisible or control character "
                               f"U+{ord(ch):04X}: rename the file using visible characters")
    if unicodedata.normalize("NFKC", part) != part:
        raise InvalidInput(f"file name {whole!r} uses compatibility look-alike characters "
                           "(full-width letters, ligatures...): rename it with plain characters")
    scripts = {s for s in map(_script, part) if s is not None}
    if len(scripts) > 1:
        raise InvalidInput(f"file name {whole!r} mixes scripts ({', '.join(sorted(scripts))}), "
                           "a look-alike trick: rename it with letters of one script")
    suffix = PurePosixPath(part).suffix
    if not suffix.isascii():
        raise InvalidInput(f"file name {whole!r} has a non-ASCII extension: rename it")


def check_name(name: str) -> str:
    """``name`` normalised to NFC as a relative POSIX path, or InvalidInput saying why not."""
    if "\\" in name or "\0" in name:
        raise InvalidInput(f"file name {name!r} contains a backslash or NUL: rename it")
    normal = unicodedata.normalize("NFC", name)
    if normal.startswith("/"):
        raise InvalidInput(f"file name {name!r} is absolute: give it relative to your outputs "
                           "folder")
    if len(normal.encode()) > MAX_PATH_BYTES:
        raise InvalidInput(f"file name {name!r} is over {MAX_PATH_BYTES} bytes")
    parts = normal.split("/")
    if len(parts) > MAX_DEPTH:
        raise InvalidInput(f"file name {name!r} is nested deeper than {MAX_DEPTH} folders")
    for part in parts:
        check_component(part, name)
    return normal
