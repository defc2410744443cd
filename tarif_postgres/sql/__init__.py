"""The query files, one per domain (see `tarif_postgres.queries`)."""
