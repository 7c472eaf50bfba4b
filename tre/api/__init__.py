"""tre's REST API: a JupyterHub service the portal, notebooks and scripts call with hub tokens."""
