//! Integration tests of lanward-netconf.
mod fortios;
