//! An uploaded ledger file: CSV (UTF-8 / Shift_JIS) or .xlsx, read, mapped
//! and planned against a small ledger. Must never panic.
#![no_main]
use lanward_ledger::import::{guess_mapping, plan, read_table, Existing, ExistingAsset};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = if data.starts_with(b"PK") { "ledger.xlsx" } else { "ledger.csv" };
    if let Ok(table) = read_table(name, data) {
        let existing = Existing {
            sites: vec![("HQ".into(), "本庁舎".into())],
            assets: vec![ExistingAsset { id: 1, hostname: "SUIDO-PC-0001".into(), kind: "pc".into(), site: "HQ".into(), serial: Some("JP1".into()), ..Default::default() }],
        };
        let _ = plan(&table, &guess_mapping(&table.headers), &existing);
    }
});
