use lanward_package::{
    read_unsigned, sign, sign_file, verify, verify_with_keys, write_unsigned, Error, PublicKey, Refusal, SigningKey,
};

use crate::common::{at, key, manifest, signed, NOW};

#[test]
fn sign_then_verify_round_trip() {
    let k = key(1);
    let s = signed(&k, 7);
    let bytes = s.to_bytes();
    let m = verify(&bytes, &k.public_key(), at(NOW), None).expect("valid manifest verifies");
    assert_eq!(m, manifest(&k, 7));
    // The same serial again (a retried install) is not a rollback.
    assert_eq!(verify(&bytes, &k.public_key(), at(NOW), Some(7)).map(|m| m.serial), Ok(7));
    assert_eq!(verify(&bytes, &k.public_key(), at(NOW), Some(6)).map(|m| m.serial), Ok(7));
    // The signed file is compact JSON in the documented shape.
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with(r#"{"format":"lanward-signed-manifest/1","manifest":{"package":"office-ltsc-2024""#), "{text}");
    assert!(!text.contains('\n'));
}

#[test]
fn unsigned_is_refused_as_unsigned() {
    let k = key(1);
    // A bare manifest, as written for review.
    let bare = serde_json::to_vec(&manifest(&k, 1)).unwrap();
    let r = verify(&bare, &k.public_key(), at(NOW), None).unwrap_err();
    assert_eq!(r, Refusal::Unsigned);
    assert_eq!(r.to_string(), "署名がありません (unsigned)");
    // A signed manifest with its signature removed or emptied.
    let mut v: serde_json::Value = serde_json::from_slice(&signed(&k, 1).to_bytes()).unwrap();
    v["signature"] = "".into();
    assert_eq!(verify(&serde_json::to_vec(&v).unwrap(), &k.public_key(), at(NOW), None), Err(Refusal::Unsigned));
    v.as_object_mut().unwrap().remove("signature");
    assert_eq!(verify(&serde_json::to_vec(&v).unwrap(), &k.public_key(), at(NOW), None), Err(Refusal::Unsigned));
}

#[test]
fn signed_by_another_key_is_refused_naming_it() {
    let ours = key(1);
    let theirs = key(2);
    let bytes = signed(&theirs, 1).to_bytes();
    let r = verify(&bytes, &ours.public_key(), at(NOW), None).unwrap_err();
    assert_eq!(r, Refusal::OtherKey { key_id: theirs.id().to_hex(), pinned: ours.id().to_hex() });
    assert!(r.to_string().starts_with("別の鍵で署名されています (signed by another key: "));
    assert!(r.to_string().contains(&theirs.id().to_hex()));

    // Another key that claims to be ours (key_id rewritten) is tampering.
    let mut m = manifest(&theirs, 1);
    m.key_id = theirs.id();
    let mut s = sign(&m, &theirs).unwrap();
    s.manifest.key_id = ours.id();
    assert_eq!(verify(&s.to_bytes(), &ours.public_key(), at(NOW), None), Err(Refusal::Tampered));
}

#[test]
fn changed_field_is_tampered() {
    let k = key(1);
    let mut s = signed(&k, 5);
    s.manifest.serial = 6;
    let r = verify(&s.to_bytes(), &k.public_key(), at(NOW), None).unwrap_err();
    assert_eq!(r, Refusal::Tampered);
    assert_eq!(r.to_string(), "改ざんされています (signature does not match)");

    let mut s = signed(&k, 5);
    s.manifest.installer["args"][0] = "/qb".into();
    assert_eq!(verify(&s.to_bytes(), &k.public_key(), at(NOW), None), Err(Refusal::Tampered));
    let mut s = signed(&k, 5);
    s.manifest.content.chunks.swap(0, 1);
    assert_eq!(verify(&s.to_bytes(), &k.public_key(), at(NOW), None), Err(Refusal::Tampered));
}

#[test]
fn every_flipped_byte_is_refused() {
    let k = key(1);
    let bytes = signed(&k, 5).to_bytes();
    let mut kinds = std::collections::BTreeMap::new();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x20, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            match verify(&b, &k.public_key(), at(NOW), None) {
                Ok(m) => panic!("byte {i} ^ {mask:#x} ({:?}) accepted: {m:?}", bytes[i] as char),
                Err(r) => *kinds.entry(r.code()).or_insert(0) += 1,
            }
        }
    }
    // Both meaning changes (tampered) and syntax damage (malformed) occur.
    assert!(kinds.get("tampered").copied().unwrap_or(0) > 100, "{kinds:?}");
    assert!(kinds.get("malformed").copied().unwrap_or(0) > 100, "{kinds:?}");
}

