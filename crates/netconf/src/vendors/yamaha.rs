//! Parser for yamaha configurations: being written (see ARCHITECTURE.md);
//! until then every line is reported unrecognised, never guessed.

use crate::model::{Accounting, Device};

pub fn parse(lines: &[&str]) -> Device {
    let mut device = Device::default();
    Accounting::new(lines.len()).finish(lines, &mut device);
    device
}
