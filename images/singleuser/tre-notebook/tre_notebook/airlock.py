"""The airlock client of a workspace: submit files from /outputs and follow their review.

Standard library only. It calls tre's REST API at ``$TRE_API_URL`` with the server's own hub
token (``$JUPYTERHUB_API_TOKEN``), both set by the hub in every project server, so it acts as
the server's owner in the server's project. In a notebook::

    from tre_notebook import airlock
    request = airlock.submit(["counts.csv"], "Table 2 of the paper")
    airlock.status(request["id"])["status"]

and in a terminal: ``tre-airlock submit counts.csv -j "Table 2 of the paper"``,
``tre-airlock list``, ``tre-airlock show E-...``.
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

API_URL_ENV = "TRE_API_URL"
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"  # noqa: S105 - a variable name
OUTPUTS_ENV = "TRE_OUTPUTS"
PROJECT_ENV = "TRE_PROJECT"
TIMEOUT_S = 300.0
"""Checks of a large submission run while the request waits."""


class AirlockError(Exception):
    """Something the user can act on; the message says what."""


class NotInWorkspace(AirlockError):
    """The client runs outside a tre project server (no API address or token)."""


class Refused(AirlockError):
    """The API answered with an error: its status, message and policy reasons."""

    def __init__(self, status: int, detail: str, reasons: Sequence[str] = ()) -> None:
        self.status, self.detail, self.reasons = status, detail, builtins.list(reasons)
        super().__init__(f"the airlock refused (HTTP {status}): {detail}")


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise NotInWorkspace(
            f"${name} is not set: tre-airlock works inside a tre project server (a notebook "
            "or terminal of your project's workspace); elsewhere use `tre airlock submit`")
    return value


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    base = _env(API_URL_ENV).rstrip("/")
    token = _env(TOKEN_ENV)
    request = urllib.request.Request(  # noqa: S310 - the hub-given http(s) URL of the API
        f"{base}/api/v1/{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Accept": "application/json",
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise _refusal(exc) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AirlockError(f"cannot reach tre's API at {base} ({reason}): restart your "
                           "server from the hub; if it persists, tell the operator") from None


def _refusal(exc: urllib.error.HTTPError) -> Refused:
    text = exc.read().decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("detail"), str):
        reasons = doc.get("reasons")
        given = [str(r) for r in reasons] if isinstance(reasons, builtins.list) else []
        return Refused(exc.code, doc["detail"], given)
    return Refused(exc.code, text.strip()[:500] or str(exc.reason))


def outputs_name(path: str, *, outputs: str | None = None, cwd: str | None = None) -> str:
    """``path`` (absolute, or relative to ``cwd``) as a name relative to the outputs folder.

    Links are not followed here: the server refuses them, whatever they point to.
    """
    root = os.path.normpath(outputs or os.environ.get(OUTPUTS_ENV) or "/outputs")
    full = os.path.normpath(os.path.join(cwd or os.getcwd(), path))
    if full == root or not full.startswith(root + os.sep):
        raise AirlockError(f"{path} is not in {root}: copy it there first (only files in "
                           f"{root} can leave the workspace)")
    return full[len(root) + 1:]


def submit(files: Sequence[str], justification: str, project: str | None = None
           ) -> dict[str, Any]:
    """Submit ``files`` (in /outputs) with a ``justification``; returns the new request.

    ``project`` defaults to this server's project. The files are copied at once: later
    changes to them do not change the request.
    """
    if isinstance(files, str):
        files = [files]
    if not files:
        raise AirlockError("give at least one file from /outputs to submit")
    if not justification.strip():
        raise AirlockError("give a justification: what the files are and why they leave")
    body = {"project": project or _env(PROJECT_ENV), "justification": justification,
            "files": [outputs_name(f) for f in files]}
    result: dict[str, Any] = _call("POST", "egress-requests", body)
    return result


def status(request_id: str) -> dict[str, Any]:
    """One request: its status, files, findings and reviews."""
    result: dict[str, Any] = _call(
        "GET", f"egress-requests/{urllib.parse.quote(request_id, safe='')}")
    return result


def list() -> builtins.list[dict[str, Any]]:  # the client's public name (shadows the builtin here)
    """The requests you may see (your projects'), newest first."""
    result: builtins.list[dict[str, Any]] = _call("GET", "egress-requests")
    return result


def describe(request: dict[str, Any]) -> str:
    """A request as text: status, then each file with its findings and reviews."""
    lines = [f"request {request['id']} of {request['project']} by {request['author']}: "
             f"{request['status']}"]
    for file in request["files"]:
        lines.append(f"  {file['name']} ({file['kind']}, {file['size']} bytes): "
                     f"{file['worst']}")
        lines.extend(f"    {x['severity']} {x['code']}: {x['message']}"
                     for x in file["findings"])
        lines.extend(f"    review: {r['reviewer']} {r['verdict']}: {r['comment']}"
                     for r in file["reviews"])
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tre-airlock", description="Ask for files in /outputs to leave the workspace; "
        "output checkers review every file before anything is released.")
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("submit", help="submit files from /outputs")
    sub.add_argument("files", nargs="+", help="files in /outputs")
    sub.add_argument("-j", "--justification", required=True,
                     help="what the files are and why they leave")
    sub.add_argument("--project", help="default: this server's project ($TRE_PROJECT)")
    sub.add_argument("--json", action="store_true", help="print the request as JSON")
    listing = commands.add_parser("list", help="your projects' requests")
    listing.add_argument("--json", action="store_true")
    show = commands.add_parser("show", help="one request: findings and reviews")
    show.add_argument("request")
    show.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``tre-airlock submit|list|show``; exit 1 when refused, 2 outside a workspace."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "submit":
            found: Any = submit(args.files, args.justification, args.project)
        elif args.command == "show":
            found = status(args.request)
        else:
            found = list()
    except NotInWorkspace as exc:
        print(f"tre-airlock: {exc}", file=sys.stderr)
        return 2
    except AirlockError as exc:
        print(f"tre-airlock: {exc}", file=sys.stderr)
        for reason in getattr(exc, "reasons", ()):
            print(f"  - {reason}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(found, indent=2))
    elif args.command == "list":
        for request in found:
            print(f"{request['id']}  {request['project']}  {request['author']}  "
                  f"{request['status']}  {len(request['files'])} file(s)  "
                  f"{request['created_at']}")
        if not found:
            print("no requests yet: `tre-airlock submit FILE... -j TEXT` makes one")
    else:
        print(describe(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
