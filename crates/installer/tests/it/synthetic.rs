//! Inno Setup, WiX Burn and InstallShield installers cannot be built on
//! Linux. These minimal PE files carry each framework's real marker (taken
//! from the frameworks' sources; see `src/pe.rs`) and nothing else, so they
//! check the recognition logic, not that every real installer of those
//! kinds carries the marker exactly so.

use lanward_installer::{recognise, DetectionRule, ErrorKind, Framework, RegistryTest};
use std::io::{Cursor, Write};

/// A minimal 32-bit PE: DOS header, PE header, optional header (zeros but
/// its magic), the given sections (file-aligned to 0x200), then `overlay`.
pub fn pe(sections: &[(&[u8], Vec<u8>)], overlay: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 0x40];
    f[0..2].copy_from_slice(b"MZ");
    f[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    f.extend_from_slice(b"PE\0\0");
    let mut coff = [0u8; 20];
    coff[0..2].copy_from_slice(&0x14cu16.to_le_bytes());
    coff[2..4].copy_from_slice(&(sections.len() as u16).to_le_bytes());
    coff[16..18].copy_from_slice(&0xe0u16.to_le_bytes());
    coff[18..20].copy_from_slice(&0x0102u16.to_le_bytes());
    f.extend_from_slice(&coff);
    let mut opt = vec![0u8; 0xe0];
    opt[0..2].copy_from_slice(&0x10bu16.to_le_bytes());
    f.extend_from_slice(&opt);
    let headers_end = f.len() + 40 * sections.len();
    let mut at = headers_end.div_ceil(0x200) * 0x200;
    let mut bodies = Vec::new();
    for (i, (name, body)) in sections.iter().enumerate() {
        let size = body.len().div_ceil(0x200) * 0x200;
        let mut h = [0u8; 40];
        h[..name.len()].copy_from_slice(name);
        h[8..12].copy_from_slice(&(body.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(0x1000 * (i as u32 + 1)).to_le_bytes());
        h[16..20].copy_from_slice(&(size as u32).to_le_bytes());
        h[20..24].copy_from_slice(&(at as u32).to_le_bytes());
        f.extend_from_slice(&h);
        bodies.push((at, body.clone()));
        at += size;
    }
    f.resize(at, 0);
    for (off, body) in bodies {
        f[off..off + body.len()].copy_from_slice(&body);
    }
    f.extend_from_slice(overlay);
    f
}

pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn code() -> Vec<u8> {
    vec![0xC3; 0x300]
}

/// A VS_VERSIONINFO resource with the given strings, laid out as rc does.
pub fn version_resource(strings: &[(&str, &str)]) -> Vec<u8> {
    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(|c| c.to_le_bytes())
            .collect()
    }
    fn pad(b: &mut Vec<u8>) {
        while b.len() & 3 != 0 {
            b.push(0);
        }
    }
    fn block(key: &str, value: &[u8], value_len: u16, kind: u16, children: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 6];
        b.extend(utf16z(key));
        pad(&mut b);
        b.extend_from_slice(value);
        pad(&mut b);
        b.extend_from_slice(children);
        let len = b.len() as u16;
        b[0..2].copy_from_slice(&len.to_le_bytes());
        b[2..4].copy_from_slice(&value_len.to_le_bytes());
        b[4..6].copy_from_slice(&kind.to_le_bytes());
        b
    }
    let mut table = Vec::new();
    for (k, v) in strings {
        let value = utf16z(v);
        table.extend(block(k, &value, (value.len() / 2) as u16, 1, &[]));
        pad(&mut table);
    }
    let st = block("041104B0", &[], 0, 1, &table);
    let sfi = block("StringFileInfo", &[], 0, 1, &st);
    let mut fixed = Vec::new();
    for v in [
        0xFEEF_04BDu32,
        0x0001_0000,
        0x0010_0002,
        0x0003_0004,
        0x0010_0002,
        0x0003_0004,
        0x3f,
        0,
        4,
        1,
        0,
        0,
        0,
    ] {
        fixed.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = vec![0u8; 4]; // align the resource within the section
    out.extend(block(
        "VS_VERSION_INFO",
        &fixed,
        fixed.len() as u16,
        0,
        &sfi,
    ));
    out
}

pub fn inno_loader() -> Vec<u8> {
    // Inno 5.1.5+: RCDATA 11111 holds the offset table, ID 'rDlPtS' CD E6 D7 7B 0B 2A.
    let mut rsrc = vec![0u8; 64];
    rsrc.extend_from_slice(b"rDlPtS\xCD\xE6\xD7\x7B\x0B\x2A");
    rsrc.extend_from_slice(&1u32.to_le_bytes());
    rsrc.extend(version_resource(&[
        ("CompanyName", "Vendor KK"),
        ("ProductName", "Inno Test"),
        ("ProductVersion", "3.1"),
    ]));
    pe(
        &[(b".text", code()), (b".rsrc", rsrc)],
        b"zlb\x1a\x00\x00\x00\x00",
    )
}

pub fn inno_data_only() -> Vec<u8> {
    let mut overlay = b"Inno Setup Setup Data (6.2.0) (u)".to_vec();
    overlay.resize(64, 0);
    overlay.extend_from_slice(&[0x55; 300]);
    pe(&[(b".text", code())], &overlay)
}

