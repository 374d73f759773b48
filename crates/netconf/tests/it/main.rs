//! Integration tests of lanward-netconf.

mod fortios;
mod render;
mod robust;
mod samples;
mod yamaha;
