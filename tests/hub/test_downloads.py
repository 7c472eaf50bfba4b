"""Server-side download blocking: no route hands a file's bytes from /data, /workspace or
/outputs to the browser, and JupyterLab still lists, opens and saves notebooks and small text.

First against a real Jupyter server of this environment with tre-notebook's shipped
configuration (fast), then through `tre up`: the proxy, the hub, a bubblewrap sandbox running
the runtime of scripts/make-sandbox-runtime.sh, with the project member's own credentials.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from airlock.helpers import ct_png, synthetic_dicom
from hub.conftest import PASSWORD, RunningTre, free_port, start_tre
from hub.download_support import (
    NOTEBOOK,
    Folders,
    assert_downloads_blocked,
    assert_lab_still_works,
    assert_refused,
    big_csv,
    blocked_urls,
)
from hub.hub_support import log_in
from tornado import web
from tre_notebook import downloads
from tre_notebook.handlers import (
    DownloadBlockedHandler,
    GuardedContentsHandler,
    InstalledFilesOnly,
)
from tre_notebook.rules import carries_file_bytes, may_read

PACKAGE = Path(__file__).parents[2] / "images" / "singleuser" / "tre-notebook"
LIMIT = 64 * 1024


# --- the rules, as pure functions --------------------------------------------------------------

@pytest.mark.parametrize(("model", "requested_format", "expected"), [
    ({"type": "directory"}, None, True),
    ({"type": "notebook", "size": 50_000_000}, None, True),
    ({"type": "file", "size": 10}, None, True),
    ({"type": "file", "size": LIMIT}, "text", True),
    ({"type": "file", "size": LIMIT + 1}, None, False),
    ({"type": "file", "size": 10}, "base64", False),
    ({"type": "file", "size": None}, None, False),
    ({"type": "file"}, None, False),
])
def test_what_may_be_read_for_the_browser(model: dict[str, object], requested_format: str | None,
                                          expected: bool) -> None:
    assert may_read(model, requested_format=requested_format, max_text_bytes=LIMIT) is expected


@pytest.mark.parametrize(("model", "expected"), [
    ({"type": "file", "format": "base64", "content": "AAAA"}, True),
    ({"type": "file", "format": "text", "content": "x" * (LIMIT + 1)}, True),
    ({"type": "file", "format": "text", "content": "é" * (LIMIT // 2 + 1)}, True),
    ({"type": "file", "format": "text", "content": "x" * LIMIT}, False),
    ({"type": "file", "format": None, "content": None}, False),
    ({"type": "notebook", "format": "json", "content": {"cells": []}}, False),
    ({"type": "directory", "format": "json", "content": []}, False),
])
def test_which_models_carry_file_bytes(model: dict[str, object], expected: bool) -> None:
    assert carries_file_bytes(model, max_text_bytes=LIMIT) is expected


# --- the routing, on real tornado applications ------------------------------------------------

def _app_like_jupyter(root: Path) -> web.Application:
    from jupyter_server.base.handlers import AuthenticatedFileHandler, FileFindHandler
    from jupyter_server.services.contents.handlers import ContentsHandler

    return web.Application([(r"/files/(.*)", AuthenticatedFileHandler, {"path": str(root)}),
                            (r"/api/contents(.*)", ContentsHandler),
                            (r"/static/(.*)", FileFindHandler, {"path": [str(root)]})],
                           base_url="/")


def test_install_puts_blocks_first_and_confines_static_routes(tmp_path: Path) -> None:
    app = _app_like_jupyter(tmp_path)
    with pytest.raises(downloads.BlockingNotInstalled, match="settings"):
        downloads.verify(app)

    downloads.install(app, downloads.DownloadBlocking())
    downloads.verify(app)
    for uri, handler in (("/files/data/scan.dcm", DownloadBlockedHandler),
                         ("/api/contents/data/scan.dcm", GuardedContentsHandler)):
        assert downloads.handler_for(app, "GET", uri) is handler
    static = downloads.handler_for(app, "GET", "/static/style.css")
    assert isinstance(static, type)
    assert issubclass(static, InstalledFilesOnly)


def test_a_later_route_serving_files_fails_the_check(tmp_path: Path) -> None:
    from jupyter_server.base.handlers import FileFindHandler

    app = _app_like_jupyter(tmp_path)
    downloads.install(app, downloads.DownloadBlocking())
    app.add_handlers(".*$", [(r"/extension-files/(.*)", FileFindHandler, {"path": ["/"]})])
    with pytest.raises(downloads.BlockingNotInstalled, match="extension-files"):
        downloads.verify(app)


def test_a_route_put_before_the_blocks_fails_the_check(tmp_path: Path) -> None:
    from jupyter_server.files.handlers import FilesHandler

    app = _app_like_jupyter(tmp_path)
    downloads.install(app, downloads.DownloadBlocking())
    app.add_handlers(".*$", [(r"/files/(.*)", FilesHandler)])
    app.default_router.rules.insert(0, app.default_router.rules.pop(-2))
    with pytest.raises(downloads.BlockingNotInstalled, match=r"GET /files/data/probe\.dcm"):
        downloads.verify(app)


def test_a_writable_config_folder_is_named(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "not-yet" / ".jupyter"))
    assert str(tmp_path / "not-yet" / ".jupyter") in downloads.writable_config_dirs()


# --- a real Jupyter server of this environment (fast) -----------------------------------------

@dataclass
class LocalServer:
    """A Jupyter server with tre-notebook enabled by its shipped config, and its token."""

    url: str
    token: str
    root: Path
    files: Folders

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"token {self.token}"})


def _fill_root(root: Path, tmp: Path) -> Folders:
    dicom = synthetic_dicom(tmp)
    (root / "data" / "lung-ct").mkdir(parents=True)
    shutil.copy(dicom, root / "data" / "lung-ct" / "scan-001.dcm")
    for folder in ("workspace", "outputs"):
        (root / folder).mkdir()
        (root / folder / "results.csv").write_bytes(big_csv())
        (root / folder / "slice.png").write_bytes(ct_png(tmp / folder))
    (root / "workspace" / "notes.txt").write_text("first notes\n")
    (root / "workspace" / "analysis.ipynb").write_text(json.dumps(NOTEBOOK))
    return Folders(blocked=("data/lung-ct/scan-001.dcm", "workspace/results.csv",
                            "workspace/slice.png", "outputs/results.csv", "outputs/slice.png"),
                   small_text="workspace/notes.txt", notebook="workspace/analysis.ipynb")


def _user_dirs(home: Path, dicom: Path) -> None:
    """A user's own labextension and kernelspec folders, each holding the DICOM."""
    smuggled = home / "jupyter-data" / "labextensions" / "my-ext" / "static"
    smuggled.mkdir(parents=True)
    shutil.copy(dicom, smuggled / "scan.dcm")
    kernel = home / "jupyter-data" / "kernels" / "mine"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps(
        {"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "mine", "language": "python"}))
    shutil.copy(dicom, kernel / "logo-64x64.png")


def _server_env(tmp: Path, pythonpath: Path | None) -> dict[str, str]:
    config = tmp / "jupyter-config"
    shutil.copytree(PACKAGE / "etc" / "jupyter", config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHONPATH"))}
    env.update({"HOME": str(tmp), "JUPYTER_CONFIG_DIR": str(config),
                "JUPYTER_DATA_DIR": str(tmp / "jupyter-data"),
                "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime")})
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def _serve(tmp: Path, root: Path, *extra: str,
           pythonpath: Path | None = None) -> tuple[subprocess.Popen[bytes], str, Path]:
    """A Jupyter server of this environment with tre-notebook's shipped configuration."""
    port, log = free_port(), tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
             "--ServerApp.token=local-token", f"--ServerApp.root_dir={root}", *extra],
            env=_server_env(tmp, pythonpath), stdout=out, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}", log


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    tmp = tmp_path_factory.mktemp("local-server")
    root = tmp / "root"
    files = _fill_root(root, tmp)
    _user_dirs(tmp, root / files.blocked[0])
    process, url, log = _serve(tmp, root)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Jupyter server did not start:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/api/status?token=local-token").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield LocalServer(url, "local-token", root, files)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_every_download_route_is_refused(local_server: LocalServer) -> None:
    with local_server.client() as client:
        assert_downloads_blocked(client, "", local_server.files)


