//! The built-in Office LTSC recipe (issue 6 §6): the Office Deployment Tool
//! (ODT) `configuration.xml` per department, and rollout progress read
//! from the Click-to-Run version each PC reports.
//!
//! One mechanism serves both the new LTSC 2024 installs and the LTSC
//! 2021 → 2024 upgrade campaign: the recipe says what to install (and, for
//! the upgrade, what to remove); each wave can pin its own `TargetVersion`
//! (`wave_versions`), so the pilot runs a newer build than the waves behind
//! it; progress compares what each PC reports with the version its wave is
//! pinned to.
//!
//! Element and attribute names follow Microsoft's "Configuration options for
//! the Office Deployment Tool": `Configuration` > `Info`, `Remove`, `Add`
//! (`Product` > `Language`, `ExcludeApp`), `Updates`, `Display`,
//! `Property`, `RemoveMSI`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::target::AssetId;

/// Update channels the ODT accepts. Volume-licensed LTSC products only work
/// on their own `PerpetualVL<year>` channel; the Microsoft 365 channels are
/// accepted so the same recipe type can describe a future move.
pub const CHANNELS: &[&str] = &[
    "PerpetualVL2024",
    "PerpetualVL2021",
    "PerpetualVL2019",
    "Current",
    "CurrentPreview",
    "MonthlyEnterprise",
    "SemiAnnual",
    "SemiAnnualPreview",
    "BetaChannel",
];

/// `ExcludeApp` IDs the ODT knows. An unknown ID is not an error to the ODT
/// but silently excludes nothing, so it is refused here instead.
pub const EXCLUDABLE_APPS: &[&str] = &[
    "Access",
    "Bing",
    "Excel",
    "Groove",
    "Lync",
    "OneDrive",
    "OneNote",
    "Outlook",
    "OutlookForWindows",
    "PowerPoint",
    "Publisher",
    "Teams",
    "Word",
];

/// Language keywords the ODT accepts besides `ll-cc` tags.
const LANGUAGE_KEYWORDS: &[&str] = &["MatchOS", "MatchInstalled", "MatchPreviousMSI"];

/// The product the upgrade campaign removes.
pub const LTSC2021_PRODUCT: &str = "ProPlus2021Volume";

/// What to install and how. Serialized as the recipe the server stores;
/// every field has a default, so `{}` is the bureau's standard LTSC 2024.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfficeRecipe {
    /// ODT product ID, e.g. `ProPlus2024Volume`, `Standard2024Volume`.
    pub product_id: String,
    /// Update channel (`Add` and `Updates`), one of [`CHANNELS`].
    pub channel: String,
    /// Language tags (`ja-jp`); the first is the UI language.
    pub languages: Vec<String>,
    /// Apps not to install, from [`EXCLUDABLE_APPS`].
    pub exclude_apps: Vec<String>,
    /// Build to install and stay on (`16.0.17932.20162`): `Add Version` and
    /// `Updates TargetVersion`. `None`: the newest build of the channel.
    pub target_version: Option<String>,
    /// Per-wave override of `target_version`, by wave name: the pilot moves
    /// to a new build before the waves behind it.
    pub wave_versions: BTreeMap<String, String>,
    /// Where setup.exe finds the installation files (`Add SourcePath`);
    /// `None`: the Office CDN.
    pub source_path: Option<String>,
    /// Default `Updates UpdatePath` when no site cache is given.
    pub update_path: Option<String>,
    /// Remove MSI-installed Office first (`<RemoveMSI/>`).
    pub remove_msi: bool,
    /// Upgrade campaign: remove Office LTSC 2021 (`ProPlus2021Volume`).
    /// Volume LTSC versions cannot be installed side by side.
    pub remove_ltsc2021: bool,
    /// Silent install (`Display Level="None"`); otherwise the user sees it.
    pub display_level_none: bool,
    pub accept_eula: bool,
    /// `AUTOACTIVATE=1`: activate against KMS right after install instead
    /// of waiting for the next periodic attempt (no "unlicensed" banner on
    /// the first start).
    pub auto_activate: bool,
    /// `PinIconsToTaskbar`.
    pub pin_icons_to_taskbar: bool,
}

