//! Integration tests of lanward-netconf.

mod bureau;
mod changes;
mod dialects;
mod fortios;
mod history;
mod links;
mod reach;
mod render;
mod robust;
mod samples;
mod yamaha;
