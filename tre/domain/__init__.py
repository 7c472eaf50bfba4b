"""The pure domain of tre: applications, permits, roles and their state machines (no I/O)."""
