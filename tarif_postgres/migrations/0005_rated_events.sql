-- Every rated record the engine writes (usage, refunds, session steps, expiries, adjustments),
-- partitioned by month of the event time. Partitions are created by the ingestor as months
-- come. The key includes the account (request ids are unique per account) and the partition
-- column, so a replayed stream entry is a no-op.
CREATE TABLE rated_events (
    account_id text NOT NULL,
    request_id text NOT NULL,             -- e:<event>, s:<session>#<n>, r:<refund>, a:<adjustment>
    kind text NOT NULL,                   -- event, start, update, end, refund, expired, adjust
    subscriber text NOT NULL DEFAULT '',
    service text NOT NULL DEFAULT '',
    rate text NOT NULL DEFAULT '',
    event_time timestamptz NOT NULL,
    charged_at timestamptz NOT NULL,
    units bigint NOT NULL DEFAULT 0,
    rated_units bigint NOT NULL DEFAULT 0,
    cost numeric NOT NULL DEFAULT 0,      -- in the currency (2.40 EUR); negative for a refund
    currency text NOT NULL DEFAULT '',
    uncovered numeric NOT NULL DEFAULT 0,
    impacts text NOT NULL DEFAULT '',     -- balance|resource|amount,... (smallest units)
    session_id text NOT NULL DEFAULT '',
    refunded text NOT NULL DEFAULT '',
    attributes jsonb NOT NULL DEFAULT '{}',
    reason text NOT NULL DEFAULT '',
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, request_id, event_time)
) PARTITION BY RANGE (event_time);
CREATE INDEX rated_events_account_time ON rated_events (account_id, event_time, request_id);
