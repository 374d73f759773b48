//! One integration-test binary for lanward-package.

mod chunks;
mod common;
mod no_panic;
mod signing;
mod state;
