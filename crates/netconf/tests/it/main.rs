//! Integration tests of lanward-netconf.

mod changes;
mod fortios;
mod history;
mod links;
mod reach;
mod robust;
mod samples;
mod yamaha;
