"""JupyterHub configuration of tre: only wiring (settings are TRE_* / TRE_HUB_*, see docs/hub.md).

Start it with `tre up`, which also starts the proxy and the permit enforcer.
"""

from tre.hub.config import configure

configure(c)  # type: ignore[name-defined]  # noqa: F821 - `c` is JupyterHub's config object
