//! The OpenAPI document of `/api/v1`, written by hand: it is the contract
//! other tools and checks rely on, so it changes only on purpose.

use axum::Json;
use serde_json::{json, Value};

pub async fn document() -> Json<Value> {
    Json(spec())
}

/// The hand-written document with each operation's access rule added from
/// the route table (`x-lanward-access`), so the two cannot disagree.
pub fn spec() -> Value {
    let mut doc = paths_doc();
    if let (Some(paths), Value::Object(more)) = (doc.get_mut("paths").and_then(Value::as_object_mut), distribution_paths()) {
        paths.extend(more);
    }
    for r in super::API_ROUTES {
        let access = match r.access {
            super::Access::Public => json!("public"),
            super::Access::Agent => json!("agent"),
            super::Access::Roles(roles) => json!(roles),
        };
        if let Some(op) = doc.pointer_mut(&format!("/paths/{}/{}", r.path.replace('~', "~0").replace('/', "~1"), r.method)).and_then(Value::as_object_mut) {
            op.insert("x-lanward-access".into(), access);
        }
    }
    doc
}

fn err_responses() -> Value {
    json!({
        "400": {"description": "不正な要求 (bad request)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "401": {"description": "認証されていない (unauthenticated)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "503": {"description": "データベース利用不可 (database unavailable; retry)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    })
}

fn with_errors(ok: Value) -> Value {
    let mut r = err_responses();
    if let (Some(map), Some(ok)) = (r.as_object_mut(), ok.as_object()) {
        for (k, v) in ok {
            map.insert(k.clone(), v.clone());
        }
    }
    r
}

fn paths_doc() -> Value {
    let bearer = json!([{"bearer": []}, {"session": []}]);
    let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let agent_sig = json!([{"agentSignature": []}]);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "lanward API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "資産管理サーバーの API。管理者は Bearer トークン、エージェントは Ed25519 署名で認証する。"},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token for scripts (no CSRF token needed)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "lanward_session",
                    "description": "Console session from POST /api/v1/session; state-changing requests also need header X-CSRF-Token"},
                "agentSignature": {"type": "apiKey", "in": "header", "name": "x-lanward-signature",
                    "description": "Ed25519 signature over `lanward-v1\\nMETHOD\\nPATH\\nTIMESTAMP_MS\\nNONCE\\nSHA256(body)`, with headers x-lanward-agent, x-lanward-timestamp, x-lanward-nonce."}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "message_en": {"type": "string"}}},
                "Asset": {"type": "object", "required": ["id", "hostname", "kind", "site", "last_seen"], "properties": {
                    "id": {"type": "integer"}, "hostname": {"type": "string"},
                    "kind": {"type": "string", "enum": ["pc", "server", "vm_host", "vm_guest", "router", "l3_switch", "l2_switch", "printer", "other"]},
                    "site": {"type": "string"}, "agent_id": {"type": ["string", "null"]}, "agent_revoked": {"type": "boolean"},
                    "first_seen": {"type": "string", "format": "date-time"}, "last_seen": {"type": ["string", "null"], "format": "date-time"},
                    "os": {"type": ["object", "null"], "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "build": {"type": "string"}, "display_version": {"type": ["string", "null"]}}},
                    "hardware": {"type": ["object", "null"], "properties": {
                        "cpu": {"type": "object", "properties": {"model": {"type": "string"}, "cores": {"type": "integer"}, "threads": {"type": "integer"}}},
                        "memory_bytes": {"type": "integer"},
                        "disks": {"type": "array", "items": {"type": "object", "properties": {"model": {"type": ["string", "null"]}, "serial": {"type": ["string", "null"]}, "size_bytes": {"type": "integer"}, "free_bytes": {"type": ["integer", "null"]}}}},
                        "nics": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "mac": {"type": ["string", "null"]}, "ipv4": {"type": "array", "items": {"type": "string"}}, "ipv6": {"type": "array", "items": {"type": "string"}}}}}}},
                    "software": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": ["string", "null"]}, "publisher": {"type": ["string", "null"]}, "source": {"type": "string"}}}},
                    "hotfixes": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "installed_on": {"type": ["string", "null"]}}}},
                    "office": {"type": ["object", "null"]}, "antivirus": {"type": "array"}}}
            }
        },
        "paths": {
            "/api/v1/health": {"get": {"summary": "稼働確認 (ready check)", "security": [], "responses": {"200": {"description": "ready"}, "503": {"description": "database unavailable"}}}},
            "/api/v1/openapi.json": {"get": {"summary": "この文書", "security": [], "responses": {"200": {"description": "OpenAPI document"}}}},
            "/api/v1/enroll/ca": {"get": {"summary": "サーバー CA 証明書 (PEM); agents check it against the token's fingerprint", "security": [], "responses": {"200": {"description": "PEM"}}}},
            "/api/v1/enroll": {"post": {"summary": "エージェント登録", "security": [],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["token", "public_key", "hostname", "os_family", "agent_version"]}}}},
                "responses": with_errors(json!({"200": {"description": "enrolled: agent_id, site, checkin_interval_secs"}}))}},
            "/api/v1/agent/checkin": {"post": {"summary": "チェックイン (changed inventory sections, hashes, queue gaps)", "security": agent_sig,
                "responses": with_errors(json!({"200": {"description": "next_checkin_secs, inventory_interval_secs, resend"}, "413": {"description": "body over 8 MB"}}))}},
            "/api/v1/assets": {"get": {"summary": "資産一覧", "security": bearer,
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "part of hostname, serial, user, notes, tags or an IP address"},
                    {"name": "site", "in": "query", "schema": {"type": "string"}},
                    {"name": "kind", "in": "query", "schema": {"type": "string"}},
                    {"name": "department", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {"name": "os", "in": "query", "schema": {"type": "string"}, "description": "part of OS name or version"},
                    {"name": "not_seen_days", "in": "query", "schema": {"type": "integer"}},
                    {"name": "sort", "in": "query", "schema": {"type": "string"}, "description": "id, hostname, kind, site, department, os, last_seen; prefix - for descending"},
                    {"name": "hostname", "in": "query", "schema": {"type": "string"}, "description": "older name of q"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 100, "maximum": 1000}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}},
                    {"name": "view", "in": "query", "schema": {"type": "string", "enum": ["full", "summary"]}}],
                "responses": with_errors(json!({"200": {"description": "assets", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "assets": {"type": "array", "items": {"$ref": "#/components/schemas/Asset"}}, "total": {"type": "integer"}, "next_offset": {"type": ["integer", "null"]}}}}}}})),},
                "post": {"summary": "エージェントのない資産の登録 (router, switch, printer...)", "security": bearer,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["hostname", "kind", "site"], "properties": {
                        "hostname": {"type": "string"}, "kind": {"type": "string"}, "site": {"type": "string", "description": "a registered site code or name"},
                        "fields": {"type": "object", "additionalProperties": {"type": ["string", "null"]}}}}}}},
                    "responses": with_errors(json!({"201": {"description": "created: id"}}))}},
            "/api/v1/assets/export": {"get": {"summary": "台帳の書き出し (.xlsx with Japanese headers, frozen header row and filters; or CSV)", "security": bearer,
                "parameters": [
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["xlsx", "csv"], "default": "xlsx"}},
                    {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["ja", "en"], "default": "ja"}},
                    {"name": "encoding", "in": "query", "schema": {"type": "string", "enum": ["utf8", "sjis"], "default": "utf8"}, "description": "CSV only"}],
                "responses": with_errors(json!({"200": {"description": "the ledger file (audited)"}}))}},
            "/api/v1/api-tokens": {
                "get": {"summary": "API トークン一覧 (own; administrators see all)", "security": bearer, "responses": with_errors(json!({"200": {"description": "tokens (no secrets)"}}))},
                "post": {"summary": "スクリプト用 API トークンの作成 (the caller's role; shown once)", "security": bearer,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"}, "expires_in_days": {"type": "integer", "default": 90, "maximum": 366}}}}}},
                    "responses": with_errors(json!({"200": {"description": "id, token"}}))}},
            "/api/v1/api-tokens/{id}/revoke": {"post": {"summary": "API トークンの失効", "security": bearer, "parameters": id_param,
                "responses": with_errors(json!({"200": {"description": "revoked"}, "404": {"description": "no such token of yours"}}))}},
            "/api/v1/agent/events": {"post": {"summary": "操作ログの送信 (numbered event batch; body JSON, optionally LZ4 with Content-Encoding: x-lz4)", "security": agent_sig,
                "responses": with_errors(json!({"200": {"description": "acked_through, stored, duplicates"}}))}},
            "/api/v1/logs": {"get": {"summary": "操作ログの検索 (audited: who, query, how many)", "security": bearer,
                "parameters": [
                    {"name": "from", "in": "query", "schema": {"type": "string"}, "description": "RFC 3339 or YYYY-MM-DD (JST); default 24 h before `to`"},
                    {"name": "to", "in": "query", "schema": {"type": "string"}},
                    {"name": "pc", "in": "query", "schema": {"type": "string"}, "description": "hostnames, comma-separated"},
                    {"name": "user", "in": "query", "schema": {"type": "string"}},
                    {"name": "kind", "in": "query", "schema": {"type": "string"}, "description": "kinds, comma-separated"},
                    {"name": "text", "in": "query", "schema": {"type": "string"}, "description": "words that must all appear (Japanese without spaces is fine)"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 100}},
                    {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["desc", "asc"]}}],
                "responses": with_errors(json!({"200": {"description": "{\"events\": [{\"time\", \"pc\", \"user\", \"kind\", ...kind-specific fields}], \"total\"}"}}))}},
            "/api/v1/logs/export": {"get": {"summary": "操作ログの書き出し (same filters; format=csv|xlsx; audited)", "security": bearer,
                "responses": with_errors(json!({"200": {"description": "CSV or xlsx"}}))}},
            "/api/v1/logs/counts": {"get": {"summary": "操作ログの日別・種類別件数", "security": bearer,
                "responses": with_errors(json!({"200": {"description": "counts: day, kind, count"}}))}},
            "/api/v1/logs/partitions": {"get": {"summary": "操作ログの保存状況 (partitions, events, bytes, retention, damaged partitions)", "security": bearer,
                "responses": with_errors(json!({"200": {"description": "partitions and damaged ones"}}))}},
            "/api/v1/alert-rules": {
                "get": {"summary": "操作ログの警告ルール", "security": bearer, "responses": with_errors(json!({"200": {"description": "rules"}}))},
                "post": {"summary": "警告ルールの作成 (kind, site, department, process_contains, text_contains, device_class; all given must hold; recipients: e-mail addresses notified when DATA/mail.json is set)", "security": bearer,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"]}}}},
                    "responses": with_errors(json!({"201": {"description": "id"}}))}},
            "/api/v1/alert-rules/{id}/delete": {"post": {"summary": "警告ルールの削除", "security": bearer, "parameters": id_param,
                "responses": with_errors(json!({"200": {"description": "deleted"}, "404": {"description": "no such rule"}}))}},
            "/api/v1/alerts": {"get": {"summary": "警告の一覧 (newest first; open=true for unacknowledged)", "security": bearer,
                "responses": with_errors(json!({"200": {"description": "alerts"}}))}},
            "/api/v1/alerts/{id}/ack": {"post": {"summary": "警告の確認済み", "security": bearer, "parameters": id_param,
                "responses": with_errors(json!({"200": {"description": "acknowledged"}, "404": {"description": "no such open alert"}}))}},
            "/api/v1/summary": {"get": {"summary": "ダッシュボードの集計 (counts by kind, site, OS; agents not seen for 7 days)", "security": bearer,
                "responses": with_errors(json!({"200": {"description": "counts"}}))}},
            "/api/v1/session": {
                "post": {"summary": "ログイン (local password or Active Directory); sets the lanward_session cookie", "security": [],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["username", "password"]}}}},
                    "responses": with_errors(json!({"200": {"description": "username, role, csrf_token"}, "429": {"description": "too many failures"}}))},
                "get": {"summary": "ログイン中の利用者", "security": bearer, "responses": with_errors(json!({"200": {"description": "username, role, csrf_token"}}))},
                "delete": {"summary": "ログアウト", "security": bearer, "responses": with_errors(json!({"204": {"description": "signed out"}}))}},
            "/api/v1/imports": {"post": {"summary": "台帳ファイルの読み込みと確認 (.xlsx or CSV in UTF-8/Shift_JIS as the raw body; nothing is written)", "security": bearer,
                "parameters": [{"name": "filename", "in": "query", "schema": {"type": "string"}}],
                "responses": with_errors(json!({"200": {"description": "id, headers, mapping, plan (every row's action and problems by row and column)"}, "422": {"description": "the file cannot be read (names row and column)"}}))}},
            "/api/v1/imports/{id}": {"get": {"summary": "取り込み内容の確認 (planned again against the ledger now)", "security": bearer, "parameters": id_param,
                "responses": with_errors(json!({"200": {"description": "plan"}, "404": {"description": "no such pending import"}}))}},
            "/api/v1/imports/{id}/mapping": {"post": {"summary": "列の対応の変更", "security": bearer, "parameters": id_param,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"columns": {"type": "object", "description": "column letter → target or null", "additionalProperties": {"type": ["string", "null"]}}}}}}},
                "responses": with_errors(json!({"200": {"description": "plan"}}))}},
            "/api/v1/imports/{id}/apply": {"post": {"summary": "取り込みの実行 (all rows in one transaction; refused when any row has an error)", "security": bearer, "parameters": id_param,
                "responses": with_errors(json!({"200": {"description": "created, updated, unchanged"}, "422": {"description": "rows have errors; nothing written"}}))}},
            "/api/v1/unknown-devices": {"get": {"summary": "未登録機器 (addresses agents saw that match no asset)", "security": bearer,
                "responses": with_errors(json!({"200": {"description": "devices"}}))}},
            "/api/v1/unknown-devices/{ip}/dismiss": {"post": {"summary": "未登録機器を対象外にする", "security": bearer,
                "parameters": [{"name": "ip", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with_errors(json!({"200": {"description": "dismissed"}, "404": {"description": "no such address"}}))}},
            "/api/v1/sites": {
                "get": {"summary": "拠点一覧", "security": bearer, "responses": with_errors(json!({"200": {"description": "sites"}}))},
                "post": {"summary": "拠点の登録・名称変更 (administrator)", "security": bearer,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["code", "name"]}}}},
                    "responses": with_errors(json!({"200": {"description": "saved"}}))}},
            "/api/v1/assets/{id}": {"get": {"summary": "資産の詳細", "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": with_errors(json!({"200": {"description": "asset", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Asset"}}}}, "404": {"description": "no such asset"}}))},
                "patch": {"summary": "台帳項目の変更 (administrator, operator); every change goes to the history", "security": bearer,
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["fields"], "properties": {
                        "fields": {"type": "object", "description": "building, floor, room, department, user, vendor, vendor_contact, purchase_date, lease_date, warranty_end, status (in_use|spare|repair|retired), ip_addresses, mac_addresses, vm_host, tags, notes; null or \"\" clears",
                                   "additionalProperties": {"type": ["string", "null"]}}}}}}},
                    "responses": with_errors(json!({"200": {"description": "the changes made"}, "404": {"description": "no such asset"}}))}},
            "/api/v1/assets/{id}/history": {"get": {"summary": "台帳項目の変更履歴 (who, when, old, new)", "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": with_errors(json!({"200": {"description": "history, oldest first"}}))}},
            "/api/v1/enrollment-tokens": {
                "get": {"summary": "登録トークン一覧", "security": bearer, "responses": with_errors(json!({"200": {"description": "tokens (secrets are never shown again)"}}))},
                "post": {"summary": "登録トークン作成", "security": bearer,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["site", "expires_in_secs"], "properties": {
                        "site": {"type": "string"}, "expires_in_secs": {"type": "integer"}, "max_uses": {"type": "integer", "default": 1000}}}}}},
                    "responses": with_errors(json!({"200": {"description": "token: lwt1.<id>.<secret>.<ca-sha256>"}}))}},
            "/api/v1/agents": {"get": {"summary": "エージェント一覧", "security": bearer, "responses": with_errors(json!({"200": {"description": "agents"}}))}},
            "/api/v1/agents/{id}/revoke": {"post": {"summary": "エージェント失効", "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with_errors(json!({"200": {"description": "revoked"}, "404": {"description": "no such agent"}}))}},
            "/api/v1/agents/{id}/gaps": {"get": {"summary": "エージェントのキュー欠落記録", "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with_errors(json!({"200": {"description": "gap records"}}))}},
            "/api/v1/users": {
                "get": {"summary": "利用者一覧", "security": bearer, "responses": with_errors(json!({"200": {"description": "users (no password hashes)"}}))},
                "post": {"summary": "利用者の作成 (administrator)", "security": bearer,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["username", "role", "password"], "properties": {
                        "username": {"type": "string"}, "role": {"type": "string", "enum": ["administrator", "operator", "helpdesk", "approver", "auditor"]},
                        "display_name": {"type": "string"}, "password": {"type": "string", "minLength": 12}}}}}},
                    "responses": with_errors(json!({"200": {"description": "created"}, "409": {"description": "exists"}}))}},
            "/api/v1/audit": {"get": {"summary": "監査ログ (hash-chained)", "security": bearer,
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                "responses": with_errors(json!({"200": {"description": "entries and chain_intact"}}))}}
        }
    })
}

