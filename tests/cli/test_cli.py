"""The `tre` command as users run it: a real process, real files, exit codes and messages."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import rdflib

from tre.db.datasets import Dataset
from tre.domain.roles import Role
from tre.services import catalogue, users
from tre.services.bootstrap import initialise, open_node
from tre.settings import Settings

TRE = [sys.executable, "-m", "tre.cli.app"]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def tre(home: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update(TRE_HOME=str(home), COLUMNS="200")

    def run(*args: str, input: str | None = None, ok: bool = True,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*TRE, *args], capture_output=True, text=True, input=input,
                                env={**env, **(extra_env or {})}, timeout=60, check=False)
        if ok and result.returncode != 0:
            raise AssertionError(f"tre {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    return run


@pytest.fixture
def seeded(tre: Run, home: Path, tmp_path: Path) -> Run:
    """A home with users and a dataset, made in-process (fast); the test then uses the CLI."""
    settings = Settings(home=home)
    initialise(settings).dispose()
    node = open_node(settings)
    try:
        for name, roles in [("alice", [Role.RESEARCHER]), ("bob", [Role.RESEARCHER]),
                            ("olga", [Role.HDAB_OFFICER]),
                            ("rita", [Role.HDAB_OFFICER, Role.RESEARCHER])]:
            users.add_user(node, "host:test", name, roles)
        (tmp_path / "ds").mkdir()
        catalogue.register_version(
            node, "host:test", Dataset("lung-ct", "Lung CT", "", "H", False, node.clock()),
            "v1", str(tmp_path / "ds"))
    finally:
        node.close()
    return tre


def _apply(tre: Run, *extra: str, actor: str = "alice", ok: bool = True,
           until: str = "2099-12-31") -> subprocess.CompletedProcess[str]:
    return tre("permits", "apply", "--as", actor, "--project", "lung-ai", "--title", "Nodules",
               "--purpose", "scientific_research", "--dataset", "lung-ct", "--member", "bob",
               "--until", until, "--json", *extra, ok=ok)


def _db_rows(home: Path, table: str) -> int:
    with sqlite3.connect(home / "tre.db") as conn:
        return int(conn.execute(f"select count(*) from {table}").fetchone()[0])


def test_whole_flow_and_audit_verify(seeded: Run, home: Path) -> None:
    app = json.loads(_apply(seeded).stdout)
    assert app["status"] == "submitted"
    permit = json.loads(seeded("permits", "approve", app["id"], "--as", "olga", "--reason",
                               "sound", "--condition", "no re-identification", "--json").stdout)
    assert permit["status"] == "active"
    assert permit["datasets"] == ["lung-ct@v1"]
    listed = json.loads(seeded("permits", "list", "--json").stdout)
    assert [p["id"] for p in listed] == [permit["id"]]
    shown = json.loads(seeded("permits", "show", permit["id"], "--json").stdout)
    assert shown == listed[0]
    check = seeded("permits", "check", "--as", "bob", "--project", "lung-ai", "--dataset",
                   "lung-ct@v1", "--json")
    assert json.loads(check.stdout)["allow"] is True
    seeded("permits", "suspend", permit["id"], "--as", "olga", "--reason", "audit")
    denied = seeded("permits", "check", "--as", "bob", "--project", "lung-ai", "--dataset",
                    "lung-ct@v1", "--json", ok=False)
    assert denied.returncode == 5
    assert json.loads(denied.stdout)["allow"] is False
    verify = json.loads(seeded("audit", "verify", "--json").stdout)
    assert verify["ok"] is True
    assert verify["unanchored_events"] == 0
    exported = [json.loads(line) for line in seeded("audit", "export").stdout.splitlines()]
    assert len(exported) == verify["events"]
    assert exported[-1]["action"] == "data.access"
    assert exported[-1]["decision"]["allow"] is False
    since = seeded("audit", "export", "--since", str(verify["events"] - 2)).stdout.splitlines()
    assert [json.loads(x)["seq"] for x in since] == [verify["events"] - 1, verify["events"]]


@pytest.mark.parametrize(("args", "message"), [
    (("--dataset", "brain-mr"), "unknown dataset 'brain-mr'"),
    (("--member", "mallory"), "unknown member(s) mallory"),
])
def test_apply_bad_references(seeded: Run, home: Path, args: tuple[str, ...],
                              message: str) -> None:
    before = _db_rows(home, "audit_events")
    result = _apply(seeded, *args, ok=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert _db_rows(home, "applications") == 0
    assert _db_rows(home, "audit_events") == before


@pytest.mark.parametrize(("extra", "until", "message"), [
    (("--from", "2099-06-01"), "2099-01-01", "before it starts"),
    (("--from", "2000-01-01"), "2001-01-01", "ends in the past"),
    ((), "31/12/2099", "cannot read the date"),
    (("--from", "2099-01-01T10:00:00"), "2099-12-31", "has no time zone"),
])
def test_apply_bad_dates(seeded: Run, home: Path, extra: tuple[str, ...], until: str,
                         message: str) -> None:
    result = _apply(seeded, *extra, until=until, ok=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert _db_rows(home, "applications") == 0


def test_unknown_purpose_and_flag_are_usage_errors(seeded: Run, home: Path) -> None:
    result = seeded("permits", "apply", "--as", "alice", "--project", "p1", "--title", "t",
                    "--purpose", "fun", "--dataset", "lung-ct", "--until", "2099-01-01",
                    ok=False)
    assert result.returncode == 2
    assert "scientific_research" in result.stderr
    result = seeded("permits", "list", "--colour", ok=False)
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_approving_twice_and_own_application(seeded: Run, home: Path) -> None:
    app = json.loads(_apply(seeded).stdout)
    seeded("permits", "approve", app["id"], "--as", "olga", "--reason", "ok")
    again = seeded("permits", "approve", app["id"], "--as", "olga", "--reason", "ok", ok=False)
    assert again.returncode == 4
    assert "cannot change application status from approved to approved" in again.stderr
    assert _db_rows(home, "permits") == 1

    own = json.loads(seeded("permits", "apply", "--as", "rita", "--project", "rita-proj",
                            "--title", "Mine", "--purpose", "statistics", "--dataset",
                            "lung-ct", "--until", "2099-01-01", "--json").stdout)
    denied = seeded("permits", "approve", own["id"], "--as", "rita", "--reason", "ok", ok=False)
    assert denied.returncode == 5
    assert "may not decide on an application they submitted" in denied.stderr
    assert _db_rows(home, "permits") == 1


def test_missing_database_says_run_init(tre: Run, home: Path) -> None:
    result = tre("permits", "list", ok=False)
    assert result.returncode == 7
    assert "run `tre init`" in result.stderr
    assert not (home / "tre.db").exists()


def test_locked_database_is_a_clear_error(seeded: Run, home: Path) -> None:
    holder = sqlite3.connect(home / "tre.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = seeded("users", "add", "zed", "--role", "researcher", ok=False,
                        extra_env={"TRE_DB_BUSY_TIMEOUT_S": "0.3"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 7
    assert "locked by another process" in result.stderr
    assert "zed" not in seeded("users", "list").stdout


def test_bad_setting_names_the_variable(tre: Run) -> None:
    result = tre("permits", "list", ok=False, extra_env={"TRE_POLICY_ENGINE": "magic"})
    assert result.returncode == 2
    assert "TRE_POLICY_ENGINE" in result.stderr


class TestPolicyEval:
    def test_prints_decision(self, tre: Run, tmp_path: Path) -> None:
        doc = {"user": "bob", "project": "p", "dataset": "d", "version": "v1", "now": 10,
               "permit": {"id": "permit-1", "project": "p", "status": "active",
                          "valid_from": 0, "valid_until": 100,
                          "members": [{"user": "bob", "role": "researcher"}],
                          "datasets": [{"dataset": "d", "version": "v1"}]}}
        (tmp_path / "in.json").write_text(json.dumps(doc))
        result = tre("policy", "eval", "data_access", "--input", str(tmp_path / "in.json"))
        out = json.loads(result.stdout)
        assert out["allow"] is True
        assert out["decision"] == "data_access"
        doc["now"] = 100
        result = tre("policy", "eval", "data_access", "--input", "-", input=json.dumps(doc),
                     ok=False)
        assert result.returncode == 5
        assert json.loads(result.stdout)["allow"] is False

    @pytest.mark.parametrize(("text", "message"), [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "holds a JSON list, not an object"),
        ("", "is not valid JSON"),
    ])
    def test_bad_input(self, tre: Run, text: str, message: str) -> None:
        result = tre("policy", "eval", "data_access", "--input", "-", input=text, ok=False)
        assert result.returncode == 2
        assert message in result.stderr
        assert result.stdout == ""

    def test_unknown_decision(self, tre: Run) -> None:
        result = tre("policy", "eval", "launch_rockets", "--input", "-", input="{}", ok=False)
        assert result.returncode == 2
        assert "unknown decision 'launch_rockets'" in result.stderr
        assert "data_access" in result.stderr

    def test_missing_file(self, tre: Run, tmp_path: Path) -> None:
        result = tre("policy", "eval", "data_access", "--input", str(tmp_path / "nope.json"),
                     ok=False)
        assert result.returncode == 2
        assert "cannot read the input file" in result.stderr

    def test_opa_down_denies_and_says_unreachable(self, tre: Run) -> None:
        result = tre("policy", "eval", "data_access", "--input", "-", input="{}", ok=False,
                     extra_env={"TRE_POLICY_ENGINE": "opa",
                                "TRE_OPA_URL": "http://127.0.0.1:9",
                                "TRE_POLICY_TIMEOUT_S": "1"})
        assert result.returncode == 6
        assert json.loads(result.stdout)["allow"] is False
        assert "unreachable" in result.stderr


def test_approve_with_opa_down_changes_nothing(seeded: Run, home: Path) -> None:
    app = json.loads(_apply(seeded).stdout)
    result = seeded("permits", "approve", app["id"], "--as", "olga", "--reason", "ok", ok=False,
                    extra_env={"TRE_POLICY_ENGINE": "opa", "TRE_OPA_URL": "http://127.0.0.1:9",
                               "TRE_POLICY_TIMEOUT_S": "1"})
    assert result.returncode == 6
    assert "unreachable" in result.stderr
    assert _db_rows(home, "permits") == 0
    shown = json.loads(seeded("permits", "show", app["id"], "--json").stdout)
    assert shown["status"] == "submitted"


def test_up_demo_once_is_idempotent(tre: Run, home: Path) -> None:
    first = tre("up", "--demo", "--once")
    assert "demo project demo-lung-ai" in first.stdout
    assert "SME sandbox demo-sandbox (no permit, synthetic data only: demo-lung-ct-twin@" \
        in " ".join(first.stdout.split())
    tre("up", "--demo", "--once")
    permits = json.loads(tre("permits", "list", "--json").stdout)
    assert [p["project"] for p in permits] == ["demo-lung-ai"]
    assert json.loads(tre("audit", "verify", "--json").stdout)["ok"] is True
    version = permits[0]["datasets"][0].split("@")[1]
    turtle = tre("datasets", "show", f"demo-lung-ct@{version}", "--format", "dcat").stdout
    graph = rdflib.Graph().parse(data=turtle, format="turtle")
    versions = {str(o) for o in graph.objects(None, rdflib.OWL.versionInfo)}
    assert versions == {version}
    bad = tre("datasets", "show", "demo-lung-ct", "--format", "xml", ok=False)
    assert bad.returncode == 2
    assert "use text, json or dcat" in bad.stderr


def test_users_and_datasets_commands(tre: Run, tmp_path: Path) -> None:
    tre("init")
    tre("users", "add", "alice", "--role", "researcher", "--display-name", "Alice A")
    tre("users", "grant", "alice", "--role", "sme_developer")
    assert json.loads(tre("users", "list", "--json").stdout) == [
        {"name": "alice", "display_name": "Alice A", "roles": ["researcher", "sme_developer"]}]
    again = tre("users", "add", "alice", "--role", "researcher", ok=False)
    assert again.returncode == 2
    assert "exists already" in again.stderr
    bad = tre("users", "add", "Robert'); DROP TABLE users;--", "--role", "researcher", ok=False)
    assert bad.returncode == 2
    assert "invalid user name" in bad.stderr
    (tmp_path / "v1").mkdir()
    tre("datasets", "register", "lung-ct", "--version", "v1", "--path", str(tmp_path / "v1"))
    shown = json.loads(tre("datasets", "show", "lung-ct", "--json").stdout)
    assert shown["path"] == str(tmp_path / "v1")
    assert shown["version"] == "v1"
    missing = tre("datasets", "register", "x-ray", "--version", "v1", "--path",
                  str(tmp_path / "nope"), ok=False)
    assert missing.returncode == 2
    assert "is not a folder" in missing.stderr


def test_passwd_sets_a_hub_password(seeded: Run, home: Path) -> None:
    done = seeded("users", "passwd", "alice", "--password-stdin",
                  input="correct horse battery staple\n")
    assert "password set for alice" in done.stdout
    stored = json.loads((home / "hub-passwords.json").read_text())
    assert "correct horse" not in json.dumps(stored)
    short = seeded("users", "passwd", "alice", "--password-stdin", input="short\n", ok=False)
    assert short.returncode == 2
    unknown = seeded("users", "passwd", "mallory", "--password-stdin", input="x" * 20, ok=False)
    assert unknown.returncode == 3
