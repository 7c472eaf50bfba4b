"""Shared CLI pieces: options, opening the node, parsing dates, printing JSON and tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tre.errors import InvalidInput
from tre.services.bootstrap import load_settings, open_node
from tre.services.node import Node

console = Console()
err_console = Console(stderr=True)

AsUser = Annotated[str, typer.Option("--as", help="The user you act as.", show_default=False)]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def node() -> Iterator[Node]:
    """The node of $TRE_HOME / TRE_DATABASE_URL, closed afterwards."""
    opened = open_node(load_settings())
    try:
        yield opened
    finally:
        opened.close()


def parse_moment(text: str, *, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` (UTC; the end of that day if ``end_of_day``) or an ISO time with zone."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end_of_day else day
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"cannot read the date {text!r}: write YYYY-MM-DD or 2027-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"the time {text!r} has no time zone: add Z or +01:00")
    return moment.astimezone(UTC)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a rich table, or a line saying there is nothing."""
    if not rows:
        console.print(f"no {title.lower()}")
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    console.print(table)


def when(moment: datetime | None) -> str:
    """A compact UTC time for tables."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
