-- Software distribution: packages (content lives in DATA/chunks), deployments
-- and one row per PC of a deployment.
CREATE TABLE packages (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    serial BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    framework TEXT NOT NULL,
    command TEXT NOT NULL,
    detection TEXT,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    unsigned_manifest TEXT NOT NULL,
    signed_manifest TEXT,
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (name, version),
    UNIQUE (name, serial)
);

CREATE TABLE deployments (
    id BIGSERIAL PRIMARY KEY,
    package_id BIGINT NOT NULL REFERENCES packages(id),
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    plan TEXT NOT NULL,
    memory TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE deployment_targets (
    deployment_id BIGINT NOT NULL REFERENCES deployments(id),
    asset_id BIGINT NOT NULL REFERENCES assets(id),
    wave BIGINT NOT NULL,
    site TEXT NOT NULL,
    department TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    server_bytes BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 1,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (deployment_id, asset_id)
);
CREATE INDEX deployment_targets_asset ON deployment_targets(asset_id);
