"""The tamper-evident audit trail: a hash chain in the database, anchored by signed checkpoints."""
