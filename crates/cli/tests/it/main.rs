//! End-to-end tests: the real `lanward` server process and the real
//! `lanward-agent` process (or the agent library) on loopback.

mod browser_harness;
mod cli_ledger;
mod console;
mod deploy;
mod deploy_wan;
mod bad_input;
mod enrolment;
mod faults;
mod ledger;
mod mail;
mod net;
mod net_change;
mod roles;
mod support;
mod users_audit;
mod wine;
mod oplog;
