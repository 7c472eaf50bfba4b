"""The airlock: outputs leave a project only as submitted, checked, reviewed and signed releases."""
