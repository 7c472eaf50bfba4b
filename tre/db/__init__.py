"""The database adapter: SQLAlchemy tables, migrations and repositories (SQLite or PostgreSQL)."""
