//! Ledger imports waiting for the operator's confirmation. An upload is
//! read and planned at once (nothing written); the table stays here, in
//! memory, until the operator applies it, changes its column mapping or
//! it expires. Applying plans again against the store as it is then, so
//! what is written is what the last preview showed unless someone changed
//! the ledger in between (then the new plan is what gets applied).

use lanward_ledger::import::{Action, Existing, ExistingAsset, Mapping, Plan, Table};
use lanward_store::{FieldChange, LedgerWrite, Store};

/// A pending import lives this long.
pub const TTL_MS: i64 = 60 * 60 * 1000;
/// At most this many pending imports are kept (oldest dropped).
pub const MAX_PENDING: usize = 32;

#[derive(Clone)]
pub struct PendingImport {
    pub id: String,
    /// The user who uploaded it; only they can apply it.
    pub owner: String,
    pub file_name: String,
    pub sha256: String,
    pub table: Table,
    pub mapping: Mapping,
    pub created_ms: i64,
}

/// The ledger as the planner needs it.
pub fn existing(store: &dyn Store) -> lanward_store::Result<Existing> {
    let sites = store.sites()?.into_iter().map(|s| (s.code, s.name)).collect();
    let assets = store
        .ledger_snapshot()?
        .into_iter()
        .map(|a| ExistingAsset { id: a.id, hostname: a.hostname, kind: a.kind, site: a.site, serial: a.serial, macs: a.macs, has_agent: a.has_agent, fields: a.fields })
        .collect();
    Ok(Existing { sites, assets })
}

/// The store writes that apply a plan's valid rows. Call only for a plan
/// without invalid rows (the server refuses to apply half a file).
pub fn writes(plan: &Plan) -> Vec<LedgerWrite> {
    let mut out = Vec::new();
    for row in &plan.rows {
        match &row.action {
            Action::Create => {
                let mut fields: Vec<FieldChange> = row.fields.iter().map(|(f, v)| FieldChange { field: f.clone(), value: Some(v.clone()) }).collect();
                if let Some(serial) = &row.serial {
                    fields.push(FieldChange { field: "serial".into(), value: Some(serial.clone()) });
                }
                out.push(LedgerWrite::Create {
                    hostname: row.hostname.clone(),
                    kind: row.kind.clone().unwrap_or_else(|| "other".into()),
                    site: row.site.clone().unwrap_or_default(),
                    fields,
                });
            }
            Action::Update { asset_id, changes } => out.push(LedgerWrite::Update {
                asset_id: *asset_id,
                changes: changes.iter().map(|c| FieldChange { field: c.field.clone(), value: c.new.clone() }).collect(),
            }),
            Action::Unchanged { .. } | Action::Invalid { .. } => {}
        }
    }
    out
}
