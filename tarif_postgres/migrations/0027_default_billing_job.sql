-- A deployment bills without being told to: a default `billing` job bills, every hour, each
-- billing profile whose cycle ended (all customers). Pause, edit or delete it through
-- /v1/jobs or `tarif jobs`; then billing is left to jobs of your own or `tarif billing run`.
INSERT INTO jobs (job_type, name, description, schedule_kind, start_at, every_n, every_unit,
                  time_zone, next_run_at)
VALUES ('billing', 'billing', 'Bills every billing profile whose cycle ended', 'every',
        date_trunc('hour', now()), 1, 'hours', 'UTC', date_trunc('hour', now()))
ON CONFLICT (name) DO NOTHING;
