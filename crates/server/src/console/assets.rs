//! Console pages of the ledger: dashboard, asset list, asset page (with its
//! edit form and history), new asset without an agent.

use super::{bar_chart, can, html_response, layout, Lang, OrPage, PageResult};
use crate::api::admin::AssetParams;
use crate::api::view::{asset_view, jst_minutes};
use crate::api::LEDGER_WRITERS;
use crate::auth::AdminUser;
use crate::error::AppError;
use crate::SharedState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use lanward_ledger::{kind_label, label, KINDS, STATUSES};
use maud::{html, Markup};
use serde_json::Value;
use std::collections::BTreeMap;

const PAGE_SIZE: u32 = 50;

fn status_label(lang: Lang, s: &str) -> String {
    match lang {
        Lang::Ja => STATUSES.iter().find(|(k, _)| *k == s).map(|(_, l)| l.to_string()).unwrap_or_else(|| s.to_string()),
        Lang::En => s.replace('_', " "),
    }
}

fn kind_text(lang: Lang, k: &str) -> String {
    match lang {
        Lang::Ja => kind_label(k).to_string(),
        Lang::En => match k {
            "pc" => "PC".into(),
            "vm_host" => "VM host".into(),
            "vm_guest" => "VM guest".into(),
            "l3_switch" => "L3 switch".into(),
            "l2_switch" => "L2 switch".into(),
            other => capitalised(other),
        },
    }
}

fn capitalised(s: &str) -> String {
    let s = s.replace('_', " ");
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub fn field_label(lang: Lang, f: &str) -> String {
    match (lang, f) {
        (Lang::Ja, _) => label(f).to_string(),
        (Lang::En, "ip_addresses") => "IP addresses".into(),
        (Lang::En, "mac_addresses") => "MAC addresses".into(),
        (Lang::En, "vm_host") => "VM host".into(),
        (Lang::En, _) => capitalised(f),
    }
}

/// A value in the history or ledger as people read it (kinds and statuses
/// by their names).
fn value_text(lang: Lang, field: &str, v: &str) -> String {
    match field {
        "kind" => kind_text(lang, v),
        "status" => status_label(lang, v),
        _ => v.to_string(),
    }
}

fn site_text(sites: &[lanward_store::SiteRecord], code: &str) -> String {
    match sites.iter().find(|s| s.code == code) {
        Some(s) => format!("{} {}", s.code, s.name),
        None => code.to_string(),
    }
}

pub async fn dashboard(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let (store, store2) = (state.store.clone(), state.store.clone());
    let cutoff = lanward_store::now_ms() - 7 * 86_400_000;
    let (s, sites) = super::blocking(&user, lang, move || -> lanward_store::Result<_> { Ok((store.asset_summary(cutoff)?, store2.sites()?)) }).await?;
    let kinds: Vec<(String, u64)> = s.by_kind.iter().map(|(k, n)| (kind_text(lang, k), *n)).collect();
    let by_site: Vec<(String, u64)> = s.by_site.iter().map(|(c, n)| (site_text(&sites, c), *n)).collect();
    let os: Vec<(String, u64)> = s.by_os.iter().take(12).cloned().collect();
    let body = html! {
        div.grid {
            div.card { div.muted { (lang.t("資産の総数", "Assets")) } div.big #total { (s.total) } div.muted { (lang.t("うちエージェントあり ", "with an agent: ")) (s.with_agent) } }
            div.card {
                div.muted { (lang.t("7 日以上接続のない PC・サーバー", "Agents not seen for 7 days")) }
                div.big.warn #not-seen { a href="/assets?not_seen_days=7" { (s.not_seen) } }
            }
        }
        div.grid {
            div.card { h2 { (lang.t("種別ごと", "By kind")) } (bar_chart(&kinds, 420)) }
            div.card { h2 { (lang.t("拠点ごと", "By site")) } (bar_chart(&by_site, 420)) }
        }
        div.grid {
            div.card.wide { h2 { (lang.t("OS ビルドごと", "By OS build")) } (bar_chart(&os, 860)) }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("ダッシュボード", "Dashboard"), body)))
}

fn query_string(p: &AssetParams, sort: Option<&str>, offset: Option<u64>) -> String {
    let mut parts = Vec::new();
    for (k, v) in [("q", &p.q), ("site", &p.site), ("kind", &p.kind), ("department", &p.department), ("status", &p.status), ("os", &p.os)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", super::url_encode(v)));
        }
    }
    if let Some(d) = p.not_seen_days.as_deref().filter(|d| !d.is_empty()) {
        parts.push(format!("not_seen_days={}", super::url_encode(d)));
    }
    if let Some(s) = sort.or(p.sort.as_deref()).filter(|s| !s.is_empty()) {
        parts.push(format!("sort={}", super::url_encode(s)));
    }
    if let Some(o) = offset.filter(|o| *o > 0) {
        parts.push(format!("offset={o}"));
    }
    parts.join("&")
}

