"""Postgres: the pool, the schema migrations and the named queries."""
