"""State machines as data: a transition table and the one function that applies it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from tre.errors import InvalidStateTransition

S = TypeVar("S", bound=StrEnum)


def check_transition(kind: str, table: Mapping[S, frozenset[S]], current: S, requested: S) -> S:
    """Return ``requested`` if the table allows ``current -> requested``, else raise."""
    if requested not in table.get(current, frozenset()):
        raise InvalidStateTransition(kind, current.value, requested.value)
    return requested


def can_transition(table: Mapping[S, frozenset[S]], current: S, requested: S) -> bool:
    """Whether the table allows ``current -> requested``."""
    return requested in table.get(current, frozenset())
