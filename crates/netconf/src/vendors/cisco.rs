//! Cisco IOS/IOS-XE and the dialects that share its syntax.

use crate::model::{Accounting, Device, Vendor};

pub fn parse(lines: &[&str], _vendor: Vendor) -> Device {
    let mut device = Device::default();
    Accounting::new(lines.len()).finish(lines, &mut device);
    device
}
