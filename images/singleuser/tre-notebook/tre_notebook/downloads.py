"""Server-side download blocking: a Jupyter Server extension no single-user server starts without.

Loaded in every server of the environment (``etc/jupyter/jupyter_server_config.d``), it

1. puts its own routes in front of every other one (the first rule of the application's router):
   ``/files/``, ``/view/`` and ``/nbconvert/`` refuse everything, ``/api/nbconvert`` lists no
   format, ``/api/contents`` is guarded (see ``rules``);
2. replaces, wherever they are registered, the handlers that hand out file bytes (so a second
   route to them, or a later extension's, leads to the same refusals), and confines every
   static-file route to the server's own environment;
3. checks that the router sends probe requests to its handlers, when loaded and again once every
   extension is loaded; if anything is off the server exits (Jupyter would only log a failed
   extension and serve on).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from jupyter_core.paths import jupyter_config_path
from jupyter_server.base.handlers import AuthenticatedFileHandler, path_regex
from jupyter_server.files.handlers import FilesHandler
from jupyter_server.nbconvert.handlers import NbconvertFileHandler, NbconvertPostHandler
from jupyter_server.services.contents.handlers import ContentsHandler
from jupyter_server.services.nbconvert.handlers import NbconvertRootHandler
from jupyter_server.utils import url_path_join
from jupyter_server.view.handlers import ViewHandler
from tornado import httputil, routing, web
from traitlets import Int, TraitError, validate
from traitlets.config import LoggingConfigurable

from tre_notebook.handlers import (
    SETTINGS_KEY,
    DownloadBlockedHandler,
    GuardedContentsHandler,
    InstalledFilesOnly,
    NoExportFormatsHandler,
)

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

REPLACEMENTS: dict[type[web.RequestHandler], type[web.RequestHandler]] = {
    AuthenticatedFileHandler: DownloadBlockedHandler,
    FilesHandler: DownloadBlockedHandler,
    ViewHandler: DownloadBlockedHandler,
    NbconvertFileHandler: DownloadBlockedHandler,
    NbconvertPostHandler: DownloadBlockedHandler,
    NbconvertRootHandler: NoExportFormatsHandler,
    ContentsHandler: GuardedContentsHandler,
}
"""Jupyter's handlers that hand out file bytes, and what stands in for each."""

FRONT_ROUTES: tuple[tuple[str, type[web.RequestHandler]], ...] = (
    (r"/files/(.*)", DownloadBlockedHandler),
    (rf"/view{path_regex}", DownloadBlockedHandler),
    (r"/nbconvert(?:/.*)?", DownloadBlockedHandler),
    (r"/api/nbconvert/?", NoExportFormatsHandler),
    (rf"/api/contents{path_regex}", GuardedContentsHandler),
)
"""Routes (under the server's base URL) answered by this extension before any other rule."""

PROBES: tuple[tuple[str, str, type[web.RequestHandler]], ...] = (
    ("GET", "files/data/probe.dcm", DownloadBlockedHandler),
    ("GET", "files/workspace/probe.png?download=1", DownloadBlockedHandler),
    ("GET", "view/outputs/probe.csv", DownloadBlockedHandler),
    ("POST", "nbconvert/html", DownloadBlockedHandler),
    ("GET", "nbconvert/html/workspace/probe.ipynb?download=true", DownloadBlockedHandler),
    ("GET", "nbconvert/script/workspace/probe.ipynb", DownloadBlockedHandler),
    ("GET", "api/nbconvert", NoExportFormatsHandler),
    ("GET", "api/contents/data/probe.dcm?content=1", GuardedContentsHandler),
)
"""Requests the router must send to this extension's handlers (checked before serving)."""


class DownloadBlocking(LoggingConfigurable):
    """Settings of tre's download blocking (configurable as ``DownloadBlocking.*``)."""

    max_text_bytes = Int(
        64 * 1024,
        help="The largest text file (bytes, UTF-8) the contents API still returns, so that "
        "JupyterLab opens small scripts, notes and tables. Larger text files, and every binary "
        "file whatever its size, are refused; notebooks and folders are always returned. "
        "0 refuses every file's content.",
    ).tag(config=True)

    @validate("max_text_bytes")
    def _valid_limit(self, proposal: dict[str, Any]) -> int:
        value: int = proposal["value"]
        if value < 0:
            raise TraitError(f"DownloadBlocking.max_text_bytes must be 0 or more, not {value}")
        return value


class BlockingNotInstalled(RuntimeError):
    """The extension could not make sure that downloads are refused."""


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "tre_notebook.downloads"}]


