//! The no-panic property on damaged input: `recognise` over a few thousand
//! deterministic mutations (bit flips, overwritten length fields, cuts,
//! inserted and deleted runs) of real built fixtures (MSI, NSIS, .deb, when
//! their tools are here) and of the synthetic ones. Every result must be
//! `Ok` or a named error; a panic fails the test with the mutation's seed.
//! The fuzz target `crates/installer/fuzz` explores further.

use lanward_installer::recognise;
use std::io::Cursor;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(base: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        match rng.below(6) {
            0 => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            2 => {
                // A length or offset field gone wild.
                let i = rng.below(b.len().saturating_sub(4));
                let v: u32 = [
                    0,
                    0xFFFF_FFFF,
                    0x7FFF_FFFF,
                    0x8000_0000,
                    0xFFFF,
                    rng.next() as u32,
                ][rng.below(6)];
                let end = (i + 4).min(b.len());
                b[i..end].copy_from_slice(&v.to_le_bytes()[..end - i]);
            }
            3 => {
                let n = rng.below(b.len());
                b.truncate(n);
            }
            4 => {
                let i = rng.below(b.len());
                let n = 1 + rng.below(64);
                let run: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(i..i, run);
            }
            _ => {
                let i = rng.below(b.len());
                let n = rng.below(64).min(b.len() - i);
                b.drain(i..i + n);
            }
        }
    }
    b
}

#[test]
fn thousands_of_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut fixtures: Vec<(&str, Vec<u8>)> = vec![
        ("inno.exe", super::synthetic::inno_loader()),
        ("inno6.exe", super::synthetic::inno_data_only()),
        ("bundle.exe", super::synthetic::burn()),
        (
            "setup.exe",
            super::synthetic::installshield(b"InstallShield\0"),
        ),
        ("nsis.exe", super::synthetic::nsis()),
        (
            "tool.zip",
            super::synthetic::zip(&[
                ("app/install.ps1", b"x".as_slice()),
                ("app/a.bin", &[7; 300]),
            ]),
        ),
    ];
    if let Some(p) = super::build_msi(dir.path()) {
        fixtures.push(("app.msi", std::fs::read(p).unwrap()));
    }
    if let Some(p) = super::build_nsis(dir.path()) {
        fixtures.push(("app-setup.exe", std::fs::read(p).unwrap()));
    }
    for z in ["xz", "gzip", "zstd"] {
        if let Some(p) = super::build_deb(dir.path(), z) {
            fixtures.push(("hello.deb", std::fs::read(p).unwrap()));
        }
    }
    // Every fixture is recognised before it is damaged.
    for (name, bytes) in &fixtures {
        recognise(name, Cursor::new(bytes)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    }
    let per = 4000usize.div_ceil(fixtures.len()).max(300);
    let (mut ok, mut err, mut total) = (0, 0, 0);
    for (fi, (name, bytes)) in fixtures.iter().enumerate() {
        for i in 0..per {
            let seed = 0x9E37_79B9_7F4A_7C15u64 ^ ((fi as u64) << 32 | i as u64);
            let mut rng = Rng(seed | 1);
            let m = mutate(bytes, &mut rng);
            let res = std::panic::catch_unwind(|| recognise(name, Cursor::new(&m)));
            match res {
                Ok(Ok(_)) => ok += 1,
                Ok(Err(e)) => {
                    assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
                    err += 1
                }
                Err(_) => panic!("recognise panicked on mutation seed {seed:#x} of {name}"),
            }
            total += 1;
        }
    }
    println!("{total} mutations: {ok} still recognised, {err} named errors, no panic");
    assert!(total >= 2000);
}