impl Default for OfficeRecipe {
    fn default() -> Self {
        OfficeRecipe {
            product_id: "ProPlus2024Volume".into(),
            channel: "PerpetualVL2024".into(),
            languages: vec!["ja-jp".into()],
            exclude_apps: ["Groove", "Lync", "OneDrive", "Teams"]
                .map(String::from)
                .to_vec(),
            target_version: None,
            wave_versions: BTreeMap::new(),
            source_path: None,
            update_path: None,
            remove_msi: false,
            remove_ltsc2021: false,
            display_level_none: true,
            accept_eula: true,
            auto_activate: true,
            pin_icons_to_taskbar: false,
        }
    }
}

/// One problem in a recipe, naming the field (`languages[1]`,
/// `wave_versions["パイロット"]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RecipeError {
    pub field: String,
    /// Japanese first, English in parentheses.
    pub message: String,
}

impl RecipeError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        RecipeError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl OfficeRecipe {
    /// Check every field; all problems at once, each naming its field, so a
    /// person fixes the recipe in one go. Call before `configuration_xml`.
    pub fn check(&self) -> Result<(), Vec<RecipeError>> {
        let mut errs = Vec::new();
        let product = &self.product_id;
        if product.is_empty() || !product.chars().all(|c| c.is_ascii_alphanumeric()) {
            errs.push(RecipeError::new(
                "product_id",
                format!("製品 ID \"{product}\" は英数字だけで書いてください (product ID must be ASCII letters and digits, e.g. ProPlus2024Volume)"),
            ));
        }
        if !CHANNELS.contains(&self.channel.as_str()) {
            errs.push(RecipeError::new(
                "channel",
                format!(
                    "チャネル \"{}\" は使えません。使えるもの: {} (unknown channel)",
                    self.channel,
                    CHANNELS.join(", ")
                ),
            ));
        } else if let Some(year) = volume_year(product) {
            // A 2024 volume product on the 2021 channel installs nothing useful.
            let want = format!("PerpetualVL{year}");
            if self.channel != want {
                errs.push(RecipeError::new(
                    "channel",
                    format!("{product} のチャネルは {want} です。\"{}\" では入りません (volume product needs channel {want})", self.channel),
                ));
            }
        }
        if self.languages.is_empty() {
            errs.push(RecipeError::new("languages", "言語が一つもありません。ja-jp などを指定してください (at least one language is required)"));
        }
        for (i, lang) in self.languages.iter().enumerate() {
            if !is_language_tag(lang) {
                errs.push(RecipeError::new(
                    format!("languages[{i}]"),
                    format!("言語 \"{lang}\" は ja-jp のように書いてください (language tag must look like xx-xx, or MatchOS)"),
                ));
            }
        }
        for (i, app) in self.exclude_apps.iter().enumerate() {
            if !EXCLUDABLE_APPS.contains(&app.as_str()) {
                errs.push(RecipeError::new(
                    format!("exclude_apps[{i}]"),
                    format!("\"{app}\" は除外できるアプリではありません。使えるもの: {} (unknown ExcludeApp ID)", EXCLUDABLE_APPS.join(", ")),
                ));
            }
        }
        if let Some(v) = &self.target_version {
            check_version("target_version", v, &mut errs);
        }
        for (wave, v) in &self.wave_versions {
            check_version(&format!("wave_versions[{wave:?}]"), v, &mut errs);
        }
        for (field, path) in [
            ("source_path", &self.source_path),
            ("update_path", &self.update_path),
        ] {
            if let Some(p) = path {
                check_path(field, p, &mut errs);
            }
        }
        if self.remove_ltsc2021 && product == LTSC2021_PRODUCT {
            errs.push(RecipeError::new(
                "remove_ltsc2021",
                format!("{LTSC2021_PRODUCT} を入れながら削除することはできません (cannot install and remove the same product)"),
            ));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// The `TargetVersion` for `wave`: its pin in `wave_versions`, else the
    /// recipe's `target_version`.
    pub fn target_version_for(&self, wave: &str) -> Option<&str> {
        self.wave_versions
            .get(wave)
            .or(self.target_version.as_ref())
            .map(String::as_str)
    }

    /// The ODT configuration.xml for `department`, with `target_version`.
    /// `site_cache_url` (the site's cache share or URL) becomes
    /// `UpdatePath`, so PCs fetch updates from their own site instead of
    /// the WAN; `None` falls back to the recipe's `update_path`.
    ///
    /// Every value is XML-escaped, so a bad recipe cannot break the file,
    /// but it can still be a wrong configuration: `check()` first.
    pub fn configuration_xml(&self, department: &str, site_cache_url: Option<&str>) -> String {
        self.render(department, site_cache_url, self.target_version.as_deref())
    }

    /// As [`configuration_xml`](Self::configuration_xml), with the version
    /// pinned for `wave` ([`target_version_for`](Self::target_version_for)).
    pub fn configuration_xml_for_wave(
        &self,
        wave: &str,
        department: &str,
        site_cache_url: Option<&str>,
    ) -> String {
        self.render(department, site_cache_url, self.target_version_for(wave))
    }

    fn render(
        &self,
        department: &str,
        site_cache_url: Option<&str>,
        version: Option<&str>,
    ) -> String {
        let mut x = String::new();
        let mut line = |depth: usize, s: &str| {
            x.push_str(&"  ".repeat(depth));
            x.push_str(s);
            // CRLF: the file is read by setup.exe and by people in Notepad.
            x.push_str("\r\n");
        };
        line(0, r#"<?xml version="1.0" encoding="utf-8"?>"#);
        line(
            0,
            &format!(
                "<!-- lanward: {} / {} -->",
                comment_text(department),
                comment_text(&self.product_id)
            ),
        );
        line(0, "<Configuration>");
        line(
            1,
            &format!(
                r#"<Info Description="{}" />"#,
                esc(&format!("lanward {} {}", self.product_id, department))
            ),
        );
        if self.remove_ltsc2021 {
            line(1, "<Remove>");
            line(2, &format!(r#"<Product ID="{}">"#, esc(LTSC2021_PRODUCT)));
            for lang in &self.languages {
                line(3, &format!(r#"<Language ID="{}" />"#, esc(lang)));
            }
            line(2, "</Product>");
            line(1, "</Remove>");
        }
        let mut add = format!(
            r#"<Add OfficeClientEdition="64" Channel="{}""#,
            esc(&self.channel)
        );
        if let Some(src) = &self.source_path {
            add.push_str(&format!(r#" SourcePath="{}""#, esc(src)));
        }
        if let Some(v) = version {
            add.push_str(&format!(r#" Version="{}""#, esc(v)));
        }
        add.push('>');
        line(1, &add);
        line(2, &format!(r#"<Product ID="{}">"#, esc(&self.product_id)));
        for lang in &self.languages {
            line(3, &format!(r#"<Language ID="{}" />"#, esc(lang)));
        }
        for app in &self.exclude_apps {
            line(3, &format!(r#"<ExcludeApp ID="{}" />"#, esc(app)));
        }
        line(2, "</Product>");
        line(1, "</Add>");
        let mut updates = format!(
            r#"<Updates Enabled="TRUE" Channel="{}""#,
            esc(&self.channel)
        );
        if let Some(path) = site_cache_url.or(self.update_path.as_deref()) {
            updates.push_str(&format!(r#" UpdatePath="{}""#, esc(path)));
        }
        if let Some(v) = version {
            updates.push_str(&format!(r#" TargetVersion="{}""#, esc(v)));
        }
        updates.push_str(" />");
        line(1, &updates);
        let level = if self.display_level_none {
            "None"
        } else {
            "Full"
        };
        line(
            1,
            &format!(
                r#"<Display Level="{level}" AcceptEULA="{}" />"#,
                xml_bool(self.accept_eula)
            ),
        );
        // FALSE: never close Word or Excel under a user with unsaved work;
        // setup waits and the agent retries in the next window instead.
        line(1, r#"<Property Name="FORCEAPPSHUTDOWN" Value="FALSE" />"#);
        line(
            1,
            &format!(
                r#"<Property Name="AUTOACTIVATE" Value="{}" />"#,
                if self.auto_activate { "1" } else { "0" }
            ),
        );
        line(
            1,
            &format!(
                r#"<Property Name="PinIconsToTaskbar" Value="{}" />"#,
                xml_bool(self.pin_icons_to_taskbar)
            ),
        );
        if self.remove_msi {
            line(1, "<RemoveMSI />");
        }
        line(0, "</Configuration>");
        x
    }
}

/// `ProPlus2024Volume` → `2024`: volume products carry their LTSC year.
fn volume_year(product: &str) -> Option<&str> {
    let stem = product.strip_suffix("Volume")?;
    let year = stem.get(stem.len().checked_sub(4)?..)?;
    year.chars().all(|c| c.is_ascii_digit()).then_some(year)
}

fn is_language_tag(s: &str) -> bool {
    if LANGUAGE_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s)) {
        return true;
    }
    match s.split_once('-') {
        Some((lang, region)) => {
            (2..=3).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_alphabetic())
                && region.len() == 2
                && region.chars().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

fn check_version(field: &str, v: &str, errs: &mut Vec<RecipeError>) {
    if let Err(e) = v.parse::<OfficeVersion>() {
        errs.push(RecipeError::new(field, e));
    }
}

fn check_path(field: &str, p: &str, errs: &mut Vec<RecipeError>) {
    if p.trim().is_empty() || p.chars().any(char::is_control) {
        errs.push(RecipeError::new(field, format!("{p:?}: 空白や制御文字だけのパスは使えません (path must be non-empty, without control characters)")));
    }
}

fn xml_bool(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// Escape for an XML attribute value. Control characters become spaces:
/// XML 1.0 cannot carry most of them even as character references, and a
/// newline inside an attribute would be normalised away anyway.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text safe inside `<!-- -->`: entities mean nothing there, so the text is
/// kept readable (`総務課 & "調達"`) and only what could end the comment
/// (`--`, a trailing `-`) or break the file (control characters) changes.
fn comment_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == '-' && out.ends_with('-') {
            out.push(' ');
        }
        out.push(c);
    }
    if out.ends_with('-') {
        out.push(' ');
    }
    out
}

/// A Click-to-Run build number, `16.0.17932.20162`: four unsigned
/// integers, compared component by component (so `16.0.9.0` is older than
/// `16.0.10.0`, which a string comparison gets wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OfficeVersion(pub [u32; 4]);

impl FromStr for OfficeVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("バージョン \"{s}\" は 16.0.17932.20162 のように、数字 4 つを . で区切って書いてください (version must be four dot-separated integers)")
        };
        let mut parts = [0u32; 4];
        let mut n = 0;
        for part in s.split('.') {
            // u32::from_str also takes "+5"; only plain digits are a version.
            if n == 4 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            parts[n] = part.parse().map_err(|_| bad())?;
            n += 1;
        }
        if n != 4 {
            return Err(bad());
        }
        Ok(OfficeVersion(parts))
    }
}

impl fmt::Display for OfficeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl Serialize for OfficeVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OfficeVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Compare two version strings numerically, component by component.
/// Surrounding whitespace is ignored (agents report what the registry
/// holds). An error names the string that is not a version.
pub fn compare_versions(a: &str, b: &str) -> Result<Ordering, String> {
    let a: OfficeVersion = a.trim().parse()?;
    let b: OfficeVersion = b.trim().parse()?;
    Ok(a.cmp(&b))
}

/// Where one PC stands against the target build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficeStatus {
    /// Exactly the target build.
    Current,
    /// Older (including LTSC 2021 PCs in the upgrade campaign).
    Behind,
    /// Newer than the pin: updated by hand, or the pin was lowered. Shown
    /// apart because a pinned wave should have none.
    Ahead,
    /// No Office reported, or a version that does not parse.
    Unknown,
}

impl OfficeStatus {
    pub fn label_ja(&self) -> &'static str {
        match self {
            OfficeStatus::Current => "目標の版",
            OfficeStatus::Behind => "古い版",
            OfficeStatus::Ahead => "目標より新しい版",
            OfficeStatus::Unknown => "不明",
        }
    }
}

/// Progress of a rollout towards one build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficeProgress {
    pub target_version: OfficeVersion,
    pub total: usize,
    pub current: usize,
    pub behind: usize,
    pub ahead: usize,
    pub unknown: usize,
    /// `current / total` in percent (0 when there are no PCs).
    pub percent_current: f64,
    /// Each PC's status, in the order given.
    pub per_asset: Vec<(AssetId, OfficeStatus)>,
}

/// Classify each PC's reported Click-to-Run version against
/// `target_version`. Fails only when the target itself is not a version.
pub fn office_progress(
    reported: &[(AssetId, Option<String>)],
    target_version: &str,
) -> Result<OfficeProgress, RecipeError> {
    let target: OfficeVersion = target_version
        .trim()
        .parse()
        .map_err(|e: String| RecipeError::new("target_version", e))?;
    let mut p = OfficeProgress {
        target_version: target,
        total: reported.len(),
        current: 0,
        behind: 0,
        ahead: 0,
        unknown: 0,
        percent_current: 0.0,
        per_asset: Vec::with_capacity(reported.len()),
    };
    for (asset, version) in reported {
        let status = match version
            .as_deref()
            .map(|v| v.trim().parse::<OfficeVersion>())
        {
            Some(Ok(v)) => match v.cmp(&target) {
                Ordering::Equal => OfficeStatus::Current,
                Ordering::Less => OfficeStatus::Behind,
                Ordering::Greater => OfficeStatus::Ahead,
            },
            None | Some(Err(_)) => OfficeStatus::Unknown,
        };
        *match status {
            OfficeStatus::Current => &mut p.current,
            OfficeStatus::Behind => &mut p.behind,
            OfficeStatus::Ahead => &mut p.ahead,
            OfficeStatus::Unknown => &mut p.unknown,
        } += 1;
        p.per_asset.push((*asset, status));
    }
    if p.total > 0 {
        p.percent_current = p.current as f64 * 100.0 / p.total as f64;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small well-formedness check (no XML crate in this crate's
    /// dependencies): declaration, comments, balanced tags, one root,
    /// quoted attributes without raw `<`, every `&` a known entity.
    /// Returns the unescaped attribute values in document order.
    fn well_formed(xml: &str) -> Result<Vec<(String, String, String)>, String> {
        fn check_entities(s: &str) -> Result<(), String> {
            let mut rest = s;
            while let Some(i) = rest.find('&') {
                rest = &rest[i..];
                if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| rest.starts_with(e))
                {
                    return Err(format!("raw & in {s:?}"));
                }
                rest = &rest[1..];
            }
            Ok(())
        }
        fn unescape(s: &str) -> String {
            s.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        }
        let mut attrs = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        let mut roots = 0;
        let mut rest = xml.strip_prefix("<?xml ").ok_or("no declaration")?;
        rest = &rest[rest.find("?>").ok_or("declaration not closed")? + 2..];
        loop {
            let i = match rest.find('<') {
                Some(i) => i,
                None => {
                    if !rest.trim().is_empty() {
                        return Err(format!("text after root: {rest:?}"));
                    }
                    break;
                }
            };
            let text = &rest[..i];
            if text.contains('>') {
                return Err(format!("raw > in text {text:?}"));
            }
            check_entities(text)?;
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside root: {text:?}"));
            }
            rest = &rest[i..];
            if let Some(c) = rest.strip_prefix("<!--") {
                let end = c.find("-->").ok_or("comment not closed")?;
                let body = &c[..end];
                if body.contains("--") || body.ends_with('-') {
                    return Err(format!("-- inside comment {body:?}"));
                }
                rest = &c[end + 3..];
                continue;
            }
            let end = rest.find('>').ok_or("tag not closed")?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name.trim()) {
                    return Err(format!("unbalanced </{name}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/').trim();
            let (name, mut a) = tag.split_once(' ').unwrap_or((tag, ""));
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("bad element name {name:?}"));
            }
            loop {
                a = a.trim_start();
                if a.is_empty() {
                    break;
                }
                let eq = a
                    .find("=\"")
                    .ok_or(format!("attribute without quoted value in <{name}>: {a:?}"))?;
                let key = &a[..eq];
                if !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!("bad attribute name {key:?}"));
                }
                let val_end = a[eq + 2..].find('"').ok_or("attribute value not closed")? + eq + 2;
                let val = &a[eq + 2..val_end];
                if val.contains('<') {
                    return Err(format!("raw < in attribute {val:?}"));
                }
                check_entities(val)?;
                attrs.push((name.to_string(), key.to_string(), unescape(val)));
                a = &a[val_end + 1..];
            }
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name.to_string());
            }
        }
        if !stack.is_empty() || roots != 1 {
            return Err(format!("unclosed {stack:?} or {roots} roots"));
        }
        Ok(attrs)
    }

    fn attr<'a>(attrs: &'a [(String, String, String)], el: &str, key: &str) -> Vec<&'a str> {
        attrs
            .iter()
            .filter(|(e, k, _)| e == el && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    #[test]
    fn default_recipe_writes_the_bureau_configuration() {
        let r = OfficeRecipe {
            target_version: Some("16.0.17932.20162".into()),
            ..OfficeRecipe::default()
        };
        r.check().expect("default recipe is valid");
        let xml = r.configuration_xml("総務課", Some(r"\\SUIDO-FS01\office-cache"));
        let attrs = well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert!(
            xml.contains("<!-- lanward: 総務課 / ProPlus2024Volume -->"),
            "{xml}"
        );
        assert!(xml.contains(r#"<Add OfficeClientEdition="64" Channel="PerpetualVL2024" Version="16.0.17932.20162">"#), "{xml}");
        assert_eq!(attr(&attrs, "Product", "ID"), ["ProPlus2024Volume"]);
        assert_eq!(attr(&attrs, "Language", "ID"), ["ja-jp"]);
        assert_eq!(
            attr(&attrs, "ExcludeApp", "ID"),
            ["Groove", "Lync", "OneDrive", "Teams"]
        );
        assert!(xml.contains(
            r#"<Updates Enabled="TRUE" Channel="PerpetualVL2024" UpdatePath="\\SUIDO-FS01\office-cache" TargetVersion="16.0.17932.20162" />"#
        ));
        assert!(xml.contains(r#"<Display Level="None" AcceptEULA="TRUE" />"#));
        assert!(xml.contains(r#"<Property Name="FORCEAPPSHUTDOWN" Value="FALSE" />"#));
        assert!(
            !xml.contains("RemoveMSI") && !xml.contains("<Remove>") && !xml.contains("SourcePath")
        );
        // str::lines() would hide the \r; count the endings instead.
        assert!(
            xml.ends_with("\r\n") && xml.matches('\n').count() == xml.matches("\r\n").count(),
            "CRLF line endings"
        );
    }

    #[test]
    fn upgrade_campaign_removes_ltsc2021_and_msi() {
        let r = OfficeRecipe {
            remove_ltsc2021: true,
            remove_msi: true,
            source_path: Some(r"\\SUIDO-FS01\office\2024".into()),
            update_path: Some("http://cache.hq.example/office".into()),
            languages: vec!["ja-jp".into(), "en-us".into()],
            ..OfficeRecipe::default()
        };
        r.check().expect("valid");
        let xml = r.configuration_xml("配水課", None);
        let attrs = well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert_eq!(
            attr(&attrs, "Product", "ID"),
            ["ProPlus2021Volume", "ProPlus2024Volume"]
        );
        assert_eq!(
            attr(&attrs, "Language", "ID"),
            ["ja-jp", "en-us", "ja-jp", "en-us"]
        );
        assert_eq!(
            attr(&attrs, "Add", "SourcePath"),
            [r"\\SUIDO-FS01\office\2024"]
        );
        // No site cache given: the recipe's own update path.
        assert_eq!(
            attr(&attrs, "Updates", "UpdatePath"),
            ["http://cache.hq.example/office"]
        );
        // No pin: neither Version nor TargetVersion.
        assert!(
            attr(&attrs, "Add", "Version").is_empty()
                && attr(&attrs, "Updates", "TargetVersion").is_empty()
        );
        assert!(xml.contains("<RemoveMSI />"));
        assert!(
            xml.find("<Remove>") < xml.find("<Add "),
            "the old product is named first"
        );
    }

    #[test]
    fn every_value_is_escaped() {
        let dept = "総務課 & \"調達\" <'x'> -- end-";
        let r = OfficeRecipe {
            source_path: Some(r#"\\fs\a&b"<c>"#.into()),
            target_version: Some("16.0.17932.20162".into()),
            ..OfficeRecipe::default()
        };
        let xml = r.configuration_xml(dept, Some("http://cache/?a=1&b='2'"));
        let attrs = well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert_eq!(
            attr(&attrs, "Info", "Description"),
            [format!("lanward ProPlus2024Volume {dept}").as_str()]
        );
        assert!(
            xml.contains("&amp; &quot;調達&quot; &lt;&apos;x&apos;&gt;"),
            "{xml}"
        );
        assert_eq!(attr(&attrs, "Add", "SourcePath"), [r#"\\fs\a&b"<c>"#]);
        assert_eq!(
            attr(&attrs, "Updates", "UpdatePath"),
            ["http://cache/?a=1&b='2'"]
        );
        // The comment keeps the name readable but cannot be closed early.
        assert!(
            xml.contains("<!-- lanward: 総務課 & \"調達\" <'x'> - - end-  / ProPlus2024Volume -->"),
            "{xml}"
        );
        // Control characters never reach the file.
        let xml = r.configuration_xml("a\nb\u{7}c", None);
        assert!(!xml.contains('\u{7}') && xml.contains("a b c"));
        well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    }

    #[test]
    fn each_wave_gets_its_pinned_version() {
        let mut r = OfficeRecipe {
            target_version: Some("16.0.17932.20114".into()),
            ..OfficeRecipe::default()
        };
        r.wave_versions
            .insert("パイロット".into(), "16.0.17932.20162".into());
        r.check().expect("valid");
        assert_eq!(r.target_version_for("パイロット"), Some("16.0.17932.20162"));
        assert_eq!(r.target_version_for("第1波"), Some("16.0.17932.20114"));
        let pilot = r.configuration_xml_for_wave("パイロット", "総務課", None);
        assert!(
            pilot.contains(r#"Version="16.0.17932.20162""#)
                && pilot.contains(r#"TargetVersion="16.0.17932.20162""#)
        );
        let wave1 = r.configuration_xml_for_wave("第1波", "総務課", None);
        assert!(wave1.contains(r#"TargetVersion="16.0.17932.20114""#) && !wave1.contains("20162"));
        assert_eq!(OfficeRecipe::default().target_version_for("x"), None);
    }

    #[test]
    fn check_names_each_bad_field() {
        let mut r = OfficeRecipe {
            channel: "PerpetualVL2023".into(),
            languages: vec!["ja-jp".into(), "japanese".into(), "ja_JP".into()],
            exclude_apps: vec!["Teams".into(), "Skype".into()],
            target_version: Some("16.0.17932".into()),
            update_path: Some("  ".into()),
            ..OfficeRecipe::default()
        };
        r.wave_versions
            .insert("パイロット".into(), "16.0.x.1".into());
        let errs = r.check().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "channel",
                "languages[1]",
                "languages[2]",
                "exclude_apps[1]",
                "target_version",
                "wave_versions[\"パイロット\"]",
                "update_path"
            ]
        );
        assert!(
            errs[0]
                .to_string()
                .starts_with("channel: チャネル \"PerpetualVL2023\" は使えません"),
            "{}",
            errs[0]
        );
        assert!(
            errs[4].to_string().contains("16.0.17932.20162 のように"),
            "{}",
            errs[4]
        );

        let r = OfficeRecipe {
            languages: vec![],
            channel: "PerpetualVL2021".into(),
            ..OfficeRecipe::default()
        };
        let errs = r.check().unwrap_err();
        assert_eq!(
            errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["channel", "languages"]
        );
        assert!(errs[0].message.contains("PerpetualVL2024"), "{}", errs[0]);

        let r = OfficeRecipe {
            product_id: "ProPlus2021Volume".into(),
            channel: "PerpetualVL2021".into(),
            remove_ltsc2021: true,
            ..OfficeRecipe::default()
        };
        assert_eq!(r.check().unwrap_err()[0].field, "remove_ltsc2021");

        let r = OfficeRecipe {
            languages: vec!["MatchOS".into(), "kok-in".into()],
            ..OfficeRecipe::default()
        };
        r.check()
            .expect("ODT keywords and three-letter languages are accepted");
    }

    #[test]
    fn recipe_round_trips_and_defaults_from_empty_json() {
        let r: OfficeRecipe = serde_json::from_str("{}").expect("defaults");
        assert_eq!(r, OfficeRecipe::default());
        let r: OfficeRecipe =
            serde_json::from_str(r#"{"target_version":"16.0.17932.20162","remove_ltsc2021":true}"#)
                .expect("parse");
        assert!(r.remove_ltsc2021 && r.languages == ["ja-jp"]);
        let back: OfficeRecipe =
            serde_json::from_str(&serde_json::to_string(&r).expect("ser")).expect("de");
        assert_eq!(back, r);
        assert!(
            serde_json::from_str::<OfficeRecipe>(r#"{"chanel":"x"}"#).is_err(),
            "typos are refused"
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(
            compare_versions("16.0.9.0", "16.0.10.0"),
            Ok(Ordering::Less)
        );
        assert_eq!(
            compare_versions("16.0.17932.20162", " 16.0.17932.20162\n"),
            Ok(Ordering::Equal)
        );
        assert_eq!(
            compare_versions("16.0.17932.20162", "16.0.14332.20706"),
            Ok(Ordering::Greater)
        );
        assert_eq!(
            compare_versions("16.1.0.0", "16.0.99999.99999"),
            Ok(Ordering::Greater)
        );
        for bad in [
            "",
            "16",
            "16.0.1",
            "16.0.1.2.3",
            "16.0..1",
            "16.0.+1.2",
            "16.0.a.1",
            "16.0.1.99999999999",
            "16.0.1.2.",
        ] {
            assert!(bad.parse::<OfficeVersion>().is_err(), "{bad:?}");
            assert!(compare_versions(bad, "16.0.1.2").is_err(), "{bad:?}");
        }
        let v: OfficeVersion = "16.0.17932.20162".parse().expect("version");
        assert_eq!(v.to_string(), "16.0.17932.20162");
        assert_eq!(
            serde_json::to_string(&v).expect("ser"),
            "\"16.0.17932.20162\""
        );
    }

    #[test]
    fn progress_counts_each_pc() {
        let reported = vec![
            (1, Some("16.0.17932.20162".to_string())),
            (2, Some("16.0.14332.20706".to_string())), // still LTSC 2021
            (3, None),                                 // no Office
            (4, Some("16.0.17932.20205".to_string())), // ahead of the pin
            (5, Some("garbage".to_string())),
            (6, Some(" 16.0.17932.20162 ".to_string())),
            (7, Some("16.0.9999.1".to_string())),
            (8, Some("16.0.17932.20162".to_string())),
        ];
        let p = office_progress(&reported, "16.0.17932.20162").expect("valid target");
        assert_eq!(
            (p.total, p.current, p.behind, p.ahead, p.unknown),
            (8, 3, 2, 1, 2)
        );
        assert!((p.percent_current - 37.5).abs() < 1e-9);
        assert_eq!(p.per_asset[1], (2, OfficeStatus::Behind));
        assert_eq!(p.per_asset[2], (3, OfficeStatus::Unknown));
        assert_eq!(p.per_asset[3], (4, OfficeStatus::Ahead));
        assert_eq!(
            p.per_asset[6],
            (7, OfficeStatus::Behind),
            "9999 < 17932 numerically, not as text"
        );

        let empty = office_progress(&[], "16.0.17932.20162").expect("valid target");
        assert_eq!((empty.total, empty.percent_current), (0, 0.0));
        assert_eq!(
            office_progress(&reported, "latest").unwrap_err().field,
            "target_version"
        );
    }
}