def _load_jupyter_server_extension(serverapp: ServerApp) -> None:
    try:
        install(serverapp.web_app, DownloadBlocking(parent=serverapp))
        verify(serverapp.web_app)
    except Exception as exc:
        _refuse_to_serve(serverapp, exc)
    serverapp.log.info("tre download blocking installed: file bytes never reach the browser")
    for folder in writable_config_dirs():
        serverapp.log.warning(
            "the Jupyter config folder %s is writable here: a config file in it can switch "
            "download blocking off at the next start; set JUPYTER_CONFIG_DIR to a folder the "
            "workspace cannot write", folder)


async def _start_jupyter_server_extension(serverapp: ServerApp) -> None:
    # Extensions loaded after this one may have added routes: check the whole router again.
    try:
        verify(serverapp.web_app)
    except Exception as exc:
        _refuse_to_serve(serverapp, exc)


def _refuse_to_serve(serverapp: ServerApp, exc: Exception) -> None:
    serverapp.log.critical("tre download blocking could not be installed, so this server does "
                           "not start: %s (fix the setting named, remove the extension that adds "
                           "the route, or reinstall tre-notebook: scripts/make-sandbox-runtime.sh, "
                           "images/build.sh)", exc)
    raise SystemExit(3) from exc


def install(webapp: web.Application, settings: DownloadBlocking) -> None:
    """Put the blocking routes first and swap Jupyter's file-serving handlers everywhere."""
    webapp.settings[SETTINGS_KEY] = settings
    for rule in _rules(webapp.default_router):
        rule.target = _guarded(rule.target)
    base_url = webapp.settings.get("base_url", "/")
    rules = webapp.default_router.rules
    before = list(rules)
    webapp.add_handlers(".*$", [(url_path_join(base_url, pattern), handler)
                                for pattern, handler in FRONT_ROUTES])
    added = [rule for rule in rules if rule not in before]
    if len(added) != 1:
        raise BlockingNotInstalled(f"adding the blocking routes changed {len(added)} rules of "
                                   "the router, not 1: an unknown tornado version?")
    rules.remove(added[0])
    rules.insert(0, added[0])


def verify(webapp: web.Application) -> None:
    """Raise unless every probe reaches its blocking handler and no route serves files freely."""
    settings = webapp.settings.get(SETTINGS_KEY)
    if not isinstance(settings, DownloadBlocking):
        raise BlockingNotInstalled("the settings of the blocking handlers are missing")
    base_url = webapp.settings.get("base_url", "/")
    for method, path, expected in PROBES:
        found = handler_for(webapp, method, url_path_join(base_url, path))
        if found is not expected:
            raise BlockingNotInstalled(f"{method} /{path} reaches {found}, not {expected.__name__}")
    for rule in _rules(webapp.default_router):
        if _guarded(rule.target) is not rule.target:
            pattern = getattr(getattr(rule.matcher, "regex", None), "pattern", rule.matcher)
            raise BlockingNotInstalled(f"the route {pattern} serves files with "
                                       f"{rule.target.__name__}, unchecked")


def writable_config_dirs() -> list[str]:
    """The folders Jupyter reads configuration from that this process could write (or create)."""
    found = []
    for folder in jupyter_config_path():
        existing = folder
        while not os.path.exists(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        if os.access(existing, os.W_OK):
            found.append(folder)
    return found


def handler_for(webapp: web.Application, method: str, uri: str) -> Any:
    """The handler class the application's router picks for a request (None if unknown)."""
    request = httputil.HTTPServerRequest(
        start_line=httputil.RequestStartLine(method, uri, "HTTP/1.1"),
        headers=httputil.HTTPHeaders({"Host": "localhost"}))
    return getattr(webapp.find_handler(request), "handler_class", None)


def _rules(router: routing.RuleRouter) -> Iterator[routing.Rule]:
    """Every rule of ``router`` and of the routers nested in it."""
    for rule in router.rules:
        if isinstance(rule.target, routing.RuleRouter):
            yield from _rules(rule.target)
        else:
            yield rule


def _guarded(target: Any) -> Any:
    """What stands in for ``target``: itself unless it may hand file bytes to the browser."""
    if not isinstance(target, type):
        return target
    if target in REPLACEMENTS:
        return REPLACEMENTS[target]
    if issubclass(target, web.StaticFileHandler) and not issubclass(target, InstalledFilesOnly):
        return type(target.__name__, (InstalledFilesOnly, target), {"__module__": __name__})
    return target
