//! Hotfix list (Win32_QuickFixEngineering). Windows only.

use super::{CollectConfig, Collector, Notes};

pub struct HotfixCollector;

impl Collector for HotfixCollector {
    fn section(&self) -> &'static str {
        "hotfixes"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        let value: Vec<lanward_proto::Hotfix> = imp::collect(config, notes)?;
        super::to_json(&value)
    }
}

#[cfg(not(windows))]
mod imp {
    use super::*;
    pub fn collect(_: &CollectConfig, _: &mut Notes) -> Result<Vec<lanward_proto::Hotfix>, String> {
        Err("collected on Windows only".into())
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::hotfixes::collect;
}
