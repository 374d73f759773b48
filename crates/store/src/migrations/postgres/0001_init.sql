CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    site TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    max_uses BIGINT NOT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL
);

CREATE TABLE assets (
    id BIGSERIAL PRIMARY KEY,
    hostname TEXT NOT NULL,
    kind TEXT NOT NULL,
    site TEXT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT
);
CREATE INDEX assets_site ON assets(site);
CREATE INDEX assets_hostname ON assets(hostname);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    public_key BYTEA NOT NULL,
    asset_id BIGINT NOT NULL REFERENCES assets(id),
    token_id TEXT NOT NULL REFERENCES enrollment_tokens(id),
    site TEXT NOT NULL,
    hostname TEXT NOT NULL,
    os_family TEXT NOT NULL,
    enrolled_at_ms BIGINT NOT NULL,
    last_seen_ms BIGINT,
    revoked_at_ms BIGINT
);
CREATE INDEX agents_asset ON agents(asset_id);

CREATE TABLE inventory_sections (
    asset_id BIGINT NOT NULL REFERENCES assets(id),
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    content BYTEA NOT NULL,
    collected_at_ms BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (asset_id, name)
);

CREATE TABLE queue_gaps (
    id BIGSERIAL PRIMARY KEY,
    agent_id TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    dropped_items BIGINT NOT NULL,
    dropped_bytes BIGINT NOT NULL,
    first_dropped_at_ms BIGINT NOT NULL,
    last_dropped_at_ms BIGINT NOT NULL
);
CREATE INDEX queue_gaps_agent ON queue_gaps(agent_id);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
