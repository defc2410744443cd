"""The operations jobs the batch runs: one module per job type, each with
`run_once(ctx, request, items)` (see `tarif_jobs.runs`), which tests, "process now" and the
scheduler all call. `registry` maps a job type's name to its module's function."""
