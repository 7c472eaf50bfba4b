"""Download blocking in the single-user image: a container rendered from a workspace spec runs
the image's own Jupyter server (tre-notebook enabled by the image's config, nothing passed in),
and a client inside the container finds every download route refused and JupyterLab working.

Needs root, dockerd and the image, like test_docker_live.py (whose fixtures it uses).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from airlock.helpers import ct_png, synthetic_dicom
from hub.download_support import DISABLED_PLUGINS, NOTEBOOK, big_csv, blocked_urls
from tre_notebook.rules import BLOCKED_MESSAGE
from workspaces.test_docker_live import IMAGE, UID, run, spec
from workspaces.test_docker_live import client as client  # the fixture

from tre.workspaces.docker import render_docker
from tre.workspaces.spec import NetworkMode

pytestmark = pytest.mark.slow

BLOCKED = ("data/lung-ct/scan-002.dcm", "workspace/results.csv", "workspace/slice.png",
           "outputs/results.csv", "outputs/slice.png", "workspace/analysis.ipynb")

CLIENT = r"""
import json, sys, urllib.request, urllib.error
results = []
for method, url in json.load(open("/tmp/requests.json")):
    request = urllib.request.Request("http://127.0.0.1:8888/" + url, method=method,
                                     headers={"Authorization": "token t"})
    try:
        with urllib.request.urlopen(request) as answer:
            results.append([method, url, answer.status, answer.read().decode("latin-1")])
    except urllib.error.HTTPError as error:
        results.append([method, url, error.code, error.read().decode("latin-1")])
print("RESULTS " + json.dumps(results))
"""

SERVE = """
jupyter server --ip 127.0.0.1 --port 8888 --no-browser --ServerApp.token=t \
  --ServerApp.root_dir=/ >/tmp/server.log 2>&1 &
for _ in $(seq 1 240); do
  if python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8888/api/status?token=t')" \
      2>/dev/null; then break; fi
  sleep 0.5
done
cat > /tmp/requests.json <<'EOF'
{requests}
EOF
python -c '{client}'
kill %1; wait
grep -c 'tre download blocking installed' /tmp/server.log || true
"""


def _fill(tmp_path: Path) -> None:
    data = tmp_path / "datasets" / "lung-ct" / "v1"
    shutil.copy(synthetic_dicom(tmp_path / "dicom"), data / "scan-002.dcm")
    png = ct_png(tmp_path / "png")
    for folder in ("workspace", "outputs"):
        (tmp_path / folder / "results.csv").write_bytes(big_csv())
        (tmp_path / folder / "slice.png").write_bytes(png)
    (tmp_path / "workspace" / "notes.txt").write_text("first notes\n")
    (tmp_path / "workspace" / "analysis.ipynb").write_text(json.dumps(NOTEBOOK))
    for folder in ("workspace", "outputs"):
        for path in (tmp_path / folder).iterdir():
            os.chown(path, UID, UID)


def test_the_image_refuses_downloads_and_keeps_jupyterlab(client: object,
                                                          tmp_path: Path) -> None:
    s = spec(tmp_path, NetworkMode.NONE)
    _fill(tmp_path)
    requests = [pair for path in BLOCKED for pair in blocked_urls(path)
                if not (path.endswith(".ipynb") and pair[1].startswith("api/contents"))]
    requests += [("POST", "nbconvert/html"), ("GET", "api/nbconvert"),
                 ("GET", "api/contents/workspace"), ("GET", "api/contents/data/lung-ct"),
                 ("GET", "api/contents/workspace/notes.txt"),
                 ("GET", "api/contents/workspace/analysis.ipynb"), ("GET", "lab")]
    script = SERVE.replace("{requests}", json.dumps(requests)).replace("{client}", CLIENT)
    out = run(client, IMAGE, script, render_docker(s))
    assert out.splitlines()[-1] == "1", out  # the image's own config enabled the extension
    results = json.loads(out.split("RESULTS ", 1)[1].splitlines()[0])
    answers = {(method, url): (status, body) for method, url, status, body in results}
    allowed = requests[-6:]
    for key in requests[:-6]:
        status, body = answers[key]
        assert status == 403, (key, status, body[:200])
        assert key[0] == "HEAD" or BLOCKED_MESSAGE in body, key
    assert answers[("GET", "api/nbconvert")] == (200, "{}")
    for key in allowed:
        assert answers[key][0] == 200, (key, answers[key][1][:200])
    assert json.loads(answers[("GET", "api/contents/workspace/notes.txt")][1])["content"] == (
        "first notes\n")
    lab = answers[("GET", "lab")][1]
    assert all(plugin in lab for plugin in DISABLED_PLUGINS)
