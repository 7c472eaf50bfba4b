"""What every check may look at besides the file: limits, the project's identifiers, history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd  # type: ignore[import-untyped]  # no stubs installed

from tre.domain.egress import Finding


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what the checks read, so no file can make them run out of time or memory."""

    max_archive_depth: int = 3
    """Archives inside archives deeper than this are blocked."""
    max_unpacked_bytes: int = 512 * 1024 * 1024
    """Total bytes unpacked from one submitted file's archives (zip-bomb bound)."""
    max_members: int = 10_000
    """Members of all archives of one submitted file."""
    max_ratio: int = 200
    """Largest compression ratio of an archive member before it is treated as a bomb."""
    max_image_pixels: int = 64 * 1024 * 1024
    """Images with more pixels are not decoded (blocked: too big to review)."""


@dataclass(frozen=True, slots=True)
class TableRules:
    """Statistical disclosure control parameters (the defaults are acro's)."""

    threshold: int = 10
    """Counts below this (and above zero) are disclosive."""
    nk_n: int = 2
    nk_k: float = 0.9
    """N-K dominance: the largest ``nk_n`` contributors must hold less than ``nk_k`` of a cell."""
    p_ratio: float = 0.10
    """p% rule: the rest of a cell must be at least this share of its largest contributor."""
    zeros_are_disclosive: bool = True


@dataclass(frozen=True, slots=True)
class IdentifierSet:
    """Values that identify the project's data subjects: pseudonyms and DICOM UIDs."""

    pseudonyms: frozenset[bytes]
    uids: frozenset[bytes]
    problems: tuple[str, ...] = ()
    """Dataset versions whose identifiers could not be read (checks then warn on every file)."""


MembershipInferenceHook = Callable[[str, bytes], Sequence[Finding]]
"""Called with (file name, bytes) for model weights; returns findings. See docs/airlock.md."""


@dataclass(frozen=True)
class CheckContext:
    """Everything a check reads besides the file; built once per request."""

    identifiers: IdentifierSet
    limits: Limits = field(default_factory=Limits)
    rules: TableRules = field(default_factory=TableRules)
    earlier_tables: tuple[tuple[str, pd.DataFrame], ...] = ()
    """Tables the project already released: (release/file, table), for differencing."""
    membership_inference: MembershipInferenceHook | None = None
