"""`tre audit ...`: verify and export the tamper-evident audit trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from tre.audit.chain import AuditEvent
from tre.audit.checkpoints import PUBLIC_KEY, load_public_key
from tre.audit.verify import verify as verify_trail
from tre.cli.common import JsonFlag, console, parse_moment, print_json
from tre.db.database import Database
from tre.db.schema import AuditEventRow
from tre.errors import AuditIntegrityError, InvalidInput
from tre.services.bootstrap import load_settings

app = typer.Typer(help="Verify and export the audit trail.", no_args_is_help=True)


def _database() -> tuple[Database, Path, Path]:
    settings = load_settings()
    db = Database(settings.url, busy_timeout_s=settings.db_busy_timeout_s)
    db.check_ready()
    return db, settings.audit_dir, settings.keys_dir / PUBLIC_KEY


@app.command()
def verify(
    public_key: Annotated[Path | None, typer.Option(
        help="The node's audit public key (default: $TRE_HOME/keys). Keep your own copy.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Prove the audit trail intact: no event modified, removed, inserted, reordered or cut."""
    db, audit_dir, default_key = _database()
    try:
        report = verify_trail(db, audit_dir, load_public_key(public_key or default_key))
    finally:
        db.dispose()
    if json_out:
        print_json(report.as_json())
    elif report.ok:
        console.print(f"[green]audit trail intact[/]: {report.events} events, "
                      f"{report.checkpoints_checked} signed checkpoints, head {report.last_seq} "
                      f"{report.last_hash[:16]}..., {report.unanchored} not yet signed")
    if not report.ok:
        if not json_out:
            for problem in report.problems:
                console.print(f"[red]TAMPERED[/]: {problem}")
        raise AuditIntegrityError(f"the audit trail does not verify ({len(report.problems)} "
                                  "problem(s)): investigate before trusting it")


@app.command()
def export(
    since: Annotated[str | None, typer.Option(
        help="Only events after this sequence number, or from this time (ISO / YYYY-MM-DD).")]
        = None,
    output: Annotated[Path | None, typer.Option(help="Write to this file (default stdout).")]
        = None,
) -> None:
    """Export audit events as JSON lines (with their hashes, so a copy can be re-verified)."""
    query = select(AuditEventRow).order_by(AuditEventRow.seq)
    if since is not None:
        if since.isdigit():
            query = query.where(AuditEventRow.seq > int(since))
        else:
            moment = parse_moment(since)
            query = query.where(AuditEventRow.time >= moment.isoformat(timespec="microseconds"))
    if output is not None and output.exists():
        raise InvalidInput(f"{output} exists already: choose a new file name")
    db, _, _ = _database()
    out = open(output, "x") if output is not None else sys.stdout  # noqa: SIM115
    try:
        with db.read_engine.connect() as conn:
            for row in conn.execution_options(yield_per=10_000).execute(query):
                event = AuditEvent(**{c: getattr(row, c) for c in AuditEvent.__slots__})
                out.write(json.dumps(event.as_json(), sort_keys=True) + "\n")
    finally:
        db.dispose()
        if out is not sys.stdout:
            out.close()
