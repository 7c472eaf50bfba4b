"""The sandbox runtime (scripts/make-sandbox-runtime.sh) starts servers without needless work.

Its servers load only the server extensions a workspace uses, JupyterLab starts with no
extension listing, news or update check (the sandbox has no network), and nothing a server
imports builds jsonschema's IRI parsers (rfc3987-syntax is removed). docs/workspaces.md,
"Server start".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hub.hub_support import RUNTIME

ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def runtime_env(tmp_path: Path) -> dict[str, str]:
    """The runtime first on PATH, and a user config folder of its own (empty)."""
    if not (RUNTIME / "bin" / "jupyterhub-singleuser").exists():
        message = f"no sandbox runtime at {RUNTIME} (scripts/make-sandbox-runtime.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {"PATH": f"{RUNTIME / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"), "LANG": "C.UTF-8"}


def _run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """One of the runtime's commands (``argv[0]`` in its bin/)."""
    return subprocess.run([str(RUNTIME / "bin" / argv[0]), *argv[1:]], env=env, check=True,
                          capture_output=True, text=True, timeout=120)


def test_servers_load_only_the_extensions_a_workspace_uses(runtime_env: dict[str, str]) -> None:
    done = _run(runtime_env, "jupyter", "server", "extension", "list")
    listing = ANSI_COLOUR.sub("", done.stdout + done.stderr)
    assert dict(re.findall(r"^ {4}(\S+) (enabled|disabled)$", listing, re.MULTILINE)) == {
        "jupyter_lsp": "disabled", "jupyter_server_terminals": "enabled",
        "jupyterlab": "enabled", "notebook_shim": "disabled", "tre_notebook.downloads": "enabled"}


def test_jupyterlab_lists_no_extensions_and_fetches_no_news(runtime_env: dict[str, str]) -> None:
    done = _run(runtime_env, "jupyter-lab", "--show-config-json")
    assert json.loads(done.stdout)["LabApp"] == {
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly", "news_url": None}


def test_a_server_start_builds_no_iri_parser(runtime_env: dict[str, str]) -> None:
    done = _run(runtime_env, "python", "-c",
                "import sys, jupyter_server.serverapp; print(sorted("
                "m for m in sys.modules if m.split('.')[0] in ('rfc3987_syntax', 'lark')))")
    assert done.stdout == "[]\n"