#[test]
fn expired_is_refused_with_the_time() {
    let k = key(1);
    let bytes = signed(&k, 1).to_bytes();
    let expires = NOW + 86_400;
    assert!(verify(&bytes, &k.public_key(), at(expires - 1), None).is_ok());
    let r = verify(&bytes, &k.public_key(), at(expires), None).unwrap_err();
    assert_eq!(r, Refusal::Expired { expires_at: expires, now: expires });
    assert_eq!(r.to_string(), "期限切れです (expired at 2026-11-30T00:00:00Z)");
}

#[test]
fn replayed_older_serial_is_refused() {
    let k = key(1);
    let old = signed(&k, 4).to_bytes();
    let r = verify(&old, &k.public_key(), at(NOW), Some(5)).unwrap_err();
    assert_eq!(r, Refusal::Rollback { package: "office-ltsc-2024".into(), serial: 4, seen: 5 });
    assert!(r.to_string().starts_with("以前の版より古いです (older than serial 5 already seen"), "{r}");
}

#[test]
fn truncated_json_is_malformed_naming_the_field() {
    let k = key(1);
    let bytes = signed(&k, 1).to_bytes();
    for len in 0..bytes.len() {
        match verify(&bytes[..len], &k.public_key(), at(NOW), None) {
            Err(Refusal::Malformed { .. }) => {}
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
    // Cut inside the chunk list: the refusal names where.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let cut = text.find(r#""size":4096}"#).unwrap() + 8;
    match verify(&bytes[..cut], &k.public_key(), at(NOW), None) {
        Err(Refusal::Malformed { field, .. }) => assert!(field.starts_with("manifest.content.chunks[0]"), "{field}"),
        other => panic!("{other:?}"),
    }
    // A wrong type names the field too.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["manifest"]["serial"] = "five".into();
    match verify(&serde_json::to_vec(&v).unwrap(), &k.public_key(), at(NOW), None) {
        Err(r @ Refusal::Malformed { .. }) => {
            assert!(r.to_string().starts_with("形式が正しくありません: manifest.serial (malformed: "), "{r}")
        }
        other => panic!("{other:?}"),
    }
    // An unknown field is refused, not ignored (it would be unsigned).
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["manifest"]["run_as"] = "SYSTEM".into();
    assert!(matches!(verify(&serde_json::to_vec(&v).unwrap(), &k.public_key(), at(NOW), None), Err(Refusal::Malformed { .. })));
}

#[test]
fn signing_refuses_inconsistent_or_foreign_manifests() {
    let k = key(1);
    let mut m = manifest(&k, 1);
    m.installer["ratio"] = serde_json::json!(0.5);
    match sign(&m, &k) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "manifest.installer.ratio"),
        other => panic!("{other:?}"),
    }
    let m = manifest(&key(2), 1);
    assert!(matches!(sign(&m, &k), Err(Error::KeyMismatch { .. })));
}

#[test]
fn offline_signing_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("signing.key");
    let pub_file = dir.path().join("signing.pub");
    let unsigned = dir.path().join("office.manifest.json");
    let signed_file = dir.path().join("office.manifest.signed.json");

    // On the signing machine, once.
    let k = SigningKey::generate();
    k.save(&key_file).unwrap();
    k.public_key().save(&pub_file).unwrap();
    // On the server: the unsigned manifest, for review.
    write_unsigned(&manifest(&k, 3), &unsigned).unwrap();
    assert_eq!(read_unsigned(&unsigned).unwrap(), manifest(&k, 3));
    // Back on the signing machine, with only the key file.
    let s = sign_file(&unsigned, &key_file, &signed_file).unwrap();
    // On the agent, with only the public key.
    let pinned = PublicKey::load(&pub_file).unwrap();
    let bytes = std::fs::read(&signed_file).unwrap();
    assert_eq!(bytes, s.to_bytes());
    assert_eq!(verify(&bytes, &pinned, at(NOW), None).unwrap().serial, 3);
    assert_eq!(PublicKey::from_base64(&pinned.to_base64()), Ok(pinned));

    // A damaged unsigned file is refused naming the file and field.
    let text = std::fs::read_to_string(&unsigned).unwrap().replace("\"serial\": 3", "\"serial\": -3");
    std::fs::write(&unsigned, text).unwrap();
    let e = sign_file(&unsigned, &key_file, &signed_file).unwrap_err().to_string();
    assert!(e.contains("office.manifest.json") && e.contains("serial"), "{e}");
}

