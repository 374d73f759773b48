//! Integration tests of lanward-netconf.

mod fortios;
mod history;
mod robust;
mod samples;
mod yamaha;
