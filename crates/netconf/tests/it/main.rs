//! Integration tests of lanward-netconf.
mod yamaha;
