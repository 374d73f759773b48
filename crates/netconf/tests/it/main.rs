//! Integration tests of lanward-netconf.

mod changes;
mod fortios;
mod history;
mod robust;
mod samples;
mod yamaha;
