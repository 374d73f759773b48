#![no_main]
//! Any bytes under any of the names that choose a path through `recognise`
//! (the first byte picks the name): never a panic, never an unbounded
//! allocation; an error must name the file.

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

const NAMES: &[&str] = &[
    "setup.msi",
    "setup.exe",
    "pkg.deb",
    "folder.zip",
    "install.ps1",
    "run.cmd",
    "run.sh",
    "blob.bin",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let name = NAMES[pick as usize % NAMES.len()];
    if let Err(e) = lanward_installer::recognise(name, Cursor::new(rest)) {
        assert!(e.to_string().starts_with(name));
    }
});
