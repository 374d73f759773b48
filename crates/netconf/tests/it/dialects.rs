//! AlliedWare Plus, ALAXALA AX and NEC IX: the Cisco-like dialects of
//! `vendors/cisco.rs`, from hand-written fixtures of bureau-like devices.

use lanward_netconf::*;

const AWPLUS: &str = include_str!("../fixtures/awplus/x530-honkan-core.cfg");
const ALAXALA: &str = include_str!("../fixtures/alaxala/ax2630s-kita-floor.cfg");
const NECIX: &str = include_str!("../fixtures/necix/ix2215-nishi-branch.cfg");

#[test]
fn dump() {
    for (f, t) in [("aw", AWPLUS), ("ax", ALAXALA), ("ix", NECIX)] {
        let d = parse_config(f, t.as_bytes()).unwrap();
        eprintln!("{f}: {:?} {:?}", d.vendor, d.coverage);
        for n in &d.line_notes {
            eprintln!("  {:?} {} {}", n.class, n.line, n.text);
        }
    }
}
