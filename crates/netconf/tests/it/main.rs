//! Integration tests of lanward-netconf.

mod fortios;
mod robust;
mod samples;
mod yamaha;
