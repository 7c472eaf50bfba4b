"""Spawn latency: tre's BwrapSpawner vs JupyterHub's SimpleLocalProcessSpawner, in one run.

Latency = REST request to start a named server -> its /api/status answers 200 through the proxy.
Runs `tre up` twice over seeded homes on loopback (needs root, bwrap, socat, the proxy and the
sandbox runtime). Usage: python benchmarks/spawn.py [--runs N].
Goal: ratio <= 1.1, bwrap p50 <= 3 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hub.conftest import PASSWORD, _seed, _wait_up, free_port
from hub.hub_support import RUNTIME, log_in

from tre.audit.checkpoints import CheckpointWriter
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.services.bootstrap import initialise
from tre.services.node import Node, utc_now
from tre.settings import Settings, default_policies_dir

LOCAL_CONFIG = """\
from tre.hub.config import configure
configure(c)
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root"]
c.Spawner.notebook_dir = "/"
"""


def measure(kind: str, runs: int, root: Path) -> list[float]:
    """Start and stop alice's lung-ai server ``runs`` times under a fresh `tre up`."""
    settings = Settings(home=root / kind / "home", policies_dir=default_policies_dir())
    node = Node(db=initialise(settings), policy=EmbeddedPolicyEngine(settings.policies_dir),
                checkpoints=CheckpointWriter(settings.audit_dir, settings.keys_dir),
                clock=utc_now)
    _seed(node, settings.home)
    node.close()
    ports = {k: free_port() for k in ("PORT", "PROXY_API_PORT", "HUB_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRE_")}
    env.update({f"TRE_HUB_{k}": str(v) for k, v in ports.items()})
    env.update({"TRE_HOME": str(settings.home), "TRE_WORKSPACES_ROOT": str(root / kind / "ws"),
                "TRE_WORKSPACES_RUNTIME": str(RUNTIME)})
    if kind == "local":
        config = root / "local_config.py"
        singleuser = str(Path(sys.executable).parent / "jupyterhub-singleuser")
        config.write_text(LOCAL_CONFIG.format(singleuser=singleuser))
        env["TRE_HUB_CONFIG_FILE"] = str(config)
    log = root / f"{kind}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tre.cli.app", "up"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{ports['PORT']}"
    times = []
    try:
        _wait_up(process, url, log)
        alice = log_in(url, "alice", PASSWORD)
        with alice.api() as api:
            for _ in range(runs):
                began = time.perf_counter()
                api.post("/hub/api/users/alice/servers/lung-ai", json={}).raise_for_status()
                while api.get("/user/alice/lung-ai/api/status").status_code != 200:
                    time.sleep(0.05)
                times.append(time.perf_counter() - began)
                api.delete("/hub/api/users/alice/servers/lung-ai").raise_for_status()
                while "lung-ai" in api.get("/hub/api/users/alice").json().get("servers", {}):
                    time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)
    return times


def main() -> None:
    """Print p50 of both spawners and their ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {kind: measure(kind, args.runs, Path(tmp)) for kind in ("local", "bwrap")}
    p50 = {kind: statistics.median(times) for kind, times in results.items()}
    for kind, times in results.items():
        print(f"{kind:6} p50 {p50[kind]:.2f} s  runs {[round(t, 2) for t in times]}")
    print(f"ratio bwrap/local p50: {p50['bwrap'] / p50['local']:.2f} (goal <= 1.1; "
          f"bwrap p50 goal <= 3 s)")
    _ = httpx  # the clients come from tests/hub


if __name__ == "__main__":
    main()