def test_jupyterlab_still_lists_opens_and_saves(local_server: LocalServer) -> None:
    with local_server.client() as client:
        assert_lab_still_works(client, "", local_server.files)


def test_binary_files_are_refused_even_when_small(local_server: LocalServer) -> None:
    (local_server.root / "workspace" / "tiny.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with local_server.client() as client:
        assert_refused(client.get("/api/contents/workspace/tiny.png"), "a small PNG")
        meta = client.get("/api/contents/workspace/tiny.png?content=0").json()
        assert (meta["type"], meta["size"]) == ("file", 72)


def test_symlinks_to_data_are_refused_like_the_data(local_server: LocalServer) -> None:
    link = local_server.root / "workspace" / "link.txt"
    link.symlink_to(local_server.root / local_server.files.blocked[0])
    with local_server.client() as client:
        for method, url in blocked_urls("workspace/link.txt"):
            assert_refused(client.request(method, f"/{url}"), f"{method} {url} (a symlink)")


def test_static_routes_serve_only_the_installed_environment(local_server: LocalServer) -> None:
    with local_server.client() as client:
        assert client.get("/static/favicon.ico").status_code == 200
        assert client.get("/kernelspecs/python3/logo-64x64.png").status_code == 200
        assert_refused(client.get("/lab/extensions/my-ext/static/scan.dcm"),
                       "a file in the user's own labextension folder")
        assert_refused(client.get("/kernelspecs/mine/logo-64x64.png"),
                       "a file in the user's own kernelspec folder")


def test_a_server_that_cannot_install_the_blocks_does_not_start(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    process, url, log = _serve(tmp_path, tmp_path / "root",
                               "--DownloadBlocking.max_text_bytes=-1")
    assert process.wait(timeout=90) == 3
    text = log.read_text()
    assert "tre download blocking could not be installed, so this server does not start" in text
    assert "DownloadBlocking.max_text_bytes must be 0 or more, not -1" in text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/status")


LEAKY_EXTENSION = """
from jupyter_server.base.handlers import FileFindHandler
from jupyter_server.utils import url_path_join

def _jupyter_server_extension_points():
    return [{"module": "zz_leaky"}]

def _load_jupyter_server_extension(serverapp):
    route = url_path_join(serverapp.base_url, "/leak/(.*)")
    serverapp.web_app.add_handlers(".*$", [(route, FileFindHandler, {"path": ["/"]})])
"""


def test_an_extension_loaded_later_that_serves_files_stops_the_server(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "zz_leaky.py").write_text(LEAKY_EXTENSION)
    process, _url, log = _serve(tmp_path, tmp_path / "root",
                               "--ServerApp.jpserver_extensions=zz_leaky=True",
                               pythonpath=tmp_path / "ext")
    assert process.wait(timeout=90) == 3
    text = log.read_text()
    assert "zz_leaky | extension was successfully loaded" in text
    assert "the route /leak/(.*)$ serves files with FileFindHandler, unchecked" in text


# --- through tre up: proxy, hub, bubblewrap sandbox, the member's own login (slow) -------------

@pytest.fixture(scope="module")
def tre_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTre]:
    """`tre up` as conftest's, with the REST API on a free port too (test runs side by side)."""
    with start_tre(tmp_path_factory.mktemp("hub"),
                   extra_env={"TRE_HUB_API_PORT": str(free_port())}) as running:
        yield running


def _wait_for_server(client: httpx.Client, prefix: str) -> None:
    deadline = time.monotonic() + 120
    while client.get(f"{prefix}/api/status").status_code != 200:
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {prefix}")
        time.sleep(0.3)


def _wait_stopped(client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while client.get("/hub/api/users/alice").json()["servers"].get("lung-ai"):
        if time.monotonic() > deadline:
            pytest.fail("gave up waiting for lung-ai to stop")
        time.sleep(0.3)


def _put_file(client: httpx.Client, prefix: str, path: str, data: bytes) -> None:
    model = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    answer = client.put(f"{prefix}/api/contents/{path}", json=model)
    assert answer.status_code in (200, 201), answer.text


@pytest.mark.slow
def test_through_the_proxy_with_the_members_own_credentials(tre_up: RunningTre,
                                                            tmp_path: Path) -> None:
    dataset = tre_up.log.parent / "home" / "datasets" / "lung-ct" / "v1"
    shutil.copy(synthetic_dicom(tmp_path), dataset / "scan-002.dcm")
    alice = log_in(tre_up.url, "alice", PASSWORD)
    prefix = "/user/alice/lung-ai"
    with alice.api() as api:
        started = api.post("/hub/api/users/alice/servers/lung-ai", json={})
        assert started.status_code in (201, 202), started.text
        _wait_for_server(api, prefix)
        png = ct_png(tmp_path / "png")
        for folder in ("workspace", "outputs"):  # uploads are fine: they come in
            _put_file(api, prefix, f"{folder}/results.csv", big_csv())
            _put_file(api, prefix, f"{folder}/slice.png", png)
        _put_file(api, prefix, "workspace/notes.txt", b"first notes\n")
        _put_file(api, prefix, "workspace/analysis.ipynb", json.dumps(NOTEBOOK).encode())
        files = Folders(blocked=("data/lung-ct/scan-002.dcm", "workspace/results.csv",
                                 "workspace/slice.png", "outputs/results.csv",
                                 "outputs/slice.png"),
                        small_text="workspace/notes.txt", notebook="workspace/analysis.ipynb")
        assert_downloads_blocked(api, prefix, files)
        assert_lab_still_works(api, prefix, files)

    # A browser: the hub's login cookie, then the server's own OAuth login, as JupyterLab does.
    with httpx.Client(base_url=tre_up.url, timeout=60, cookies=alice.cookies,
                      follow_redirects=True) as browser:
        lab = browser.get(f"{prefix}/lab")
        assert lab.status_code == 200, lab.text[:300]
        for path in files.blocked:
            assert_refused(browser.get(f"{prefix}/files/{path}?download=1"), f"browser {path}")

    # A member writes Jupyter config into the shared workspace (from a terminal) to switch the
    # blocking off at the next start: the server never reads the workspace's config folder.
    config = tre_up.log.parent / "ws" / "lung-ai" / "workspace" / ".jupyter"
    config.mkdir(exist_ok=True)
    off = {"ServerApp": {"jpserver_extensions": {"tre_notebook.downloads": False}},
           "DownloadBlocking": {"max_text_bytes": 10**12}}
    (config / "jupyter_server_config.json").write_text(json.dumps(off))
    (config / "jupyter_server_config.py").write_text(
        "c.ServerApp.jpserver_extensions = {'tre_notebook.downloads': False}\n")
    with alice.api() as api:
        assert api.delete("/hub/api/users/alice/servers/lung-ai").status_code in (202, 204)
        _wait_stopped(api)
        started = api.post("/hub/api/users/alice/servers/lung-ai", json={})
        assert started.status_code in (201, 202), started.text
        _wait_for_server(api, prefix)
        assert_downloads_blocked(api, prefix, files)
        assert api.delete("/hub/api/users/alice/servers/lung-ai").status_code in (202, 204)
