//! Registry values the administrator listed in the collection config. Windows only.

use super::{CollectConfig, Collector, Notes};

pub struct RegistryCollector;

impl Collector for RegistryCollector {
    fn section(&self) -> &'static str {
        "registry"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        let value: Vec<lanward_proto::RegistryValue> = imp::collect(config, notes)?;
        super::to_json(&value)
    }
}

#[cfg(not(windows))]
mod imp {
    use super::*;
    pub fn collect(_: &CollectConfig, _: &mut Notes) -> Result<Vec<lanward_proto::RegistryValue>, String> {
        Err("collected on Windows only".into())
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::registry::collect;
}
