//! lanward-installer against real installers built here: an MSI from
//! `wixl` (Debian `wixl`/`msitools`), an NSIS installer from `makensis`
//! (Debian `nsis`) and .deb packages from `dpkg-deb`. Inno Setup, WiX Burn
//! and InstallShield cannot be built on Linux: `synthetic.rs` checks their
//! recognition on minimal PE files that carry the frameworks' real markers.
//!
//! A test whose tool is missing prints why and passes, unless `CI=true`,
//! where it fails (`.ci/run` installs the tools).

mod mutate;
mod synthetic;

use lanward_installer::{recognise, recognise_path, DetectionRule, ErrorKind, Framework};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tool's path, or `None` (test skipped) when it is missing outside CI.
pub fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{name} is missing: CI needs Debian's `{package}` package (.ci/run installs it)"
            );
        }
        eprintln!("SKIPPED: {name} is not installed (apt-get install -y {package}); this test checks nothing here");
    }
    found
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub const PRODUCT_CODE: &str = "{8E2F1A3B-1234-4C4C-9A9A-0123456789AB}";

/// Builds a small MSI with wixl; `None` if wixl is missing (outside CI).
pub fn build_msi(dir: &Path) -> Option<PathBuf> {
    let wixl = tool("wixl", "wixl")?;
    std::fs::write(dir.join("readme.txt"), "lanward test\n").unwrap();
    // wixl 0.101 handles ASCII .wxs only (see packaging/windows).
    std::fs::write(
        dir.join("app.wxs"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="8E2F1A3B-1234-4C4C-9A9A-0123456789AB" Name="Lanward Test App" Version="1.2.3"
           Manufacturer="Waterworks Test Bureau" UpgradeCode="11111111-2222-3333-4444-555555555555" Language="1033">
    <Package InstallerVersion="200" Compressed="yes" InstallScope="perMachine"/>
    <Media Id="1" Cabinet="app.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="LanwardTest">
          <Component Id="Main" Guid="AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE">
            <File Id="readme" Source="readme.txt"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="All" Level="1"><ComponentRef Id="Main"/></Feature>
  </Product>
</Wix>
"#,
    )
    .unwrap();
    let out = dir.join("app.msi");
    run(Command::new(wixl)
        .current_dir(dir)
        .arg("-o")
        .arg(&out)
        .arg("app.wxs"));
    Some(out)
}

pub fn build_nsis(dir: &Path) -> Option<PathBuf> {
    let makensis = tool("makensis", "nsis")?;
    std::fs::write(dir.join("readme.txt"), "lanward test\n").unwrap();
    std::fs::write(
        dir.join("app.nsi"),
        r#"Name "Lanward NSIS Test"
OutFile "app-setup.exe"
InstallDir "$TEMP\lanward-nsis-test"
RequestExecutionLevel user
VIProductVersion "4.5.6.7"
VIAddVersionKey "ProductName" "Lanward NSIS Test"
VIAddVersionKey "CompanyName" "Waterworks Test Bureau"
VIAddVersionKey "ProductVersion" "4.5.6"
VIAddVersionKey "FileVersion" "4.5.6.7"
VIAddVersionKey "FileDescription" "test installer"
VIAddVersionKey "LegalCopyright" "none"
Section
  SetOutPath $INSTDIR
  File "readme.txt"
SectionEnd
"#,
    )
    .unwrap();
    run(Command::new(makensis)
        .current_dir(dir)
        .arg("-V2")
        .arg("app.nsi"));
    Some(dir.join("app-setup.exe"))
}

/// Builds `lanward-hello_2.10-3` with the given dpkg-deb compression.
pub fn build_deb(dir: &Path, compression: &str) -> Option<PathBuf> {
    let dpkg_deb = tool("dpkg-deb", "dpkg")?;
    let root = dir.join(format!("pkg-{compression}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/doc/lanward-hello")).unwrap();
    std::fs::write(root.join("usr/share/doc/lanward-hello/README"), "hello\n").unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: lanward-hello\nVersion: 2.10-3\nArchitecture: all\nMaintainer: Waterworks Test <it@example.org>\nDescription: lanward test package\n a longer description\n",
    )
    .unwrap();
    let out = dir.join(format!("lanward-hello_{compression}.deb"));
    run(Command::new(dpkg_deb)
        .arg("--root-owner-group")
        .arg(format!("-Z{compression}"))
        .arg("--build")
        .arg(&root)
        .arg(&out));
    Some(out)
}

