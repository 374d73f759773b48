//! Integration tests of lanward-netconf.

mod robust;
mod samples;
mod yamaha;
