//! Integration tests of lanward-netconf.
