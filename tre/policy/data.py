"""Policy data an in-process engine holds: permits by project, under a generation number."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any


class PolicyData:
    """``{"permits": {project: permit}}``, shared by an engine's threads.

    Each change moves :attr:`generation`; a thread's evaluator reloads the document when the
    generation it loaded is older. The JSON text is built once per generation. A put replaces
    a project's document and never changes one in place.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._permits: dict[str, dict[str, Any]] = {}
        self._snapshot: tuple[int, str, dict[str, dict[str, Any]]] | None = None
        self.generation = 0

    def put_permit(self, project: str, permit: Mapping[str, Any]) -> None:
        """Hold ``permit`` as ``data.permits[project]`` (replacing an older revision)."""
        document = json.loads(json.dumps(permit, allow_nan=False))  # a JSON copy, or an error
        with self._lock:
            self._permits[project] = document
            self._snapshot = None
            self.generation += 1

    def snapshot(self) -> tuple[int, str, Mapping[str, Mapping[str, Any]]]:
        """The current generation, the whole data document as JSON text, and its permits."""
        with self._lock:
            if self._snapshot is None:
                self._snapshot = (self.generation, json.dumps({"permits": self._permits}),
                                  dict(self._permits))
            return self._snapshot
