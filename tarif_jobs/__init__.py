"""Operations jobs shared by the batch (which runs them) and the admin API (which manages them):
the run protocol every job type follows, criteria, failed-item records, activity log and alerts.

A job type is a module of `billing_batch.jobs` with `run_once(ctx, request, items)`; tests,
"process now" and the scheduler all call that one function."""
