"""`tre run` end to end in a fresh process: output and exit code pass through, audited."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from workspaces.sandbox_support import Publish

from factories import Clock, audit_trail, form, seed_users
from tre.domain.permits import DataPermit
from tre.services import applications
from tre.services.node import Node, utc_now
from tre.settings import Settings
from tre.workspaces.bwrap import BwrapBackend
from tre.workspaces.config import WorkspaceSettings
from tre.workspaces.jobs import NOT_STARTED

TRE_RUN = [sys.executable, "-m", "tre.cli.app", "run"]


def cli_env(settings: Settings, ws_settings: WorkspaceSettings) -> dict[str, str]:
    """The environment of a `tre` process on the test's node and workspaces."""
    return {**os.environ, "TRE_HOME": str(settings.home), "TRE_DATABASE_URL": settings.url,
            "TRE_POLICIES_DIR": str(settings.policies_dir),
            "TRE_WORKSPACES_ROOT": str(ws_settings.root)}


def grant_lung_ai(node: Node, clock: Clock, publish: Publish) -> DataPermit:
    """lung-ct published and lung-ai's permit (alice, bob) in force on the real clock, which
    the CLI runs on."""
    clock.now = utc_now()
    seed_users(node)
    publish()
    app = applications.apply(node, "alice", form(start=clock.now - timedelta(hours=1)))
    return applications.approve(node, "olga", app.id, applications.Approval("ok"))


def test_tre_run_passes_output_and_exit_code_through(
        node: Node, clock: Clock, settings: Settings, ws_settings: WorkspaceSettings,
        publish: Publish, backend: BwrapBackend) -> None:
    permit = grant_lung_ai(node, clock, publish)
    env = cli_env(settings, ws_settings)
    before = len(audit_trail(node))
    done = subprocess.run(
        [*TRE_RUN, "--project", "lung-ai", "--as", "bob", "--memory-gb", "1",
         "--", "sh", "-c", "cat /data/lung-ct/scan-001.txt; echo oops >&2; exit 7"],
        env=env, capture_output=True, text=True, check=False, cwd=Path(__file__).parent)
    assert (done.returncode, done.stdout, done.stderr) == (7, "lung-ct v1 pixels\n", "oops\n")
    trail = audit_trail(node)[before:]
    job = trail[-1][2]
    assert trail == [("bob", "data.access", "lung-ct@v1", "allowed"),
                     ("bob", "workspace.prepare", "lung-ai", "allowed"),
                     ("bob", "job.start", job, "allowed"),
                     ("bob", "job.finish", job, "completed")]
    assert permit.project == "lung-ai"


def test_a_command_the_sandbox_cannot_run_is_a_failed_job_not_a_completed_one(
        node: Node, clock: Clock, settings: Settings, ws_settings: WorkspaceSettings,
        publish: Publish, backend: BwrapBackend) -> None:
    grant_lung_ai(node, clock, publish)
    env = cli_env(settings, ws_settings)
    before = len(audit_trail(node))
    done = subprocess.run([*TRE_RUN, "--project", "lung-ai", "--as", "bob", "--",
                           "/workspace/no-such-program"], env=env, capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stdout) == (125, "")
    assert "bwrap: execvp /workspace/no-such-program: No such file or directory" in done.stderr
    assert done.stderr.endswith(f"tre: {NOT_STARTED}\n")
    trail = audit_trail(node)[before:]
    job = trail[-1][2]
    assert trail[-2:] == [("bob", "job.start", job, "allowed"),
                          ("bob", "job.finish", job, "failed")]


def test_tre_run_refusal_exits_125_with_the_reason(
        node: Node, settings: Settings, ws_settings: WorkspaceSettings,
        backend: BwrapBackend) -> None:
    env = cli_env(settings, ws_settings)
    done = subprocess.run([*TRE_RUN, "--project", "lung-ai", "--as",
                           "bob", "--", "true"], env=env, capture_output=True, text=True,
                          check=False)
    assert (done.returncode, done.stdout) == (125, "")
    assert "project lung-ai has no data permit" in done.stderr


def test_tre_run_without_bubblewrap_is_a_clear_audited_refusal(
        node: Node, settings: Settings, ws_settings: WorkspaceSettings, tmp_path: Path) -> None:
    seed_users(node)
    env = {**cli_env(settings, ws_settings),
           "TRE_WORKSPACES_BWRAP": str(tmp_path / "no" / "bwrap")}
    before = len(audit_trail(node))
    done = subprocess.run([*TRE_RUN, "--project", "lung-ai", "--as", "bob", "--", "true"],
                          env=env, capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (125, "")
    assert done.stderr == (f"error: bwrap is not an executable file at the configured path "
                           f"{tmp_path / 'no' / 'bwrap'}: install bubblewrap (`apt-get install "
                           "bubblewrap`) or set the path of its bwrap\n")
    [(actor, action, _job, outcome)] = audit_trail(node)[before:]
    assert (actor, action, outcome) == ("bob", "job.start", "failed")
