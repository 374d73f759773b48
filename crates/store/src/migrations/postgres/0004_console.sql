-- Issue 4: agentless assets and matching, sites, console sessions,
-- directory users, where audited actions came from.

-- The asset's current agent (older, revoked agents keep their asset_id),
-- and what the inventory says about it, kept as columns so the asset list
-- filters and sorts without opening inventory sections.
ALTER TABLE assets ADD COLUMN agent_id TEXT;
ALTER TABLE assets ADD COLUMN serial TEXT;
ALTER TABLE assets ADD COLUMN os_name TEXT;
ALTER TABLE assets ADD COLUMN os_version TEXT;
UPDATE assets SET agent_id = (SELECT id FROM agents WHERE asset_id = assets.id ORDER BY enrolled_at_ms DESC LIMIT 1);
CREATE INDEX assets_serial ON assets(serial);
CREATE INDEX assets_hostname_lower ON assets(lower(hostname));
CREATE INDEX assets_kind ON assets(kind);
CREATE INDEX assets_last_seen ON assets(last_seen_ms);

-- MAC and IP addresses of assets, from the agent's inventory or from the
-- ledger fields people keep: what matching and unknown devices look up.
CREATE TABLE asset_identifiers (
    asset_id BIGINT NOT NULL REFERENCES assets(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (kind, value, asset_id, source)
);
CREATE INDEX asset_identifiers_asset ON asset_identifiers(asset_id);

CREATE TABLE sites (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local';

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    source TEXT NOT NULL
);

ALTER TABLE audit_log ADD COLUMN source TEXT NOT NULL DEFAULT '';

-- Addresses that agents see in their neighbour (ARP) cache and that match
-- no asset: the operator registers or dismisses them.
CREATE TABLE unknown_devices (
    ip TEXT PRIMARY KEY,
    mac TEXT,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    seen_by_asset BIGINT,
    sightings BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    decided_by TEXT,
    decided_at_ms BIGINT
);

-- API tokens that people make for their scripts: they expire and can be revoked.
ALTER TABLE api_tokens ADD COLUMN expires_at_ms BIGINT;
ALTER TABLE api_tokens ADD COLUMN revoked_at_ms BIGINT;
