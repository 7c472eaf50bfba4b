"""The `tre` command line: a thin adapter over the services."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """The `tre` console script. The commands are imported when it runs, not when the script
    is imported: the worker processes ingestion spawns import the script again, and the
    whole command line would cost each of them seconds of imports."""
    from tre.cli.app import main as run

    run(argv)
