"""Shared by the download-blocking tests: a project's files, the routes that must refuse them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx
from tre_notebook.rules import BLOCKED_MESSAGE

DISABLED_PLUGINS = ("@jupyterlab/docmanager-extension:download",
                    "@jupyterlab/filebrowser-extension:download",
                    "@jupyterlab/filebrowser-extension:open-browser-tab",
                    "@jupyterlab/notebook-extension:export")
NOTEBOOK = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c1",
                       "metadata": {}, "outputs": [], "source": "print(1)"}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@dataclass(frozen=True)
class Folders:
    """Paths (relative to the server's root) of the files the tests try to take out."""

    blocked: tuple[str, ...]
    small_text: str
    notebook: str
    folders: tuple[str, ...] = ("data", "workspace", "outputs")


def big_csv() -> bytes:
    """A results table well over the contents API's text limit."""
    rows = "".join(f"{i},{i % 7},{i * 3.5}\n" for i in range(8000))
    return ("id,group,value\n" + rows).encode()


def blocked_urls(path: str) -> list[tuple[str, str]]:
    """Every (method, URL) by which a browser could take ``path``'s bytes."""
    return [("GET", f"files/{path}"), ("GET", f"files/{path}?download=1"),
            ("HEAD", f"files/{path}"), ("GET", f"view/{path}"),
            ("GET", f"api/contents/{path}"), ("GET", f"api/contents/{path}?content=1"),
            ("GET", f"api/contents/{path}?type=file&format=base64"),
            ("GET", f"nbconvert/html/{path}"), ("GET", f"nbconvert/html/{path}?download=true")]


def assert_refused(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 403, f"{what}: {answer.status_code} {answer.text[:200]}"
    if answer.request.method != "HEAD":
        assert BLOCKED_MESSAGE in answer.text, what
    assert "content-disposition" not in answer.headers, what


def assert_downloads_blocked(client: httpx.Client, prefix: str, files: Folders) -> None:
    """Each route refuses each file; nbconvert converts nothing; /api/nbconvert offers nothing."""
    for path in (*files.blocked, files.notebook):
        for method, url in blocked_urls(path):
            if path == files.notebook and url.startswith("api/contents"):
                continue  # notebooks stay readable: JupyterLab needs them
            assert_refused(client.request(method, f"{prefix}/{url}"), f"{method} {url}")
    for path in files.blocked:  # binary as text: refused, or not UTF-8 (no bytes either way)
        as_text = client.get(f"{prefix}/api/contents/{path}?type=file&format=text")
        assert as_text.status_code in (400, 403), as_text.text[:200]
        assert "content" not in as_text.text, as_text.text[:200]
    for fmt in ("html", "script", "markdown", "asciidoc", "rst", "notebook", "pdf", "webpdf"):
        assert_refused(client.get(f"{prefix}/nbconvert/{fmt}/{files.notebook}?download=true"),
                       f"nbconvert {fmt}")
        assert_refused(client.post(f"{prefix}/nbconvert/{fmt}",
                                   json={"name": "analysis.ipynb", "content": NOTEBOOK}),
                       f"POST nbconvert {fmt}")
    formats = client.get(f"{prefix}/api/nbconvert")
    assert (formats.status_code, formats.json()) == (200, {})


def assert_lab_still_works(client: httpx.Client, prefix: str, files: Folders) -> None:
    """Listing folders, reading a small text file, opening and saving a notebook."""
    root = client.get(f"{prefix}/api/contents/")
    assert root.status_code == 200, root.text
    assert set(files.folders) <= {item["name"] for item in root.json()["content"]}
    for folder in files.folders:
        listing = client.get(f"{prefix}/api/contents/{folder}")
        assert listing.status_code == 200, listing.text
        assert listing.json()["type"] == "directory"
    for path in files.blocked:  # the model without content (size, dates) is no download
        meta = client.get(f"{prefix}/api/contents/{path}?content=0")
        assert (meta.status_code, meta.json()["content"]) == (200, None), meta.text
    text = client.get(f"{prefix}/api/contents/{files.small_text}?type=file&format=text")
    assert (text.status_code, text.json()["content"]) == (200, "first notes\n"), text.text
    opened = client.get(f"{prefix}/api/contents/{files.notebook}?type=notebook&content=1")
    assert opened.status_code == 200, opened.text
    notebook = opened.json()["content"]
    notebook["cells"][0]["source"] = "print(2)"
    saved = client.put(f"{prefix}/api/contents/{files.notebook}",
                       json={"type": "notebook", "format": "json", "content": notebook})
    assert saved.status_code == 200, saved.text
    again = client.get(f"{prefix}/api/contents/{files.notebook}")
    assert again.json()["content"]["cells"][0]["source"] == "print(2)"
    lab = client.get(f"{prefix}/lab")
    assert lab.status_code == 200, lab.text[:300]
    found = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', lab.text, re.DOTALL)
    assert found is not None, lab.text[:300]
    page_config = json.loads(found.group(1))
    assert set(DISABLED_PLUGINS) <= set(page_config["disabledExtensions"])
