-- Alert rules on incoming operation-log events, and the alerts they raised.
CREATE TABLE alert_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT,
    site TEXT,
    department TEXT,
    process_contains TEXT,
    text_contains TEXT,
    device_class TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id INTEGER NOT NULL,
    rule_name TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    pc TEXT NOT NULL,
    asset_id INTEGER,
    user_name TEXT,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at_ms INTEGER
);
CREATE INDEX alerts_at ON alerts(at_ms);
