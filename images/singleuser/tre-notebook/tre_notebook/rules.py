"""Which contents-API answers may reach the browser: notebooks, folders and small text only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BLOCKED_MESSAGE = (
    "downloads are blocked in this workspace: put the file in /outputs and submit it to the "
    "airlock (tre-airlock submit FILE, or the hub's Airlock page); nothing leaves unreviewed")
"""What every refused request answers (the 403 body)."""


def may_read(model: Mapping[str, Any], *, requested_format: str | None,
             max_text_bytes: int) -> bool:
    """Whether to read a file for the browser at all, judged from its model without content.

    Folders and notebooks may be read; any other file only as text (never base64) and only when
    its size is known and at most ``max_text_bytes``: a big file is refused before it is read.
    """
    if model.get("type") in ("directory", "notebook"):
        return True
    if requested_format == "base64":
        return False
    size = model.get("size")
    return isinstance(size, int) and 0 <= size <= max_text_bytes


def carries_file_bytes(model: Mapping[str, Any], *, max_text_bytes: int) -> bool:
    """Whether a model about to be sent holds a file's bytes the browser may not have.

    True for a file (not a notebook or folder) with content that is base64, or text longer than
    ``max_text_bytes`` once encoded; a model without content never is.
    """
    if model.get("type") != "file" or model.get("content") is None:
        return False
    content = model["content"]
    if model.get("format") != "text" or not isinstance(content, str):
        return True
    return len(content.encode("utf-8", "surrogatepass")) > max_text_bytes
