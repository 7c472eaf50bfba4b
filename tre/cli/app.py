"""The `tre` command: sub-commands, and the one place errors become messages and exit codes."""

from __future__ import annotations

import sys

import typer

from tre.cli import (
    airlock,
    audit,
    datasets,
    permits,
    policy,
    run,
    sandboxes,
    synth,
    up,
    users,
    workspaces,
)
from tre.cli.common import err_console
from tre.errors import TREError
from tre.services.bootstrap import initialise, load_settings

app = typer.Typer(
    name="tre",
    help="tre: a trusted research environment for cancer imaging.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(permits.app, name="permits")
app.add_typer(users.app, name="users")
app.add_typer(datasets.app, name="datasets")
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")
app.add_typer(airlock.app, name="airlock")
app.add_typer(sandboxes.app, name="sandboxes")
app.add_typer(workspaces.app, name="workspaces")
app.command("up")(up.up)
app.command("synth")(synth.synth)
app.command("run", context_settings={"allow_interspersed_args": False})(run.run)


@app.command()
def init() -> None:
    """Create $TRE_HOME: database schema, audit signing keys (safe to run again)."""
    settings = load_settings()
    db = initialise(settings)
    db.dispose()
    typer.echo(f"tre initialised at {settings.home} (database {db.display_url})")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a TREError prints one clear line on stderr and exits with its code."""
    try:
        app(args=argv, prog_name="tre")
    except TREError as exc:
        err_console.print(f"[bold red]error[/]: {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