#[test]
fn key_files_load_back_and_refuse_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let k = key(9);
    k.save(&path).unwrap();
    let loaded = SigningKey::load(&path).unwrap();
    assert_eq!(loaded.id(), k.id());
    assert_eq!(loaded.public_key(), k.public_key());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("lanward-package-signing-key v1\nkey-id: "), "{text}");
    assert!(!format!("{loaded:?}").contains(text.lines().nth(2).unwrap().trim_start_matches("secret: ")));

    // One character of the secret changed: the key id line no longer fits.
    let secret_at = text.find("secret: ").unwrap() + 8;
    let mut damaged = text.into_bytes();
    damaged[secret_at] = if damaged[secret_at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&path, &damaged).unwrap();
    let e = SigningKey::load(&path).unwrap_err().to_string();
    assert!(e.contains("key-id") && e.contains(&path.display().to_string()), "{e}");
    // A public key file is not a signing key.
    k.public_key().save(&path).unwrap();
    assert!(SigningKey::load(&path).unwrap_err().to_string().contains("first line"));
    assert!(PublicKey::from_base64("AAAA").is_err());
    // The identity point: a small-order key that would accept forgeries.
    let e = PublicKey::from_base64("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap_err();
    assert!(e.contains("weak"), "{e}");
}

#[cfg(unix)]
#[test]
fn key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.key");
    key(3).save(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    // A key file is never overwritten (the old key would be lost).
    let e = key(4).save(&path).unwrap_err().to_string();
    assert!(e.contains("signing.key") && e.contains("never overwritten"), "{e}");
    assert_eq!(SigningKey::load(&path).unwrap().id(), key(3).id());
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn trailing_data_is_refused() {
    let k = key(1);
    // Whitespace after the document changes no meaning (an editor's final
    // newline); anything else is refused.
    let mut spaced = signed(&k, 1).to_bytes();
    spaced.extend_from_slice(b"\r\n");
    assert!(verify(&spaced, &k.public_key(), at(NOW), None).is_ok());
    for tail in [&b"x"[..], b"{}", b"\"}", b"0"] {
        let mut bytes = signed(&k, 1).to_bytes();
        bytes.extend_from_slice(tail);
        match verify(&bytes, &k.public_key(), at(NOW), None) {
            Err(Refusal::Malformed { field, .. }) => assert_eq!(field, "(document)"),
            other => panic!("{tail:?}: {other:?}"),
        }
    }
}

#[test]
fn key_rotation_trusts_each_pinned_key() {
    let (old, new) = (key(1), key(2));
    let pinned = [old.public_key(), new.public_key()];
    assert_eq!(verify_with_keys(&signed(&old, 1).to_bytes(), &pinned, at(NOW), None).map(|m| m.key_id), Ok(old.id()));
    assert_eq!(verify_with_keys(&signed(&new, 2).to_bytes(), &pinned, at(NOW), None).map(|m| m.key_id), Ok(new.id()));
    let r = verify_with_keys(&signed(&key(3), 1).to_bytes(), &pinned, at(NOW), None).unwrap_err();
    assert_eq!(r, Refusal::OtherKey { key_id: key(3).id().to_hex(), pinned: format!("{}, {}", old.id(), new.id()) });
    // Signed by the old key but claiming the new key's id: tampered.
    let mut s = signed(&old, 1);
    s.manifest.key_id = new.id();
    assert_eq!(verify_with_keys(&s.to_bytes(), &pinned, at(NOW), None), Err(Refusal::Tampered));
    assert_eq!(verify_with_keys(&signed(&old, 1).to_bytes(), &[], at(NOW), None).unwrap_err().code(), "other_key");
}