pub async fn list(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Query(p): Query<AssetParams>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let mut q = p.query(false).page(&user, lang)?;
    q.limit = PAGE_SIZE;
    let offset = q.offset;
    let store = state.store.clone();
    let store2 = state.store.clone();
    let ((assets, total), sites) = super::blocking(&user, lang, move || -> lanward_store::Result<_> { Ok((store.list_assets(&q)?, store2.sites()?)) }).await?;
    let current_sort = p.sort.clone().unwrap_or_else(|| "id".into());
    let sort_link = |key: &str| -> String {
        let next = if current_sort == key { format!("-{key}") } else { key.to_string() };
        format!("/assets?{}", query_string(&p, Some(&next), None))
    };
    let arrow = |key: &str| -> &'static str {
        if current_sort == key {
            "▲"
        } else if current_sort == format!("-{key}") {
            "▼"
        } else {
            ""
        }
    };
    let val = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/assets" {
            label { (lang.t("検索 (ホスト名・シリアル・使用者・IP)", "Search (host, serial, user, IP)")) input #q type="search" name="q" value=(val(&p.q)) size="28"; }
            label { (lang.t("種別", "Kind")) select name="kind" {
                option value="" { "—" }
                @for (k, _) in KINDS { option value=(k) selected[p.kind.as_deref() == Some(*k)] { (kind_text(lang, k)) } }
            } }
            label { (lang.t("拠点", "Site")) select name="site" {
                option value="" { "—" }
                @for s in &sites { option value=(s.code) selected[p.site.as_deref() == Some(s.code.as_str())] { (s.code) " " (s.name) } }
            } }
            label { (lang.t("所属", "Department")) input type="text" name="department" value=(val(&p.department)) size="10"; }
            label { (lang.t("状態", "Status")) select name="status" {
                option value="" { "—" }
                @for (k, _) in STATUSES { option value=(k) selected[p.status.as_deref() == Some(*k)] { (status_label(lang, k)) } }
            } }
            label { "OS" input type="text" name="os" value=(val(&p.os)) size="10"; }
            label { (lang.t("未接続 (日)", "Not seen (days)")) input type="number" name="not_seen_days" min="1" value=(p.not_seen_days.clone().unwrap_or_default()) class="narrow"; }
            button #search type="submit" { (lang.t("絞り込む", "Filter")) }
            @if can(&user, LEDGER_WRITERS) { a.button href="/assets/new" { (lang.t("資産を追加", "Add asset")) } }
        }
        p.muted #count { (total) (lang.t(" 件", " assets")) }
        table #assets {
            thead { tr {
                th { a href=(sort_link("hostname")) { (lang.t("ホスト名", "Hostname")) (arrow("hostname")) } }
                th { a href=(sort_link("kind")) { (lang.t("種別", "Kind")) (arrow("kind")) } }
                th { a href=(sort_link("site")) { (lang.t("拠点", "Site")) (arrow("site")) } }
                th { a href=(sort_link("department")) { (lang.t("所属", "Department")) (arrow("department")) } }
                th { (lang.t("使用者", "User")) }
                th { (lang.t("状態", "Status")) }
                th { a href=(sort_link("os")) { "OS" (arrow("os")) } }
                th { a href=(sort_link("last_seen")) { (lang.t("最終接続", "Last seen")) (arrow("last_seen")) } }
            } }
            tbody {
                @for a in &assets {
                    tr {
                        td { a.asset href={ "/assets/" (a.id) } { (a.hostname) } }
                        td { (kind_text(lang, &a.kind)) }
                        td { (a.site) }
                        td { (a.fields.get("department").map(String::as_str).unwrap_or("")) }
                        td { (a.fields.get("user").map(String::as_str).unwrap_or("")) }
                        td { (a.fields.get("status").map(|s| status_label(lang, s)).unwrap_or_default()) }
                        td { (a.os_name.clone().unwrap_or_default()) " " (a.os_version.clone().unwrap_or_default()) }
                        td { (a.last_seen_ms.map(jst_minutes).unwrap_or_else(|| "—".into())) }
                    }
                }
            }
        }
        div.pager {
            @if offset > 0 { a href={ "/assets?" (query_string(&p, None, Some(offset.saturating_sub(PAGE_SIZE as u64)))) } { (lang.t("← 前へ", "← Previous")) } }
            span.muted { (offset + 1) "–" (offset + assets.len() as u64) " / " (total) }
            @if offset + (assets.len() as u64) < total { a href={ "/assets?" (query_string(&p, None, Some(offset + PAGE_SIZE as u64))) } { (lang.t("次へ →", "Next →")) } }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("資産一覧", "Assets"), body)))
}

