//! Integration tests of lanward-netconf.

mod changes;
mod dialects;
mod fortios;
mod history;
mod links;
mod reach;
mod robust;
mod samples;
mod yamaha;
