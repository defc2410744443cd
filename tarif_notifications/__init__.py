"""Notifications: the model, their words (templates) and their storage in Postgres."""