fn text_rows(v: &Value, keys: &[(&str, &str, &str)], lang: Lang) -> Markup {
    html! {
        @for (key, ja, en) in keys {
            @let shown = match v.pointer(key) { Some(Value::String(s)) => s.clone(), Some(Value::Null) | None => String::new(), Some(other) => other.to_string() };
            @if !shown.is_empty() { tr { th { (lang.t(ja, en)) } td { (shown) } } }
        }
    }
}

/// One form input for a ledger field, by its rule.
fn field_input(lang: Lang, field: &str, value: &str) -> Markup {
    html! {
        @match field {
            "status" => select name=(field) id={ "f-" (field) } {
                option value="" { "—" }
                @for (k, _) in STATUSES { option value=(k) selected[value == *k] { (status_label(lang, k)) } }
            },
            "notes" | "vendor_contact" => textarea name=(field) id={ "f-" (field) } rows="2" { (value) },
            "purchase_date" | "lease_date" | "warranty_end" => input type="date" name=(field) id={ "f-" (field) } value=(value);,
            _ => input type="text" name=(field) id={ "f-" (field) } value=(value);,
        }
    }
}

pub async fn page(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Path(id): Path<String>, Query(flash): Query<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let id: i64 = id.parse().map_err(|_| AppError::not_found(&format!("asset {id}"))).page(&user, lang)?;
    let (store, store2, store3) = (state.store.clone(), state.store.clone(), state.store.clone());
    let (asset, history, sites) = super::blocking(&user, lang, move || -> lanward_store::Result<_> { Ok((store.get_asset(id)?, store2.asset_history(id)?, store3.sites()?)) }).await?;
    let asset = asset.ok_or_else(|| AppError::not_found(&format!("asset {id}"))).page(&user, lang)?;
    let v = asset_view(&asset, true);
    let editable = can(&user, LEDGER_WRITERS);
    let agent_owned = asset.agent_id.is_some() && !asset.agent_revoked;
    let get = |f: &str| asset.fields.get(f).cloned().unwrap_or_default();
    let software = v["software"].as_array().cloned().unwrap_or_default();
    let hotfixes = v["hotfixes"].as_array().cloned().unwrap_or_default();
    let body = html! {
        @if flash.contains_key("saved") { div.notice #saved { (lang.t("保存しました", "Saved")) } }
        div.grid {
            div.card {
                h2 { (lang.t("概要", "Summary")) }
                table.fields { tbody {
                    tr { th { (lang.t("ホスト名", "Hostname")) } td #hostname { (asset.hostname) } }
                    tr { th { (lang.t("種別", "Kind")) } td { (kind_text(lang, &asset.kind)) } }
                    tr { th { (lang.t("拠点", "Site")) } td { (site_text(&sites, &asset.site)) } }
                    tr { th { (lang.t("シリアル番号", "Serial")) } td { (asset.serial.clone().unwrap_or_default()) } }
                    tr { th { (lang.t("エージェント", "Agent")) } td {
                        @match (&asset.agent_id, asset.agent_revoked) {
                            (Some(a), false) => { code { (a) } },
                            (Some(_), true) => { span.warn { (lang.t("失効", "revoked")) } },
                            (None, _) => { span.muted { (lang.t("なし (手動で管理)", "none (kept by hand)")) } },
                        }
                    } }
                    tr { th { (lang.t("最終接続", "Last seen")) } td { (asset.last_seen_ms.map(jst_minutes).unwrap_or_else(|| "—".into())) } }
                    (text_rows(&v, &[("/os/name", "OS", "OS"), ("/os/display_version", "バージョン", "Version"), ("/os/build", "ビルド", "Build"), ("/os/domain", "ドメイン", "Domain")], lang))
                } }
            }
            @if !v["hardware"].is_null() { div.card {
                h2 { (lang.t("ハードウェア", "Hardware")) }
                table.fields { tbody {
                    (text_rows(&v, &[("/hardware/vendor", "メーカー", "Vendor"), ("/hardware/model", "機種", "Model"), ("/hardware/cpu/model", "CPU", "CPU"), ("/hardware/memory_bytes", "メモリ (バイト)", "Memory (bytes)"), ("/hardware/bios/version", "BIOS", "BIOS")], lang))
                    @if let Some(nics) = v.pointer("/hardware/nics").and_then(Value::as_array) {
                        @for n in nics { tr { th { (n["name"].as_str().unwrap_or("")) } td { (n["mac"].as_str().unwrap_or("")) " " (n["ipv4"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()) } } }
                    }
                } }
            } }
        }
        h2 { (lang.t("台帳", "Ledger")) }
        @if editable {
            form #ledger method="post" action={ "/assets/" (asset.id) } {
                input type="hidden" name="csrf" value=(user.csrf());
                table.fields { tbody {
                    @if !agent_owned { tr { th { (lang.t("ホスト名", "Hostname")) } td { input type="text" name="hostname" id="f-hostname" value=(asset.hostname); } } }
                    tr { th { (lang.t("種別", "Kind")) } td { select name="kind" id="f-kind" { @for (k, _) in KINDS { option value=(k) selected[asset.kind == *k] { (kind_text(lang, k)) } } } } }
                    tr { th { (lang.t("拠点", "Site")) } td { select name="site" id="f-site" {
                        @if !sites.iter().any(|s| s.code == asset.site) { option value=(asset.site) selected { (asset.site) } }
                        @for s in &sites { option value=(s.code) selected[s.code == asset.site] { (s.code) " " (s.name) } }
                    } } }
                    @if !agent_owned { tr { th { (lang.t("シリアル番号", "Serial")) } td { input type="text" name="serial" id="f-serial" value=(asset.serial.clone().unwrap_or_default()); } } }
                    @for f in lanward_ledger::field_names() { tr { th { label for={ "f-" (f) } { (field_label(lang, f)) } } td { (field_input(lang, f, &get(f))) } } }
                } }
                p { button #save type="submit" { (lang.t("保存", "Save")) } }
            }
        } @else {
            table.fields { tbody { @for f in lanward_ledger::field_names() { tr { th { (field_label(lang, f)) } td { (value_text(lang, f, &get(f))) } } } } }
        }
        h2 { (lang.t("変更履歴", "History")) }
        table #history {
            thead { tr { th { (lang.t("日時", "When")) } th { (lang.t("項目", "Field")) } th { (lang.t("変更前", "Old")) } th { (lang.t("変更後", "New")) } th { (lang.t("変更者", "By")) } } }
            tbody { @for h in history.iter().rev() { tr {
                td.nowrap { (jst_minutes(h.at_ms)) } td { (field_label(lang, &h.field)) }
                td { (value_text(lang, &h.field, h.old_value.as_deref().unwrap_or(""))) } td { (value_text(lang, &h.field, h.new_value.as_deref().unwrap_or(""))) } td { (h.actor) }
            } } }
        }
        h2 { (lang.t("ソフトウェア", "Software")) " (" (software.len()) ")" }
        table #software {
            thead { tr { th { (lang.t("名前", "Name")) } th { (lang.t("バージョン", "Version")) } th { (lang.t("発行元", "Publisher")) } } }
            tbody { @for s in &software { tr { td { (s["name"].as_str().unwrap_or("")) } td { (s["version"].as_str().unwrap_or("")) } td { (s["publisher"].as_str().unwrap_or("")) } } } }
        }
        h2 { (lang.t("更新プログラム", "Hotfixes")) " (" (hotfixes.len()) ")" }
        p { @for h in &hotfixes { code { (h["id"].as_str().unwrap_or("")) } " " } }
    };
    Ok(html_response(layout(lang, Some(&user), &asset.hostname, body)))
}

/// The form's fields as requested changes (empty clears a field).
fn form_changes(form: &BTreeMap<String, String>, agent_owned: bool) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for (k, v) in form {
        let allowed = lanward_ledger::is_field(k) || k == "kind" || k == "site" || (!agent_owned && (k == "hostname" || k == "serial"));
        if allowed {
            let v = v.trim();
            out.insert(k.clone(), (!v.is_empty()).then(|| v.to_string()));
        }
    }
    out
}