#[test]
fn msi_built_by_wixl_is_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(msi) = build_msi(dir.path()) else {
        return;
    };
    let r = recognise_path(&msi).unwrap();
    assert_eq!(r.framework, Framework::Msi);
    assert_eq!(r.product_code.as_deref(), Some(PRODUCT_CODE));
    assert_eq!(r.version.as_deref(), Some("1.2.3"));
    assert_eq!(r.product_name.as_deref(), Some("Lanward Test App"));
    assert_eq!(r.publisher.as_deref(), Some("Waterworks Test Bureau"));
    assert_eq!(
        r.upgrade_code.as_deref(),
        Some("{11111111-2222-3333-4444-555555555555}")
    );
    assert_eq!(
        r.silent_command,
        r#"msiexec /i "{file}" /qn REBOOT=ReallySuppress /l*v "{log}""#
    );
    assert_eq!(r.log_arg.as_deref(), Some(r#"/l*v "{log}""#));
    assert_eq!(
        r.command_for(
            r"C:\ProgramData\lanward\cache\app.msi",
            r"C:\ProgramData\lanward\logs\1.log",
            r"C:\x"
        ),
        r#"msiexec /i "C:\ProgramData\lanward\cache\app.msi" /qn REBOOT=ReallySuppress /l*v "C:\ProgramData\lanward\logs\1.log""#
    );
    let rule = r.detection_rule_proposal.clone().unwrap();
    assert_eq!(
        rule,
        DetectionRule::MsiProductCode {
            code: PRODUCT_CODE.into(),
            min_version: Some("1.2.3".into())
        }
    );
    assert_eq!(rule.to_string(), format!("msi:{PRODUCT_CODE}>=1.2.3"));
    // Serialisable for the API.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["framework"], "msi");
    assert_eq!(json["detection_rule_proposal"]["type"], "msi_product_code");
}

#[test]
fn msi_cut_in_half_or_random_after_header_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let Some(msi) = build_msi(dir.path()) else {
        return;
    };
    let bytes = std::fs::read(&msi).unwrap();
    let half = &bytes[..bytes.len() / 2];
    let e = recognise("half.msi", Cursor::new(half)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().starts_with("half.msi: "), "{e}");
    println!("cut in half: {e}");

    let mut junk = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..8192 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        junk.push(x as u8);
    }
    let e = recognise("junk.msi", Cursor::new(&junk)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(
        e.message.contains("MSI") && e.message_en.contains("MSI"),
        "{e}"
    );
    println!("random after the header: {e}");

    // The OLE header alone.
    let e = recognise("eight.msi", Cursor::new(&junk[..8])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    // An .msi that is not an OLE file at all.
    let e = recognise("text.msi", Cursor::new(b"hello")).unwrap_err();
    assert!(
        e.message_en
            .contains("the extension is .msi but the MSI (OLE compound file) header is missing"),
        "{e}"
    );
}

#[test]
fn nsis_built_by_makensis_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = build_nsis(dir.path()) else {
        return;
    };
    let r = recognise_path(&exe).unwrap();
    assert_eq!(r.framework, Framework::Nsis);
    assert_eq!(r.silent_command, r#""{file}" /S"#);
    assert_eq!(r.log_arg, None);
    assert_eq!(r.product_name.as_deref(), Some("Lanward NSIS Test"));
    assert_eq!(r.publisher.as_deref(), Some("Waterworks Test Bureau"));
    assert_eq!(r.version.as_deref(), Some("4.5.6"));
    assert!(r.detection_rule_proposal.is_none());

    // Cut short: the NSIS header is gone or a section runs past the end.
    let bytes = std::fs::read(&exe).unwrap();
    for cut in [100, 1000, bytes.len() / 3] {
        let res = recognise("cut.exe", Cursor::new(&bytes[..cut]));
        let e = res.unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::Corrupt | ErrorKind::UnknownExe),
            "{cut}: {e}"
        );
        println!("NSIS cut at {cut}: {e}");
    }
}

#[test]
fn deb_built_by_dpkg_deb_is_read_with_each_compression() {
    let dir = tempfile::tempdir().unwrap();
    for compression in ["xz", "gzip", "zstd", "none"] {
        let Some(deb) = build_deb(dir.path(), compression) else {
            return;
        };
        let r = recognise_path(&deb).unwrap_or_else(|e| panic!("{compression}: {e}"));
        assert_eq!(r.framework, Framework::Deb);
        assert_eq!(
            r.product_name.as_deref(),
            Some("lanward-hello"),
            "{compression}"
        );
        assert_eq!(r.version.as_deref(), Some("2.10-3"), "{compression}");
        assert_eq!(
            r.publisher.as_deref(),
            Some("Waterworks Test <it@example.org>")
        );
        assert_eq!(
            r.silent_command,
            r#"apt-get install -y --no-install-recommends "{file}""#
        );
        let rule = r.detection_rule_proposal.unwrap();
        assert_eq!(rule.to_string(), "deb:lanward-hello>=2.10-3");
    }
    let deb = dir.path().join("lanward-hello_xz.deb");
    let bytes = std::fs::read(deb).unwrap();
    let e = recognise("cut.deb", Cursor::new(&bytes[..bytes.len() / 2])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt);
    println!("deb cut in half: {e}");
}

