//! Integration tests of lanward-netconf.

mod dialects;
mod fortios;
mod robust;
mod samples;
mod yamaha;