pub async fn update(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Path(id): Path<String>, Form(form): Form<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let id: i64 = id.parse().map_err(|_| AppError::not_found(&format!("asset {id}"))).page(&user, lang)?;
    let store = state.store.clone();
    let asset = super::blocking(&user, lang, move || store.get_asset(id)).await?
        .ok_or_else(|| AppError::not_found(&format!("asset {id}")))
        .page(&user, lang)?;
    let agent_owned = asset.agent_id.is_some() && !asset.agent_revoked;
    let changes = crate::api::ledger::check_changes(&state, &form_changes(&form, agent_owned), agent_owned).await.page(&user, lang)?;
    let (store, actor) = (state.store.clone(), user.actor());
    let done = super::blocking(&user, lang, move || store.set_asset_fields(id, &changes, &actor, lanward_store::now_ms())).await?;
    if !done.is_empty() {
        let detail = done.iter().map(|h| h.field.as_str()).collect::<Vec<_>>().join(",");
        crate::api::admin::audit(&state, &user, "asset.update", format!("asset:{id}"), format!("fields={detail}")).await.page(&user, lang)?;
    }
    Ok(Redirect::to(&format!("/assets/{id}?saved=1")).into_response())
}

pub async fn new_form(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Query(prefill): Query<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let store = state.store.clone();
    let sites = super::blocking(&user, lang, move || store.sites()).await?;
    let body = html! {
        p.muted { (lang.t("ルーター、スイッチ、プリンターなどエージェントのない機器を台帳に登録します。", "Registers a device without an agent (router, switch, printer...).")) }
        form #new-asset method="post" action="/assets/new" {
            input type="hidden" name="csrf" value=(user.csrf());
            table.fields { tbody {
                tr { th { (lang.t("ホスト名", "Hostname")) } td { input type="text" name="hostname" required; } }
                tr { th { (lang.t("種別", "Kind")) } td { select name="kind" { @for (k, _) in KINDS { option value=(k) { (kind_text(lang, k)) } } } } }
                tr { th { (lang.t("拠点", "Site")) } td { select name="site" { @for s in &sites { option value=(s.code) { (s.code) " " (s.name) } } } } }
                tr { th { (lang.t("シリアル番号", "Serial")) } td { input type="text" name="serial"; } }
                @for f in lanward_ledger::field_names() { tr { th { (field_label(lang, f)) } td { (field_input(lang, f, prefill.get(f).map(String::as_str).unwrap_or(""))) } } }
            } }
            p { button type="submit" { (lang.t("登録", "Register")) } }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("資産を追加", "Add asset"), body)))
}