#[test]
fn scripts_and_zip_folders() {
    for (name, fw, cmd) in [
        (
            "install.ps1",
            Framework::PowerShell,
            r#"powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{file}""#,
        ),
        ("setup.CMD", Framework::Cmd, r#"cmd.exe /d /c "{file}""#),
        ("x.bat", Framework::Cmd, r#"cmd.exe /d /c "{file}""#),
        ("install.sh", Framework::Shell, r#"/bin/sh "{file}""#),
    ] {
        let r = recognise(name, Cursor::new(b"echo hello\n")).unwrap();
        assert_eq!(
            (r.framework, r.silent_command.as_str()),
            (fw, cmd),
            "{name}"
        );
    }
    let e = recognise("empty.ps1", Cursor::new(b"")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "empty.ps1: ファイルが空です (the file is empty)"
    );
    let e = recognise("notes.txt", Cursor::new(b"hello")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownType);
    let e = recognise("bin.ps1", Cursor::new(b"a\0b")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt);

    let zip = synthetic::zip(&[
        ("JWCAD/install.ps1", b"Start-Process x".as_slice()),
        ("JWCAD/setup.exe", b"MZ"),
    ]);
    let r = recognise("jwcad.zip", Cursor::new(&zip)).unwrap();
    assert_eq!(r.framework, Framework::Zip);
    assert_eq!(r.entry_script.as_deref(), Some("JWCAD/install.ps1"));
    assert_eq!(
        r.silent_command,
        r#"powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{dir}\JWCAD\install.ps1""#
    );

    let zip = synthetic::zip(&[("install.sh", b"#!/bin/sh".as_slice()), ("payload/a", b"x")]);
    let r = recognise("tool.zip", Cursor::new(&zip)).unwrap();
    assert_eq!(r.silent_command, r#"/bin/sh "{dir}/install.sh""#);

    let zip = synthetic::zip(&[("readme.txt", b"x".as_slice())]);
    let e = recognise("nothing.zip", Cursor::new(&zip)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoEntryScript);
    assert!(
        e.to_string()
            .starts_with("nothing.zip: zipに入口のスクリプト"),
        "{e}"
    );

    let e = recognise("cut.zip", Cursor::new(&zip[..zip.len() - 10])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
}

#[test]
fn missing_file_names_the_path() {
    let e = recognise_path(Path::new("/nonexistent/lanward/setup.exe")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/lanward/setup.exe: 開けません"),
        "{e}"
    );
}

/// A file of `len` bytes: `head`, then zeros, produced on demand; counts
/// the bytes handed out.
struct Big {
    head: Vec<u8>,
    len: u64,
    pos: u64,
    read: u64,
}

impl std::io::Read for Big {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let at = self.pos as usize + i;
            *b = self.head.get(at).copied().unwrap_or(0);
        }
        self.pos += n as u64;
        self.read += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for Big {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.pos = match to {
            std::io::SeekFrom::Start(p) => p,
            std::io::SeekFrom::End(d) => self.len.saturating_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

#[test]
fn a_300_mb_installer_is_read_in_part() {
    const MB: u64 = 1 << 20;
    for (name, head, expect) in [
        ("bundle.exe", synthetic::burn(), Ok(Framework::WixBurn)),
        ("nsis.exe", synthetic::nsis(), Ok(Framework::Nsis)),
        (
            "inno.exe",
            synthetic::inno_loader(),
            Ok(Framework::InnoSetup),
        ),
        ("tool.exe", synthetic::plain(), Err(ErrorKind::UnknownExe)),
    ] {
        let mut big = Big {
            head,
            len: 300 * MB,
            pos: 0,
            read: 0,
        };
        let res = recognise(name, &mut big);
        assert_eq!(
            res.map(|r| r.framework).map_err(|e| e.kind),
            expect,
            "{name}"
        );
        assert!(
            big.read < 12 * MB,
            "{name}: read {} MB of 300",
            big.read / MB
        );
        println!("{name}: read {} KB of 300 MB", big.read / 1024);
    }
}
