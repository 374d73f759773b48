//! The property the fuzz target checks (`crates/package/fuzz`), run
//! deterministically in every `cargo test`: `verify` never panics, and
//! accepts nothing but the one genuine manifest.

use lanward_package::verify;

use crate::common::{at, key, signed, Rng, NOW};

#[test]
fn verify_never_panics_on_random_or_mutated_input() {
    let k = key(1);
    let pinned = k.public_key();
    let genuine = signed(&k, 3).to_bytes();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for round in 0..4000 {
        let input: Vec<u8> = match round % 4 {
            // Random bytes, sometimes starting like JSON.
            0 => {
                let n = rng.below(300);
                let mut v: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                if rng.below(2) == 0 {
                    v.insert(0, b'{');
                }
                v
            }
            // A few random byte changes.
            1 => {
                let mut v = genuine.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(v.len());
                    v[i] = rng.next() as u8;
                }
                v
            }
            // Splices: delete, duplicate or insert JSON punctuation.
            2 => {
                let mut v = genuine.clone();
                let a = rng.below(v.len());
                let b = (a + rng.below(40)).min(v.len());
                match rng.below(3) {
                    0 => {
                        v.drain(a..b);
                    }
                    1 => {
                        let piece = v[a..b].to_vec();
                        v.splice(a..a, piece);
                    }
                    _ => {
                        let tokens: [&[u8]; 8] = [b"{", b"}", b"[", b"]", b"\"", b",", b"null", b"\\u0000"];
                        let t = tokens[rng.below(tokens.len())];
                        v.splice(a..a, t.iter().copied());
                    }
                }
                v
            }
            // Structured: valid JSON with values of the wrong kind or size.
            _ => {
                let mut j: serde_json::Value = serde_json::from_slice(&genuine).unwrap();
                let weird = [
                    serde_json::json!(null),
                    serde_json::json!(-1),
                    serde_json::json!(u64::MAX),
                    serde_json::json!(1e308),
                    serde_json::json!(""),
                    serde_json::json!([]),
                    serde_json::json!({}),
                    serde_json::json!("ＡＢＣ水道"),
                ];
                let w = weird[rng.below(weird.len())].clone();
                let fields = [
                    "/format",
                    "/signature",
                    "/manifest/serial",
                    "/manifest/expires_at",
                    "/manifest/created_at",
                    "/manifest/content/chunk_size",
                    "/manifest/content/total_size",
                    "/manifest/content/chunks/0/size",
                    "/manifest/content/chunks",
                    "/manifest/installer",
                    "/manifest/key_id",
                    "/manifest/package",
                ];
                if let Some(slot) = j.pointer_mut(fields[rng.below(fields.len())]) {
                    *slot = w;
                }
                serde_json::to_vec(&j).unwrap()
            }
        };
        let last_seen = [None, Some(0), Some(3), Some(u64::MAX)][rng.below(4)];
        if verify(&input, &pinned, at(NOW), last_seen).is_ok() {
            assert_eq!(input, genuine, "round {round}: accepted something other than the genuine manifest");
            accepted += 1;
        }
    }
    // Sanity: the mutators did not all miss (some inputs equal the genuine
    // one only by chance, so this is just "no crash", plus the check above).
    let _ = accepted;
    assert!(verify(&genuine, &pinned, at(NOW), None).is_ok());
}