/// Software distribution (kept apart: one `json!` of every path would
/// exceed the macro's recursion limit).
fn distribution_paths() -> Value {
    let bearer = json!([{"bearer": []}, {"session": []}]);
    let agent_sig = json!([{"agentSignature": []}]);
    let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let control = |what: &str| json!({"post": {"summary": what, "security": bearer, "parameters": id_param,
        "responses": with_errors(json!({"200": {"description": "targets_changed"}, "404": {"description": "no such deployment"}, "409": {"description": "cancelled"}}))}});
    json!({
        "/api/v1/agent/deployments": {"post": {"summary": "エージェントへの配布指示 (assignments: signed manifest, go/wait/stop, until)", "security": agent_sig,
            "responses": with_errors(json!({"200": {"description": "AssignmentsResponse"}}))}},
        "/api/v1/agent/deployments/report": {"post": {"summary": "配布の進捗報告 (progress, downloaded, installing, installed, failed, not applicable)", "security": agent_sig,
            "responses": with_errors(json!({"200": {"description": "applied"}}))}},
        "/api/v1/agent/chunks/{id}": {"get": {"summary": "パッケージ内容の 1 チャンク (SHA-256; only of a package assigned to the agent; throttled to the site's WAN cap)", "security": agent_sig,
            "parameters": id_param, "responses": with_errors(json!({"200": {"description": "chunk bytes"}, "403": {"description": "not assigned"}}))}},
        "/api/v1/packages": {
            "get": {"summary": "パッケージ一覧", "security": bearer, "responses": with_errors(json!({"200": {"description": "packages, signing_key_id, signs_online"}}))},
            "post": {"summary": "パッケージの追加 (body: the installer; recognised, chunked, signed)", "security": bearer,
                "parameters": [
                    {"name": "name", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "version", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "file_name", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "command", "in": "query", "schema": {"type": "string"}, "description": "silent command with {file} {log} {dir}; overrides the proposal"},
                    {"name": "detection", "in": "query", "schema": {"type": "string"}, "description": "msi:{GUID}[>=v] | reg:HKLM\\Key!Value[==x|>=v] | file:PATH[>=v] | deb:NAME[>=v] | script:PATH | none"},
                    {"name": "timeout_secs", "in": "query", "schema": {"type": "integer"}},
                    {"name": "valid_days", "in": "query", "schema": {"type": "integer"}},
                    {"name": "exit_codes", "in": "query", "schema": {"type": "string"}, "description": "CODE=success|reboot|retry|failure, comma-separated"}
                ],
                "requestBody": {"required": true, "content": {"application/octet-stream": {}}},
                "responses": with_errors(json!({"201": {"description": "package, notes, chunks"}, "409": {"description": "name and version exist"}}))}},
        "/api/v1/packages/{id}/manifest": {"get": {"summary": "署名前のマニフェスト (for offline signing)", "security": bearer, "parameters": id_param,
            "responses": with_errors(json!({"200": {"description": "manifest JSON"}}))}},
        "/api/v1/packages/{id}/signature": {"post": {"summary": "オフライン署名の登録 (body: signed manifest)", "security": bearer, "parameters": id_param,
            "responses": with_errors(json!({"200": {"description": "package"}}))}},
        "/api/v1/deployments": {
            "get": {"summary": "配布の一覧", "security": bearer, "responses": with_errors(json!({"200": {"description": "deployments with counts"}}))},
            "post": {"summary": "配布の作成 (targets, pilot, by_department, gate_percent, at, windows, deadline, caps, spread_minutes)", "security": bearer,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "package": {"type": "string"}, "package_id": {"type": "integer"}, "version": {"type": "string"},
                    "targets": {"type": "object", "properties": {"hostnames": {"type": "array"}, "sites": {"type": "array"}, "departments": {"type": "array"}, "tags": {"type": "array"}}},
                    "pilot": {"type": "array"}, "by_department": {"type": "boolean"}, "gate_percent": {"type": "integer"},
                    "at": {"type": "string", "format": "date-time"}, "deadline": {"type": "string", "format": "date-time"},
                    "windows": {"type": "array", "description": "\"mon-fri 12:00-13:00\" or {cron, minutes} (JST)"},
                    "per_site_concurrency": {"type": "integer"}, "global_concurrency": {"type": "integer"}, "per_site_bytes_per_sec": {"type": "integer"}, "spread_minutes": {"type": "integer"}}}}}},
                "responses": with_errors(json!({"201": {"description": "id, targets, waves"}}))}},
        "/api/v1/deployments/{id}": {"get": {"summary": "配布の状況 (every target's state, per wave and per site, WAN bytes per site)", "security": bearer, "parameters": id_param,
            "responses": with_errors(json!({"200": {"description": "DeploymentView"}, "404": {"description": "no such deployment"}}))}},
        "/api/v1/office/progress": {"get": {"summary": "Office 更新の進み具合 (each PC's Click-to-Run version against the target: current, behind, ahead, unknown)", "security": bearer,
            "parameters": [{"name": "target", "in": "query", "required": true, "schema": {"type": "string"}}, {"name": "site", "in": "query", "schema": {"type": "string"}}, {"name": "department", "in": "query", "schema": {"type": "string"}}],
            "responses": with_errors(json!({"200": {"description": "counts and per-PC status"}}))}},
        "/api/v1/deployments/{id}/pause": control("一時停止"),
        "/api/v1/deployments/{id}/resume": control("再開"),
        "/api/v1/deployments/{id}/cancel": control("取消"),
        "/api/v1/deployments/{id}/retry": control("失敗した端末を再試行")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_api_route_is_documented_with_its_access() {
        let doc = super::spec();
        for r in super::super::API_ROUTES {
            let key = format!("/paths/{}/{}", r.path.replace('/', "~1"), r.method);
            let op = doc.pointer(&key).unwrap_or_else(|| panic!("{} {} is not in the OpenAPI document", r.method, r.path));
            assert!(op.get("x-lanward-access").is_some(), "{key}");
        }
        let documented: usize = doc["paths"].as_object().map(|p| p.values().map(|ops| ops.as_object().map_or(0, |o| o.len())).sum()).unwrap_or(0);
        assert_eq!(documented, super::super::API_ROUTES.len(), "the document has operations that no route serves");
    }
}
