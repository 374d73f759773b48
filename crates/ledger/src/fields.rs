//! The ledger fields people keep about an asset, and how each is checked.
//! A bad value is refused with a message that names the field.

/// How a field's value is checked and normalised.
#[derive(Clone, Copy)]
enum Rule {
    Text(usize),
    OneOf(&'static [&'static str]),
    Date,
    List,
    IpList,
    MacList,
    AssetId,
}

/// The fields, in the order of the bureau's Excel ledger.
const FIELDS: &[(&str, Rule)] = &[
    ("building", Rule::Text(100)),
    ("floor", Rule::Text(50)),
    ("room", Rule::Text(100)),
    ("department", Rule::Text(100)),
    ("user", Rule::Text(100)),
    ("vendor", Rule::Text(200)),
    ("vendor_contact", Rule::Text(500)),
    ("purchase_date", Rule::Date),
    ("lease_date", Rule::Date),
    ("warranty_end", Rule::Date),
    ("status", Rule::OneOf(&["in_use", "spare", "repair", "retired"])),
    ("ip_addresses", Rule::IpList),
    ("mac_addresses", Rule::MacList),
    ("vm_host", Rule::AssetId),
    ("tags", Rule::List),
    ("notes", Rule::Text(4000)),
];

/// Asset kinds (PRODUCT.md §2(ア)), with their Japanese names.
pub const KINDS: &[(&str, &str)] = &[
    ("pc", "PC"),
    ("server", "サーバー"),
    ("vm_host", "仮想化ホスト"),
    ("vm_guest", "仮想マシン"),
    ("router", "ルーター"),
    ("l3_switch", "L3 スイッチ"),
    ("l2_switch", "L2 スイッチ"),
    ("printer", "プリンター"),
    ("other", "その他"),
];

/// Statuses, with their Japanese names.
pub const STATUSES: &[(&str, &str)] = &[("in_use", "使用中"), ("spare", "予備"), ("repair", "修理中"), ("retired", "廃棄")];

/// Japanese column names of the ledger: console labels, export headers,
/// and the first guess when mapping an imported file's columns. The core
/// columns (`hostname`, `kind`, `site`, `serial`) come first.
pub const LABELS: &[(&str, &str)] = &[
    ("id", "資産ID"),
    ("hostname", "ホスト名"),
    ("kind", "種別"),
    ("site", "拠点"),
    ("serial", "シリアル番号"),
    ("building", "建物"),
    ("floor", "階"),
    ("room", "部屋"),
    ("department", "所属"),
    ("user", "使用者"),
    ("vendor", "保守業者"),
    ("vendor_contact", "保守連絡先"),
    ("purchase_date", "購入日"),
    ("lease_date", "リース開始日"),
    ("warranty_end", "保証期限"),
    ("status", "状態"),
    ("ip_addresses", "IPアドレス"),
    ("mac_addresses", "MACアドレス"),
    ("vm_host", "仮想化ホスト"),
    ("tags", "タグ"),
    ("notes", "備考"),
];

/// The Japanese label of a field or core column (the name itself when unknown).
pub fn label(name: &str) -> &str {
    LABELS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l).unwrap_or(name)
}

pub fn is_kind(kind: &str) -> bool {
    KINDS.iter().any(|(k, _)| *k == kind)
}

pub fn kind_label(kind: &str) -> &str {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, l)| *l).unwrap_or(kind)
}

pub fn is_field(name: &str) -> bool {
    FIELDS.iter().any(|(n, _)| *n == name)
}

pub fn field_names() -> Vec<&'static str> {
    FIELDS.iter().map(|(n, _)| *n).collect()
}

