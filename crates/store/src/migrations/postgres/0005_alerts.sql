-- Alert rules on incoming operation-log events, and the alerts they raised.
CREATE TABLE alert_rules (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT,
    site TEXT,
    department TEXT,
    process_contains TEXT,
    text_contains TEXT,
    device_class TEXT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    rule_id BIGINT NOT NULL,
    rule_name TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    pc TEXT NOT NULL,
    asset_id BIGINT,
    user_name TEXT,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at_ms BIGINT
);
CREATE INDEX alerts_at ON alerts(at_ms);
