-- Notifications (credit-profile thresholds crossed), their deliveries, and unratable usage.
-- Rows arrive from the engine's Redis streams through billing_batch's ingestors, which commit
-- before they acknowledge: the unique keys make a replayed stream entry a no-op.

-- Where a customer is told things. Keyed by the engine's account id (customer tables come later).
CREATE TABLE account_contacts (
    account_id text NOT NULL,
    tag text NOT NULL,
    email text,
    phone text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, tag),
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);

CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    account_id text NOT NULL,
    source_id text NOT NULL,            -- "<request id>|<threshold id>": one row per crossing
    subscriber text NOT NULL,
    type text NOT NULL,
    threshold_id text NOT NULL,
    resource text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('falling', 'rising')),
    threshold_level numeric NOT NULL,   -- in the resource's smallest unit
    value numeric NOT NULL,             -- the level once crossed, same unit
    decimals smallint NOT NULL CHECK (decimals >= 0),
    unit text NOT NULL,                 -- the currency code or unit name people read
    event_time timestamptz NOT NULL,
    fired_at timestamptz NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, source_id)
);
CREATE INDEX notifications_subscriber ON notifications (subscriber, fired_at DESC, id DESC);
CREATE INDEX notifications_account ON notifications (account_id, fired_at DESC, id DESC);

-- One row per channel and recipient. `next_attempt_at` is when it is due; while `sending` it is
-- the end of the sender's lease, after which a crashed sender's delivery is taken again.
CREATE TABLE notification_deliveries (
    id bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id),
    channel text NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    recipient text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'delivered', 'dead', 'skipped')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text NOT NULL DEFAULT '',
    delivered_at timestamptz,
    UNIQUE (notification_id, channel, recipient)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'sending');

CREATE TABLE delivery_attempts (
    delivery_id bigint NOT NULL REFERENCES notification_deliveries (id),
    attempt integer NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'interrupted')),
    detail text NOT NULL DEFAULT '',
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (delivery_id, attempt)
);

-- Usage the engine could not rate: kept with its reason, correctable, re-rated through the engine.
CREATE TABLE unrated_events (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,      -- the client's event id
    reason text NOT NULL,
    message text NOT NULL DEFAULT '',
    subscriber text NOT NULL,
    service text NOT NULL,
    event_time timestamptz NOT NULL,
    units bigint NOT NULL CHECK (units >= 0),
    attributes jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'corrected', 'rerated', 'rejected')),
    original jsonb,                     -- the event as received, once corrected
    corrections integer NOT NULL DEFAULT 0,
    rerate_attempts integer NOT NULL DEFAULT 0,
    rejections integer NOT NULL DEFAULT 0,  -- refusals the engine keeps under a re-rate id
    rerate_id text,                     -- the event id of the current re-rate (the engine's key)
    result text,                        -- the engine's answer to the last re-rate
    result_message text,
    cost numeric,
    currency text,
    kept_at timestamptz NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unrated_events_status ON unrated_events (status, kept_at, id);
CREATE INDEX unrated_events_subscriber ON unrated_events (subscriber, kept_at, id);
CREATE INDEX unrated_events_rerate_id ON unrated_events (rerate_id) WHERE rerate_id IS NOT NULL;