/// Checks and normalises one value; `Err` says what is wrong, in Japanese
/// and English.
pub fn check(field: &str, value: &str) -> Result<String, (String, String)> {
    let Some((_, rule)) = FIELDS.iter().find(|(n, _)| *n == field) else {
        return Err((
            format!("項目 {field} はありません ({})", field_names().join(", ")),
            format!("no field {field} (one of {})", field_names().join(", ")),
        ));
    };
    let v = value.trim();
    let bad = |ja: String, en: String| Err((format!("項目 {field}: {ja}"), format!("field {field}: {en}")));
    match *rule {
        Rule::Text(max) => {
            if v.chars().count() > max {
                return bad(format!("{max} 文字以内にしてください"), format!("longer than {max} characters"));
            }
            if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return bad("制御文字は使えません".into(), "control characters are not allowed".into());
            }
            Ok(v.to_string())
        }
        Rule::OneOf(allowed) => {
            if allowed.contains(&v) {
                Ok(v.to_string())
            } else {
                bad(format!("{v} は使えません ({})", allowed.join(", ")), format!("{v} is not one of {}", allowed.join(", ")))
            }
        }
        Rule::Date => {
            let parts: Vec<&str> = v.split(['-', '/']).collect();
            let date = match parts.as_slice() {
                [y, m, d] if y.len() == 4 => (|| {
                    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
                    time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
                })(),
                _ => None,
            };
            match date {
                Some(d) => Ok(format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())),
                None => bad(format!("{v} は日付 (YYYY-MM-DD) ではありません"), format!("{v} is not a date (YYYY-MM-DD)")),
            }
        }
        Rule::List => {
            let mut items: Vec<&str> = v.split([',', '、']).map(str::trim).filter(|s| !s.is_empty()).collect();
            items.sort();
            items.dedup();
            Ok(items.join(","))
        }
        Rule::IpList => {
            let mut out = Vec::new();
            for item in v.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
                match item.parse::<std::net::IpAddr>() {
                    Ok(ip) => out.push(ip.to_string()),
                    Err(_) => return bad(format!("{item} は IP アドレスではありません"), format!("{item} is not an IP address")),
                }
            }
            Ok(out.join(","))
        }
        Rule::MacList => {
            let mut out = Vec::new();
            for item in v.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
                let hex: String = item.chars().filter(|c| c.is_ascii_hexdigit()).collect();
                let separators_ok = item.chars().all(|c| c.is_ascii_hexdigit() || ":-.".contains(c));
                if hex.len() != 12 || !separators_ok {
                    return bad(format!("{item} は MAC アドレスではありません"), format!("{item} is not a MAC address"));
                }
                let up = hex.to_ascii_uppercase();
                out.push((0..6).map(|i| &up[i * 2..i * 2 + 2]).collect::<Vec<_>>().join(":"));
            }
            Ok(out.join(","))
        }
        Rule::AssetId => match v.parse::<i64>() {
            Ok(n) if n > 0 => Ok(n.to_string()),
            _ => bad(format!("{v} は資産 ID ではありません"), format!("{v} is not an asset id")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn values_are_checked_and_normalised() {
        assert_eq!(check("department", " 配水課 ").unwrap(), "配水課");
        assert_eq!(check("warranty_end", "2027-03-31").unwrap(), "2027-03-31");
        assert_eq!(check("purchase_date", "2024/4/1").unwrap(), "2024-04-01");
        assert!(check("warranty_end", "2027-02-30").unwrap_err().1.contains("warranty_end"));
        assert_eq!(check("status", "spare").unwrap(), "spare");
        assert!(check("status", "lost").is_err());
        assert_eq!(check("mac_addresses", "00-1b-21-aa-bb-cc, 001B.21AA.BBCD").unwrap(), "00:1B:21:AA:BB:CC,00:1B:21:AA:BB:CD");
        assert!(check("mac_addresses", "00:1b:21:aa:bb").is_err());
        assert_eq!(check("ip_addresses", "10.1.20.15 10.1.90.15").unwrap(), "10.1.20.15,10.1.90.15");
        assert!(check("ip_addresses", "10.1.20.300").unwrap_err().0.contains("10.1.20.300"));
        assert_eq!(check("tags", "貸出,重要、貸出").unwrap(), "貸出,重要");
        assert!(check("notes", "a\u{7}b").is_err());
        assert!(check("owner", "x").unwrap_err().1.contains("no field owner"));
    }
}
