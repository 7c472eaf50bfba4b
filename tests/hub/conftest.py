"""A real `tre up` (proxy, hub, enforcer) on random loopback ports, over a seeded home."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hub.hub_support import RUNTIME, need_hub

from tre.audit.checkpoints import CheckpointWriter
from tre.db.datasets import Dataset
from tre.domain.permits import DataPermit
from tre.domain.purposes import Purpose
from tre.domain.roles import Role
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.hub.passwords import set_password
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.services import applications, catalogue, users
from tre.services.bootstrap import initialise
from tre.services.node import Node, utc_now
from tre.settings import Settings, default_policies_dir

PASSWORD = "correct horse battery staple"
ENFORCE_INTERVAL_S = 2
USERS = {"alice": Role.RESEARCHER, "bob": Role.RESEARCHER, "olga": Role.HDAB_OFFICER,
         "dan": Role.DATA_HOLDER}


def free_port() -> int:
    """A free loopback port (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningTre:
    """`tre up` running for a test module."""

    url: str
    node: Node
    permits: dict[str, DataPermit]
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, chars: int = 6000) -> str:
        """The end of `tre up`'s log (the hub's tracebacks), for a failing assertion."""
        return self.log.read_text(errors="replace")[-chars:]


def grant_permit(node: Node, project: str, lead: str, dataset: str = "lung-ct@v1"
                 ) -> DataPermit:
    """An approved permit for ``project`` led by ``lead`` on ``dataset`` (olga decides)."""
    now = node.clock()
    form = applications.ApplicationForm(
        project=project, title=f"{project} study", purpose=Purpose.SCIENTIFIC_RESEARCH,
        description="Train a nodule detector.", organisation="Uni X",
        members=(Member.parse(f"{lead}:lead"),), datasets=(DatasetRef.parse(dataset),),
        compute=Compute(1, 2, 0, 10), period=Period(now - timedelta(minutes=1),
                                                    now + timedelta(days=30)))
    app = applications.apply(node, lead, form)
    return applications.approve(node, "olga", app.id, applications.Approval("sound"))


def publish(node: Node, home: Path, dataset: str = "lung-ct", version: str = "v1") -> Path:
    """A published version folder (read-only, like ingest) of ``dataset``, by dan."""
    folder = home / "datasets" / dataset / version
    folder.mkdir(parents=True)
    (folder / "scan-001.txt").write_text("pixels\n")
    (folder / "scan-001.txt").chmod(0o444)
    folder.chmod(0o555)
    catalogue.register_version(
        node, "dan", Dataset(dataset, "Lung CT", "", "Hospital A", True, node.clock()),
        version, str(folder))
    return folder


def _seed(node: Node, home: Path) -> dict[str, DataPermit]:
    for name, role in USERS.items():
        users.add_user(node, "host:test", name, [role])
        set_password(home, name, PASSWORD)
    publish(node, home)
    return {p: grant_permit(node, p, "alice") for p in ("lung-ai", "lung-watch")}


@contextlib.contextmanager
def start_tre(root: Path, extra_env: Mapping[str, str] | None = None,
              port: int | None = None) -> Iterator[RunningTre]:
    """`tre up` over a seeded home under ``root`` (alice leads lung-ai and lung-watch; bob holds
    no permit), with ``extra_env`` and the public proxy on ``port`` (default: a free one)."""
    need_hub()
    settings = Settings(home=root / "home", policies_dir=default_policies_dir())
    db = initialise(settings)
    node = Node(db=db, policy=EmbeddedPolicyEngine(settings.policies_dir),
                checkpoints=CheckpointWriter(settings.audit_dir, settings.keys_dir),
                clock=utc_now)
    permits = _seed(node, settings.home)
    ports = {"PORT": port or free_port(), "PROXY_API_PORT": free_port(),
             "HUB_PORT": free_port(), "API_PORT": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update({f"TRE_HUB_{k}": str(v) for k, v in ports.items()})
    env.update({"TRE_HOME": str(settings.home), "TRE_WORKSPACES_ROOT": str(root / "ws"),
                "TRE_WORKSPACES_RUNTIME": str(RUNTIME),
                "TRE_HUB_ENFORCE_INTERVAL_S": str(ENFORCE_INTERVAL_S), **(extra_env or {})})
    log = root / "tre-up.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tre.cli.app", "up"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{ports['PORT']}"
    try:
        _wait_up(process, url, log)
        yield RunningTre(url, node, permits, process, log)
    finally:
        _stop(process)
        node.close()


@pytest.fixture(scope="module")
def tre_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTre]:
    """`tre up` with alice leading lung-ai and lung-watch; bob holds no permit."""
    with start_tre(tmp_path_factory.mktemp("hub")) as running:
        yield running


def _wait_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tre up exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/hub/api/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"tre up did not answer at {url}:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, from /proc; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[1]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    return {p for p in pids if (stat := _stat(p)) is not None and stat[0] != "Z"}