pub async fn create(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Form(form): Form<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let get = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let mut fields = form_changes(&form, false);
    for k in ["hostname", "kind", "site"] {
        fields.remove(k);
    }
    fields.retain(|_, v| v.is_some());
    let body = crate::api::ledger::NewAsset { hostname: get("hostname"), kind: get("kind"), site: get("site"), fields };
    let id = crate::api::ledger::create_asset_for(&state, &user, body).await.page(&user, lang)?;
    Ok(Redirect::to(&format!("/assets/{id}?saved=1")).into_response())
}

pub async fn unknown_devices(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let store = state.store.clone();
    let devices = super::blocking(&user, lang, move || store.unknown_devices()).await?;
    let editable = can(&user, LEDGER_WRITERS);
    let body = html! {
        p.muted { (lang.t("PC のエージェントが同じネットワーク上で見かけた (ARP) アドレスのうち、台帳のどの資産の IP・MAC とも一致しないものです。登録するか、対象外として除外してください。",
                          "Addresses that agents saw on their LAN (ARP) matching no asset's IP or MAC. Register them or dismiss them.")) }
        table #unknown {
            thead { tr { th { "IP" } th { "MAC" } th { (lang.t("最初に確認", "First seen")) } th { (lang.t("最後に確認", "Last seen")) } th { (lang.t("確認した PC", "Seen by")) } th { (lang.t("回数", "Sightings")) } th { (lang.t("状態", "Status")) } @if editable { th {} } } }
            tbody { @for d in &devices { tr {
                td { (d.ip) } td { (d.mac.clone().unwrap_or_default()) } td { (jst_minutes(d.first_seen_ms)) } td { (jst_minutes(d.last_seen_ms)) }
                td { @if let (Some(id), Some(h)) = (d.seen_by_asset, &d.seen_by_hostname) { a href={ "/assets/" (id) } { (h) } } }
                td { (d.sightings) }
                td { @if d.status == "dismissed" { span.muted { (lang.t("除外", "dismissed")) } } @else { span.warn { (lang.t("未登録", "new")) } } }
                @if editable { td {
                    a.button href={ "/assets/new?ip_addresses=" (super::url_encode(&d.ip)) "&mac_addresses=" (super::url_encode(d.mac.as_deref().unwrap_or(""))) } { (lang.t("登録", "Register")) }
                    @if d.status != "dismissed" {
                        " " form.inline method="post" action={ "/unknown/" (d.ip) "/dismiss" } {
                            input type="hidden" name="csrf" value=(user.csrf());
                            button type="submit" { (lang.t("除外", "Dismiss")) }
                        }
                    }
                } }
            } } }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("未登録機器", "Unknown devices"), body)))
}

pub async fn dismiss_unknown(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Path(ip): Path<String>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    crate::api::ledger::dismiss(&state, &user, &ip).await.page(&user, lang)?;
    Ok(Redirect::to("/unknown").into_response())
}
