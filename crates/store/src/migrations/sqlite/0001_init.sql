CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    site TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL
);

CREATE TABLE assets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hostname TEXT NOT NULL,
    kind TEXT NOT NULL,
    site TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER
);
CREATE INDEX assets_site ON assets(site);
CREATE INDEX assets_hostname ON assets(hostname);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    token_id TEXT NOT NULL REFERENCES enrollment_tokens(id),
    site TEXT NOT NULL,
    hostname TEXT NOT NULL,
    os_family TEXT NOT NULL,
    enrolled_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER,
    revoked_at_ms INTEGER
);
CREATE INDEX agents_asset ON agents(asset_id);

CREATE TABLE inventory_sections (
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    content BLOB NOT NULL,
    collected_at_ms INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (asset_id, name)
) WITHOUT ROWID;

CREATE TABLE queue_gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    dropped_items INTEGER NOT NULL,
    dropped_bytes INTEGER NOT NULL,
    first_dropped_at_ms INTEGER NOT NULL,
    last_dropped_at_ms INTEGER NOT NULL
);
CREATE INDEX queue_gaps_agent ON queue_gaps(agent_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
