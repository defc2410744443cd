"""Billing rules shared by the batch (billing runs) and the admin API (previews, profiles)."""
