"""The request handlers that stand in for Jupyter's file-serving routes."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.services.contents.handlers import ContentsHandler
from tornado import web

from tre_notebook.rules import BLOCKED_MESSAGE, carries_file_bytes, may_read

SETTINGS_KEY = "tre_download_blocking"
"""Where the web application's settings hold the extension's configuration."""

INSTALLED_ROOT = os.path.realpath(sys.prefix)
"""The server's own environment: the only place static-file routes may serve from."""


def refuse(handler: JupyterHandler, *, as_json: bool) -> None:
    """Answer 403 with the blocking message, logged with the request that was refused."""
    handler.log.warning("refused to hand file bytes to the browser: %s %s",
                        handler.request.method, handler.request.path)
    handler.clear_header("Content-Disposition")
    handler.set_status(403)
    if as_json:
        handler.set_header("Content-Type", "application/json")
        handler.finish(json.dumps({"message": BLOCKED_MESSAGE, "reason": "download blocked"}))
    else:
        handler.set_header("Content-Type", "text/plain; charset=UTF-8")
        handler.finish(BLOCKED_MESSAGE + "\n")


class DownloadBlockedHandler(JupyterHandler):
    """Every method refused: the route (/files/, /view/, /nbconvert/) only hands out file bytes."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

    def initialize(self, **_ignored: Any) -> None:
        """Take (and ignore) the arguments of the handler this one replaces, e.g. ``path``."""

    @web.authenticated
    def refused(self, *_args: Any, **_kwargs: Any) -> None:
        """Refuse, whatever the method and the path."""
        refuse(self, as_json=False)

    get = head = post = put = patch = delete = refused


class NoExportFormatsHandler(APIHandler):
    """``/api/nbconvert``: no export format is offered, so JupyterLab lists none."""

    @web.authenticated
    def get(self) -> None:
        """An empty map of exporters."""
        self.finish("{}")


class GuardedContentsHandler(ContentsHandler):
    """The contents API, minus the bodies of files that are neither notebooks nor small text."""

    @property
    def max_text_bytes(self) -> int:
        """The largest text file the API still returns (the extension's setting)."""
        limit: int = self.settings[SETTINGS_KEY].max_text_bytes
        return limit

    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        """The model of ``path``; refused when its content would be a download."""
        if self.get_query_argument("content", default="1") != "0":
            try:
                model = await ensure_async(
                    self.contents_manager.get(path=path, content=False))  # type: ignore[no-untyped-call]
            except web.HTTPError:
                model = None  # the real handler answers (404...); the check below still holds
            if model is not None and not may_read(
                    model, requested_format=self.get_query_argument("format", default=None),
                    max_text_bytes=self.max_text_bytes):
                refuse(self, as_json=True)
                return
        answered = super().get(path)
        if answered is not None:
            await answered

    def _finish_model(self, model: dict[str, Any], location: bool = True) -> None:
        # Every answer of the contents API passes here: the last word, whatever came before.
        if carries_file_bytes(model, max_text_bytes=self.max_text_bytes):
            refuse(self, as_json=True)
            return
        super()._finish_model(model, location)  # type: ignore[no-untyped-call]


class InstalledFilesOnly(web.StaticFileHandler):
    """A static-file route that serves only files of the server's own environment.

    Mixed in front of every static-file handler (JupyterLab's assets, themes, extensions,
    kernel logos): a path resolving (symbolic links followed) outside ``sys.prefix`` - a data
    set, the workspace, a labextension or kernelspec folder the user made - is refused.
    """

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        """Tornado's checks, then: the real path must lie inside the installed environment."""
        checked = super().validate_absolute_path(root, absolute_path)
        if checked is not None and not is_installed(checked):
            raise DownloadRefused
        return checked

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The blocking message as plain text; other errors as the handler writes them."""
        exc_info = kwargs.get("exc_info")
        if exc_info is not None and isinstance(exc_info[1], DownloadRefused):
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(BLOCKED_MESSAGE + "\n")
            return
        super().write_error(status_code, **kwargs)


class DownloadRefused(web.HTTPError):
    """A static-file route was asked for a file outside the server's environment."""

    def __init__(self) -> None:
        super().__init__(403, "refused to serve a file outside the server's environment")


def is_installed(path: str) -> bool:
    """Whether ``path`` (symbolic links resolved) lies inside the server's environment."""
    return os.path.commonpath([os.path.realpath(path), INSTALLED_ROOT]) == INSTALLED_ROOT
