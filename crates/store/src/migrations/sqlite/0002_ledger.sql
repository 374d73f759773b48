-- The ledger: fields people keep about an asset (location, department,
-- vendor, dates, status, tags, notes...), one row per field so that new
-- fields need no migration; and the history of every change.
CREATE TABLE asset_fields (
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (asset_id, field)
);
CREATE INDEX asset_fields_value ON asset_fields(field, value);

CREATE TABLE asset_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    actor TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX asset_history_asset ON asset_history(asset_id, id);
