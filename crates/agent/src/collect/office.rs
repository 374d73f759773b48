//! Office Click-to-Run version and channel. Windows only.

use super::{CollectConfig, Collector, Notes};

pub struct OfficeCollector;

impl Collector for OfficeCollector {
    fn section(&self) -> &'static str {
        "office"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        let value: Option<lanward_proto::Office> = imp::collect(config, notes)?;
        super::to_json(&value)
    }
}

#[cfg(not(windows))]
mod imp {
    use super::*;
    pub fn collect(_: &CollectConfig, _: &mut Notes) -> Result<Option<lanward_proto::Office>, String> {
        Err("collected on Windows only".into())
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::office::collect;
}
