//! Antivirus products (SecurityCenter2) and Trend Micro Apex One versions. Windows only.

use super::{CollectConfig, Collector, Notes};

pub struct AntivirusCollector;

impl Collector for AntivirusCollector {
    fn section(&self) -> &'static str {
        "antivirus"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        let value: lanward_proto::Antivirus = imp::collect(config, notes)?;
        super::to_json(&value)
    }
}

#[cfg(not(windows))]
mod imp {
    use super::*;
    pub fn collect(_: &CollectConfig, _: &mut Notes) -> Result<lanward_proto::Antivirus, String> {
        Err("collected on Windows only".into())
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::antivirus::collect;
}
