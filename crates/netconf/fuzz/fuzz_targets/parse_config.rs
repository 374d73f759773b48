#![no_main]
//! Any bytes as a configuration file, of any vendor the content suggests:
//! never a panic; a parsed device accounts for every line exactly once; an
//! error names the file.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match lanward_netconf::parse_config("f.cfg", data) {
        Ok(d) => {
            let text = lanward_netconf::decode("f.cfg", data).expect("decoded once already");
            let lines = text.split('\n').count() - usize::from(text.ends_with('\n'));
            let c = d.coverage;
            assert_eq!(c.modelled + c.ignored + c.unmodelled + c.unrecognised, lines);
            let _ = lanward_netconf::analysis::analyse(vec![d], Vec::new());
        }
        Err(e) => assert!(e.to_string().starts_with("f.cfg")),
    }
});
