//! Detection rules: how the agent decides, before and after an install,
//! whether the product is there. Each rule has a one-line text form that an
//! operator can type and that [`DetectionRule`]'s `Display` writes back:
//!
//! | form | meaning |
//! |---|---|
//! | `msi:{GUID}` / `msi:{GUID}>=1.2.3` | the MSI product is installed (at least that ProductVersion) |
//! | `reg:HKLM\Path\Key!Value` | the registry value exists (64-bit view) |
//! | `reg:HKLM\Path\Key!Value==text` | ... and equals `text` |
//! | `reg:HKLM\Path\Key!Value>=1.0` | ... and is a version at least `1.0` |
//! | `file:C:\Path\x.exe` / `file:C:\Path\x.exe>=16.0` | the file exists (with at least that file version) |
//! | `deb:hello` / `deb:hello>=2.10-3` | the Debian package is installed (at least that version) |
//! | `script:C:\Path\detect.ps1` | the script exits 0 when the product is installed |

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a registry rule checks about the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "text")]
pub enum RegistryTest {
    Exists,
    Equals(String),
    MinVersion(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum DetectionRule {
    /// `code` is upper-case with braces: `{8E2F...}`.
    MsiProductCode {
        code: String,
        min_version: Option<String>,
    },
    /// `key` starts with a hive (`HKLM`, `HKCU`, `HKCR`, `HKU`); an empty
    /// `value` is the key's default value.
    RegistryValue {
        key: String,
        value: String,
        test: RegistryTest,
    },
    FileVersion {
        path: String,
        min: Option<String>,
    },
    Script {
        path: String,
    },
    DebPackage {
        name: String,
        min_version: Option<String>,
    },
}

/// A rule's text that does not parse: where (1-based character) and what was
/// expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("検出ルールの{position}文字目: {expected_ja}が必要です（{found_ja}） (detection rule, character {position}: expected {expected_en}, found {found_en})")]
pub struct RuleParseError {
    pub position: usize,
    pub expected_ja: &'static str,
    pub expected_en: &'static str,
    pub found_ja: String,
    pub found_en: String,
}

fn err(
    text: &[char],
    pos: usize,
    expected_ja: &'static str,
    expected_en: &'static str,
) -> RuleParseError {
    let (found_ja, found_en) = match text.get(pos) {
        Some(c) => (format!("「{c}」がありました"), format!("'{c}'")),
        None => (
            "ルールの終わりでした".to_string(),
            "the end of the rule".to_string(),
        ),
    };
    RuleParseError {
        position: pos + 1,
        expected_ja,
        expected_en,
        found_ja,
        found_en,
    }
}

const HIVES: &[&str] = &[
    "HKLM",
    "HKCU",
    "HKCR",
    "HKU",
    "HKEY_LOCAL_MACHINE",
    "HKEY_CURRENT_USER",
    "HKEY_CLASSES_ROOT",
    "HKEY_USERS",
];

impl std::str::FromStr for DetectionRule {
    type Err = RuleParseError;
    fn from_str(s: &str) -> Result<Self, RuleParseError> {
        parse(s)
    }
}

/// Parses the text form (see the module documentation).
pub fn parse(text: &str) -> Result<DetectionRule, RuleParseError> {
    let t: Vec<char> = text.chars().collect();
    let colon = t.iter().position(|&c| c == ':');
    let Some(colon) = colon else {
        let end = t
            .iter()
            .position(|c| !c.is_ascii_alphabetic())
            .unwrap_or(t.len());
        return Err(err(
            &t,
            end,
            "種類と「:」（msi: reg: file: deb: script:）",
            "a kind and ':' (msi: reg: file: deb: script:)",
        ));
    };
    let kind: String = t[..colon].iter().collect();
    let body = colon + 1;
    match kind.to_ascii_lowercase().as_str() {
        "msi" => {
            let end = parse_guid(&t, body)?;
            let code: String = t[body..end].iter().collect::<String>().to_ascii_uppercase();
            let min_version = tail_version(&t, end, false)?;
            Ok(DetectionRule::MsiProductCode { code, min_version })
        }
        "file" => {
            let (path_end, op) = find_op(&t, body, &[">="]);
            let path = parse_path(&t, body, path_end)?;
            let min = match op {
                Some(_) => Some(version_at(&t, path_end + 2, t.len(), false)?),
                None => None,
            };
            Ok(DetectionRule::FileVersion { path, min })
        }
        "script" => {
            let path = parse_path(&t, body, t.len())?;
            Ok(DetectionRule::Script { path })
        }
        "deb" => {
            let (name_end, op) = find_op(&t, body, &[">="]);
            if name_end == body {
                return Err(err(&t, body, "パッケージ名", "a package name"));
            }
            for (i, &c) in t[body..name_end].iter().enumerate() {
                let ok = c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || (i > 0 && matches!(c, '+' | '-' | '.'));
                if !ok {
                    return Err(err(
                        &t,
                        body + i,
                        "Debianのパッケージ名の文字（a-z 0-9 + - .）",
                        "a Debian package name character (a-z 0-9 + - .)",
                    ));
                }
            }
            let name: String = t[body..name_end].iter().collect();
            let min_version = match op {
                Some(_) => Some(version_at(&t, name_end + 2, t.len(), true)?),
                None => None,
            };
            Ok(DetectionRule::DebPackage { name, min_version })
        }
        "reg" => {
            let bang = t[body..].iter().position(|&c| c == '!').map(|p| body + p);
            let Some(bang) = bang else {
                let end = t.len();
                return Err(err(
                    &t,
                    end,
                    "キーと値名の区切り「!」",
                    "'!' between the key and the value name",
                ));
            };
            let hive_end = t[body..bang]
                .iter()
                .position(|&c| c == '\\')
                .map(|p| body + p)
                .unwrap_or(bang);
            let hive: String = t[body..hive_end]
                .iter()
                .collect::<String>()
                .to_ascii_uppercase();
            if !HIVES.contains(&hive.as_str()) {
                return Err(err(
                    &t,
                    body,
                    "ハイブ（HKLM HKCU HKCR HKU）",
                    "a hive (HKLM HKCU HKCR HKU)",
                ));
            }
            if hive_end == bang || hive_end + 1 == bang {
                return Err(err(
                    &t,
                    hive_end + if hive_end == bang { 0 } else { 1 },
                    "「\\」とキーのパス",
                    "'\\' and the key's path",
                ));
            }
            if let Some(i) = (hive_end..bang).find(|&i| t[i] == '\\' && t.get(i + 1) == Some(&'\\'))
            {
                return Err(err(
                    &t,
                    i + 1,
                    "キー名（「\\\\」は使えません）",
                    "a key name (no '\\\\')",
                ));
            }
            let key: String = t[body..bang].iter().collect();
            let (value_end, op) = find_op(&t, bang + 1, &["==", ">="]);
            let value: String = t[bang + 1..value_end].iter().collect();
            let test = match op {
                None => RegistryTest::Exists,
                Some("==") => RegistryTest::Equals(t[value_end + 2..].iter().collect()),
                Some(_) => RegistryTest::MinVersion(version_at(&t, value_end + 2, t.len(), false)?),
            };
            Ok(DetectionRule::RegistryValue { key, value, test })
        }
        _ => Err(err(
            &t,
            0,
            "種類 msi: reg: file: deb: script: のどれか",
            "one of the kinds msi: reg: file: deb: script:",
        )),
    }
}

/// First position at or after `from` where one of `ops` starts.
fn find_op(t: &[char], from: usize, ops: &[&'static str]) -> (usize, Option<&'static str>) {
    for i in from..t.len() {
        for op in ops {
            let oc: Vec<char> = op.chars().collect();
            if t[i..].starts_with(&oc) {
                return (i, Some(op));
            }
        }
    }
    (t.len(), None)
}

fn parse_guid(t: &[char], at: usize) -> Result<usize, RuleParseError> {
    // {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut i = at;
    if t.get(i) != Some(&'{') {
        return Err(err(t, i, "製品コードの「{」", "'{' of the product code"));
    }
    i += 1;
    for (g, &n) in GROUPS.iter().enumerate() {
        for _ in 0..n {
            match t.get(i) {
                Some(c) if c.is_ascii_hexdigit() => i += 1,
                _ => return Err(err(t, i, "16進数の数字", "a hexadecimal digit")),
            }
        }
        let sep = if g == 4 { '}' } else { '-' };
        if t.get(i) != Some(&sep) {
            return if sep == '}' {
                Err(err(
                    t,
                    i,
                    "製品コードの「}」",
                    "'}' closing the product code",
                ))
            } else {
                Err(err(t, i, "「-」", "'-'"))
            };
        }
        i += 1;
    }
    Ok(i)
}

fn tail_version(t: &[char], at: usize, deb: bool) -> Result<Option<String>, RuleParseError> {
    if at == t.len() {
        return Ok(None);
    }
    if t.get(at) == Some(&'>') && t.get(at + 1) == Some(&'=') {
        return Ok(Some(version_at(t, at + 2, t.len(), deb)?));
    }
    Err(err(
        t,
        at,
        "「>=」とバージョン、またはルールの終わり",
        "'>=' and a version, or the end of the rule",
    ))
}

/// A version from `at` to `end`: dotted numbers (1 to 4 parts) or, for
/// Debian, a Debian version (digits first, then `A-Za-z0-9.+~:-`).
fn version_at(t: &[char], at: usize, end: usize, deb: bool) -> Result<String, RuleParseError> {
    if at >= end {
        return Err(err(t, at, "バージョン", "a version"));
    }
    if deb {
        if !t[at].is_ascii_digit() {
            return Err(err(
                t,
                at,
                "数字で始まるバージョン",
                "a version starting with a digit",
            ));
        }
        for i in at..end {
            let c = t[i];
            if !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | ':' | '-')) {
                return Err(err(
                    t,
                    i,
                    "Debianのバージョンの文字（A-Z a-z 0-9 . + ~ : -）",
                    "a Debian version character (A-Z a-z 0-9 . + ~ : -)",
                ));
            }
        }
        return Ok(t[at..end].iter().collect());
    }
    let mut parts = 0;
    let mut i = at;
    loop {
        let start = i;
        while i < end && t[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 9 {
            return Err(err(
                t,
                if i == start { i } else { start + 9 },
                "バージョンの数（9桁まで）",
                "a version number (up to 9 digits)",
            ));
        }
        parts += 1;
        if i == end {
            break;
        }
        if t[i] != '.' || parts == 4 {
            return Err(err(
                t,
                i,
                if parts == 4 {
                    "バージョンの終わり（4つまで）"
                } else {
                    "「.」かバージョンの終わり"
                },
                if parts == 4 {
                    "the end of the version (4 parts at most)"
                } else {
                    "'.' or the end of the version"
                },
            ));
        }
        i += 1;
    }
    Ok(t[at..end].iter().collect())
}

fn parse_path(t: &[char], at: usize, end: usize) -> Result<String, RuleParseError> {
    if at >= end {
        return Err(err(t, at, "絶対パス", "an absolute path"));
    }
    let p = &t[at..end];
    let windows_drive = p.len() >= 3 && p[0].is_ascii_alphabetic() && p[1] == ':' && p[2] == '\\';
    let unc = p.starts_with(&['\\', '\\']);
    let env = p[0] == '%';
    let unix = p[0] == '/';
    if !(windows_drive || unc || env || unix) {
        return Err(err(
            t,
            at,
            "絶対パス（C:\\… や %ProgramFiles%\\… や /…）",
            "an absolute path (C:\\..., %ProgramFiles%\\... or /...)",
        ));
    }
    if let Some(i) = p
        .iter()
        .position(|&c| matches!(c, '<' | '>' | '"' | '|' | '?' | '*') || c.is_control())
    {
        return Err(err(
            t,
            at + i,
            "パスに使える文字",
            "a character allowed in a path",
        ));
    }
    Ok(p.iter().collect())
}

impl fmt::Display for DetectionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectionRule::MsiProductCode { code, min_version } => {
                write!(f, "msi:{code}")?;
                if let Some(v) = min_version {
                    write!(f, ">={v}")?;
                }
                Ok(())
            }
            DetectionRule::RegistryValue { key, value, test } => {
                write!(f, "reg:{key}!{value}")?;
                match test {
                    RegistryTest::Exists => Ok(()),
                    RegistryTest::Equals(s) => write!(f, "=={s}"),
                    RegistryTest::MinVersion(v) => write!(f, ">={v}"),
                }
            }
            DetectionRule::FileVersion { path, min } => {
                write!(f, "file:{path}")?;
                if let Some(v) = min {
                    write!(f, ">={v}")?;
                }
                Ok(())
            }
            DetectionRule::Script { path } => write!(f, "script:{path}"),
            DetectionRule::DebPackage { name, min_version } => {
                write!(f, "deb:{name}")?;
                if let Some(v) = min_version {
                    write!(f, ">={v}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "msi:{8E2F1A3B-0000-4C4C-9A9A-0123456789AB}",
            "msi:{8E2F1A3B-0000-4C4C-9A9A-0123456789AB}>=1.2.3",
            r"reg:HKLM\SOFTWARE\Vendor\App!Version>=1.0",
            r"reg:HKLM\SOFTWARE\Vendor\App!Edition==Pro",
            r"reg:HKCU\Software\X!",
            r"file:C:\Program Files\JWCAD\Jw_win.exe>=8.25",
            r"file:%ProgramFiles%\VideoLAN\VLC\vlc.exe",
            "deb:hello>=2.10-3",
            "deb:lanward-agent",
            r"script:C:\lanward\detect.ps1",
        ] {
            let rule = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(rule.to_string(), s);
        }
    }

    #[test]
    fn msi_code_is_upper_cased() {
        let r = parse("msi:{8e2f1a3b-0000-4c4c-9a9a-0123456789ab}").unwrap();
        assert_eq!(
            r,
            DetectionRule::MsiProductCode {
                code: "{8E2F1A3B-0000-4C4C-9A9A-0123456789AB}".into(),
                min_version: None
            }
        );
    }

    #[test]
    fn errors_name_position_and_expectation() {
        let e = parse("msi:{8E2F1A3B-0000-4C4C-9A9A-0123456789AB>=1").unwrap_err();
        assert_eq!(e.position, 42);
        assert_eq!(e.expected_en, "'}' closing the product code");
        let msg = e.to_string();
        assert!(
            msg.starts_with("検出ルールの42文字目: 製品コードの「}」が必要です"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "(detection rule, character 42: expected '}' closing the product code, found '>')"
            ),
            "{msg}"
        );

        let e = parse("msi:{8E2F1A3B-0000-4C4C-9A9A-0123456789AB}>=1.x").unwrap_err();
        assert_eq!(
            (e.position, e.expected_en),
            (47, "a version number (up to 9 digits)")
        );
        let e = parse("msi:{8E2F1A3B-0000-4C4C-9A9A-0123456789AB}>=").unwrap_err();
        assert_eq!((e.position, e.expected_en), (45, "a version"));
        assert!(e.to_string().contains("found the end of the rule"));
        let e = parse(r"reg:HKXX\Software!V").unwrap_err();
        assert_eq!(
            (e.position, e.expected_en),
            (5, "a hive (HKLM HKCU HKCR HKU)")
        );
        let e = parse(r"reg:HKLM\Software\X").unwrap_err();
        assert_eq!(e.expected_en, "'!' between the key and the value name");
        let e = parse(r"file:Program Files\x.exe").unwrap_err();
        assert_eq!(e.position, 6);
        let e = parse("deb:Hello").unwrap_err();
        assert_eq!(e.position, 5);
        let e = parse("deb:hello>=x1").unwrap_err();
        assert_eq!(
            (e.position, e.expected_en),
            (12, "a version starting with a digit")
        );
        let e = parse("rpm:hello").unwrap_err();
        assert_eq!(e.position, 1);
        let e = parse("hello").unwrap_err();
        assert_eq!(e.position, 6);
        let e = parse("msi:{8E2F1A3B-0000-4C4C-9A9A-0123456789AB}1.0").unwrap_err();
        assert_eq!(e.expected_en, "'>=' and a version, or the end of the rule");
        let e = parse("file:C:\\x.exe>=1.2.3.4.5").unwrap_err();
        assert_eq!(e.expected_en, "the end of the version (4 parts at most)");
    }

    #[test]
    fn serde_shape() {
        let r = parse(r"reg:HKLM\SOFTWARE\A!V>=1.0").unwrap();
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["type"], "registry_value");
        assert_eq!(j["test"]["kind"], "min_version");
    }

    /// What `fuzz/fuzz_targets/detection_rule.rs` checks, over deterministic
    /// mutations of real rules, in every `cargo test`: no panic, and a rule
    /// that parses prints back to the same rule.
    #[test]
    fn mutated_rules_never_panic_and_round_trip() {
        let seeds = ["msi:{8E2F1A3B-0000-4C4C-9A9A-0123456789AB}>=1.2.3", r"reg:HKLM\SOFTWARE\V\A!Version>=1.0", r"file:C:\P\x.exe>=8.25", "deb:hello>=2.10-3", r"script:C:\d.ps1"];
        let alphabet: Vec<char> = "msi:reg:file:deb:script{}-!=>< \\.0123456789abcdefHKLM\u{3042}\u{0}".chars().collect();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for seed in seeds {
            for _ in 0..2000 {
                let mut chars: Vec<char> = seed.chars().collect();
                for _ in 0..(next() % 4 + 1) {
                    let at = (next() as usize) % (chars.len() + 1);
                    match next() % 3 {
                        0 if at < chars.len() => {
                            chars.remove(at);
                        }
                        1 => chars.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                        _ if at < chars.len() => chars[at] = alphabet[(next() as usize) % alphabet.len()],
                        _ => {}
                    }
                }
                let text: String = chars.into_iter().collect();
                if let Ok(rule) = parse(&text) {
                    let again = parse(&rule.to_string()).unwrap_or_else(|e| panic!("{text:?} → {rule} does not parse: {e}"));
                    assert_eq!(again, rule, "{text:?}");
                }
            }
        }
    }
}
