"""Postgres first, then Redis: the outbox, as the admin API uses it. Queuing a change is
`tarif_postgres.changes` (the batch's jobs queue changes too); the relay that carries the rows
to Redis is `tarif_balances.outbox`."""

from __future__ import annotations

from tarif_balances.outbox import Relay as Relay
from tarif_balances.outbox import account_document as account_document
from tarif_balances.outbox import group_document as group_document
from tarif_balances.outbox import reconcile as reconcile
from tarif_postgres.changes import queue as queue
from tarif_postgres.changes import queue_customer as queue_customer