pub fn burn() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&0x00f1_4300u32.to_le_bytes());
    s.extend_from_slice(&2u32.to_le_bytes());
    // GUID {0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9} in its in-memory layout.
    s.extend_from_slice(&0x0A1B_2C3Du32.to_le_bytes());
    s.extend_from_slice(&0x4E5Fu16.to_le_bytes());
    s.extend_from_slice(&0x6071u16.to_le_bytes());
    s.extend_from_slice(&[0x82, 0x93, 0xA4, 0xB5, 0xC6, 0xD7, 0xE8, 0xF9]);
    s.extend_from_slice(&[0u8; 36]);
    let rsrc = version_resource(&[
        ("ProductName", "Burn Test Bundle"),
        ("ProductVersion", "5.6.7"),
        ("CompanyName", "Bundle Vendor"),
    ]);
    pe(
        &[(b".text", code()), (b".wixburn", s), (b".rsrc", rsrc)],
        b"cabinet container here",
    )
}

pub fn installshield(marker: &[u8]) -> Vec<u8> {
    let mut overlay = marker.to_vec();
    overlay.resize(46, 0);
    overlay.extend_from_slice(&[0xAB; 500]);
    pe(&[(b".text", code())], &overlay)
}

pub fn nsis() -> Vec<u8> {
    let mut overlay = vec![0u8; 4];
    overlay.extend_from_slice(b"\xEF\xBE\xAD\xDENullsoftInst");
    overlay.extend_from_slice(&[0x11; 200]);
    pe(&[(b".text", code())], &overlay)
}

pub fn plain() -> Vec<u8> {
    pe(&[(b".text", code()), (b".data", vec![1; 100])], &[])
}

#[test]
fn inno_setup_by_loader_table_and_by_setup_data() {
    let r = recognise("innotest.exe", Cursor::new(inno_loader())).unwrap();
    assert_eq!(r.framework, Framework::InnoSetup);
    assert_eq!(
        r.silent_command,
        r#""{file}" /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /SP- /LOG="{log}""#
    );
    assert_eq!(r.log_arg.as_deref(), Some(r#"/LOG="{log}""#));
    assert_eq!(r.product_name.as_deref(), Some("Inno Test"));
    assert_eq!(r.publisher.as_deref(), Some("Vendor KK"));
    assert_eq!(r.version.as_deref(), Some("3.1"));

    let r = recognise("inno6.exe", Cursor::new(inno_data_only())).unwrap();
    assert_eq!(r.framework, Framework::InnoSetup);
    assert!(r.notes.iter().any(|n| n.contains("6.2.0")), "{:?}", r.notes);
}

#[test]
fn wix_burn_by_its_section() {
    let r = recognise("bundle.exe", Cursor::new(burn())).unwrap();
    assert_eq!(r.framework, Framework::WixBurn);
    assert_eq!(
        r.silent_command,
        r#""{file}" /quiet /norestart /log "{log}""#
    );
    assert_eq!(
        r.product_code.as_deref(),
        Some("{0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9}")
    );
    assert_eq!(r.product_name.as_deref(), Some("Burn Test Bundle"));
    assert_eq!(
        r.detection_rule_proposal,
        Some(DetectionRule::RegistryValue {
            key: r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\{0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9}".into(),
            value: "BundleVersion".into(),
            test: RegistryTest::MinVersion("5.6.7".into()),
        })
    );
    // The proposal's text form parses back to itself.
    let rule = r.detection_rule_proposal.unwrap();
    assert_eq!(
        lanward_installer::rule::parse(&rule.to_string()).unwrap(),
        rule
    );
}

#[test]
fn installshield_needs_a_response_file() {
    for marker in [b"InstallShield\0".as_slice(), b"ISSetupStream\0"] {
        let r = recognise("setup.exe", Cursor::new(installshield(marker))).unwrap();
        assert_eq!(r.framework, Framework::InstallShield);
        assert!(r.response_file_required);
        assert_eq!(
            r.silent_command,
            r#""{file}" /s /f1"{dir}\setup.iss" /f2"{log}""#
        );
        assert!(r.notes.iter().any(|n| n.contains("setup.iss")));
    }
}

#[test]
fn nsis_marker_at_a_512_byte_boundary() {
    let r = recognise("n.exe", Cursor::new(nsis())).unwrap();
    assert_eq!(r.framework, Framework::Nsis);
    // Off the boundary it is not NSIS's first header.
    let mut off = plain();
    off.extend_from_slice(b"\0\0\0\0\0\0\0\0\xEF\xBE\xAD\xDENullsoftInst");
    assert_eq!(
        recognise("o.exe", Cursor::new(off)).unwrap_err().kind,
        ErrorKind::UnknownExe
    );
}

#[test]
fn unknown_exe_asks_for_the_command_line() {
    let e = recognise("tool.exe", Cursor::new(plain())).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownExe);
    let s = e.to_string();
    assert!(
        s.starts_with("tool.exe: このEXEのインストーラーの種類が分かりません"),
        "{s}"
    );
    assert!(
        s.contains("unknown EXE installer type") && s.contains("give the silent command line"),
        "{s}"
    );
    // A DOS stub without a PE header.
    let mut dos = vec![0u8; 128];
    dos[0..2].copy_from_slice(b"MZ");
    dos[0x3c] = 0x40;
    let e = recognise("dos.exe", Cursor::new(dos)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt);
    assert!(e.message_en.contains("no PE signature"), "{e}");
}
