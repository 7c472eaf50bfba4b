"""`tre policy ...`: evaluate a decision on an input, and run the Rego tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from tre.cli.common import print_json
from tre.errors import InvalidInput
from tre.policy.engine import check_decision_name
from tre.policy.factory import build_engine
from tre.services.bootstrap import load_settings

app = typer.Typer(help="Policy as code: evaluate decisions, run the Rego tests.",
                  no_args_is_help=True)


def _read_input(source: str) -> dict[str, object]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read the input file {source}: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}): "
                           "the input must be one JSON object") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{source} holds a JSON {type(value).__name__}, not an object: "
                           "the input must be one JSON object")
    return value


@app.command("eval")
def eval_(
    decision: Annotated[str, typer.Argument(help="Decision name, e.g. data_access.")],
    input_file: Annotated[str, typer.Option("--input", help="JSON file with the input (- reads "
                                            "stdin).")],
) -> None:
    """Print the decision JSON for an input; exits 5 when the answer is deny."""
    check_decision_name(decision)
    document = _read_input(input_file)
    settings = load_settings()
    engine = build_engine(settings.policy_engine, policies_dir=settings.policies_dir,
                          opa_url=settings.opa_url, timeout_s=settings.policy_timeout_s)
    try:
        answer = engine.decide(decision, document)
    finally:
        engine.close()
    print_json(answer.as_json())
    if answer.error == "unreachable":
        typer.echo("error: " + "; ".join(answer.reasons), err=True)
        raise typer.Exit(6)
    if not answer.allow:
        raise typer.Exit(5)


@app.command("test")
def run_tests(
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    """Run the Rego unit tests (*_test.rego) with the opa binary."""
    from tre.policy.opa_server import find_opa_binary

    settings = load_settings()
    binary = find_opa_binary()
    args = [str(binary), "test", str(settings.policies_dir)] + (["-v"] if verbose else [])
    raise typer.Exit(subprocess.call(args))
