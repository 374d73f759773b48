//! Roles, sessions and CSRF end to end: every route's access rule checked
//! for every role (the role walker, driven by `lanward_server::api::all_routes()`),
//! forged, expired and ended sessions, role escalation, sign-in throttling,
//! and API tokens (no CSRF) beside sessions (CSRF).

use crate::support::*;
use lanward_server::api::{all_routes, Access, Route};
use serde_json::{json, Value};
use std::time::Instant;

const PASSWORD: &str = "correct horse battery staple";
const ROLES: &[&str] = lanward_server::auth::ROLES;
/// A ledger file whose only row has an unknown kind: it previews, but never
/// applies, so the import routes can be called again and again.
const BAD_CSV: &[u8] = "ホスト名,種別,拠点\r\nWALK-IMPORT,宇宙船,HQ\r\n".as_bytes();

// ---------------------------------------------------------------- HTTP helpers

struct Reply {
    status: u16,
    location: String,
    set_cookie: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_string()
    }
    /// The access middleware's answer to a console request without a valid
    /// session: a redirect to the sign-in page that comes back afterwards.
    fn to_login(&self) -> bool {
        (300..400).contains(&self.status) && self.location.starts_with("/login?next=")
    }
}

/// A person signed in with `POST /api/v1/session`.
#[derive(Clone)]
struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    fn auth(&self) -> Auth<'_> {
        Auth::Session(&self.cookie, Some(&self.csrf))
    }
    /// The cookie alone: no CSRF token on state-changing requests.
    fn without_csrf(&self) -> Auth<'_> {
        Auth::Session(&self.cookie, None)
    }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Anonymous,
    Bearer(&'a str),
    /// Session cookie value, and the CSRF token sent with state-changing
    /// requests (header for `/api/`, form field `csrf` for console forms).
    Session(&'a str, Option<&'a str>),
}

enum Body {
    Empty,
    Json(Value),
    Form(Vec<(String, String)>),
    Csv(&'static [u8]),
}

fn form(pairs: &[(&str, &str)]) -> Body {
    Body::Form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// A ureq agent that does not follow redirects, so that the console's
/// redirects to `/login` can be seen, and keeps no idle connections: when
/// the access middleware refuses a request before its body arrived, the
/// server closes the connection (without `Connection: close`), and ureq
/// would send the next POST on the dead one.
struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(server: &Server) -> Client {
        let agent = ureq::AgentBuilder::new().redirects(0).max_idle_connections(0).timeout(std::time::Duration::from_secs(30)).build();
        Client { base: server.url.clone(), agent }
    }

    fn call(&self, method: &str, path: &str, auth: Auth, body: Body) -> Reply {
        let api = path.starts_with("/api/");
        let changes_state = !matches!(method.to_ascii_uppercase().as_str(), "GET" | "HEAD" | "OPTIONS");
        let mut req = self.agent.request(&method.to_ascii_uppercase(), &format!("{}{}", self.base, path));
        let mut body = body;
        match auth {
            Auth::Anonymous => {}
            Auth::Bearer(token) => req = req.set("Authorization", &format!("Bearer {token}")),
            Auth::Session(cookie, csrf) => {
                req = req.set("Cookie", &format!("lanward_session={cookie}"));
                match (changes_state, csrf) {
                    (true, Some(csrf)) if api => req = req.set("X-CSRF-Token", csrf),
                    (true, Some(csrf)) => {
                        body = match body {
                            Body::Form(mut f) => {
                                f.push(("csrf".into(), csrf.into()));
                                Body::Form(f)
                            }
                            Body::Empty => Body::Form(vec![("csrf".into(), csrf.into())]),
                            other => other,
                        }
                    }
                    _ => {}
                }
            }
        }
        let result = match body {
            Body::Empty => req.call(),
            Body::Json(v) => req.send_json(v),
            Body::Form(f) => {
                let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                req.send_form(&pairs)
            }
            Body::Csv(bytes) => req.set("Content-Type", "text/csv").send_bytes(bytes),
        };
        let resp = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path} ({}): {e}", match auth { Auth::Anonymous => "anon".to_string(), Auth::Bearer(_) => "token".into(), Auth::Session(c, _) => format!("session {c}") }),
        };
        Reply {
            status: resp.status(),
            location: resp.header("location").unwrap_or("").to_string(),
            set_cookie: resp.header("set-cookie").unwrap_or("").to_string(),
            body: resp.into_string().unwrap_or_default(),
        }
    }

    fn ok(&self, method: &str, path: &str, auth: Auth, body: Body) -> Value {
        let r = self.call(method, path, auth, body);
        assert!((200..300).contains(&r.status), "{method} {path}: {} {}", r.status, r.body);
        r.json()
    }

    fn sign_in(&self, username: &str) -> Session {
        let r = self.call("post", "/api/v1/session", Auth::Anonymous, Body::Json(json!({"username": username, "password": PASSWORD})));
        assert_eq!(r.status, 200, "sign-in of {username}: {}", r.body);
        let cookie = r.set_cookie.strip_prefix("lanward_session=").and_then(|v| v.split(';').next()).expect("session cookie");
        assert!(!cookie.is_empty() && r.set_cookie.contains("HttpOnly") && r.set_cookie.contains("SameSite=Strict"), "{}", r.set_cookie);
        let csrf = r.json()["csrf_token"].as_str().expect("csrf_token").to_string();
        Session { cookie: cookie.to_string(), csrf }
    }

    /// Whether the session still opens `GET /api/v1/session`.
    fn session_alive(&self, s: &Session) -> bool {
        let r = self.call("get", "/api/v1/session", s.auth(), Body::Empty);
        assert!(r.status == 200 || r.status == 401, "{} {}", r.status, r.body);
        r.status == 200
    }
}

// ---------------------------------------------------------------- fixtures

/// A running server with a site `HQ` and an agentless router.
struct Bureau {
    _tmp: tempfile::TempDir,
    server: Server,
    c: Client,
    token: String,
    asset: i64,
}

impl Bureau {
    fn start() -> Bureau {
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start(&tmp.path().join("srv"), false, &[]);
        let c = Client::new(&server);
        let token = server.token();
        c.ok("post", "/api/v1/sites", Auth::Bearer(&token), Body::Json(json!({"code": "HQ", "name": "本庁舎"})));
        let created = c.ok("post", "/api/v1/assets", Auth::Bearer(&token), Body::Json(json!({"hostname": "SUIDO-RT-HQ01", "kind": "router", "site": "HQ"})));
        let asset = created["id"].as_i64().expect("asset id");
        Bureau { _tmp: tmp, server, c, token, asset }
    }

    fn admin(&self) -> Auth<'_> {
        Auth::Bearer(&self.token)
    }

    fn add_user(&self, username: &str, role: &str) {
        self.c.ok("post", "/api/v1/users", self.admin(), Body::Json(json!({"username": username, "role": role, "password": PASSWORD})));
    }

    fn user_exists(&self, username: &str) -> bool {
        let users = self.c.ok("get", "/api/v1/users", self.admin(), Body::Empty);
        users["users"].as_array().unwrap().iter().any(|u| u["username"] == username)
    }

    fn audit(&self) -> Vec<Value> {
        self.c.ok("get", "/api/v1/audit?limit=100000", self.admin(), Body::Empty)["entries"].as_array().unwrap().clone()
    }

    fn audited(&self, action: &str) -> Vec<Value> {
        self.audit().into_iter().filter(|e| e["action"] == action).collect()
    }

    fn history(&self) -> Vec<Value> {
        self.c.ok("get", &format!("/api/v1/assets/{}/history", self.asset), self.admin(), Body::Empty)["history"].as_array().unwrap().clone()
    }

    fn asset_path(&self) -> String {
        format!("/api/v1/assets/{}", self.asset)
    }

    fn notes(&self) -> Value {
        self.c.ok("get", &self.asset_path(), self.admin(), Body::Empty)["ledger"]["notes"].clone()
    }
}

impl Drop for Bureau {
    fn drop(&mut self) {
        // A failed test shows what the server said.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.server.data.with_extension("log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- server log (last lines) ---\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
    }
}

fn notes_patch(text: &str) -> Body {
    Body::Json(json!({"fields": {"notes": text}}))
}

// ---------------------------------------------------------------- the role walker

/// Who calls in one column of the walk.
#[derive(Clone, Copy, PartialEq)]
enum Column {
    Anonymous,
    /// The administrator's API token (from the data directory).
    Token,
    /// A signed-in person of `ROLES[i]`.
    Role(usize),
    /// An API token the operator made for his scripts: it carries his role.
    OperatorToken,
}

impl Column {
    fn all() -> Vec<Column> {
        let mut all = vec![Column::Anonymous, Column::Token];
        all.extend((0..ROLES.len()).map(Column::Role));
        all.push(Column::OperatorToken);
        all
    }
    fn name(self) -> &'static str {
        match self {
            Column::Anonymous => "anon",
            Column::Token => "token",
            Column::Role(i) => ROLES[i],
            Column::OperatorToken => "op-token",
        }
    }
    fn role(self) -> Option<&'static str> {
        match self {
            Column::Anonymous => None,
            Column::Token => Some("administrator"),
            Column::Role(i) => Some(ROLES[i]),
            Column::OperatorToken => Some("operator"),
        }
    }
    /// Whose name the server logs for this caller.
    fn username(self) -> Option<String> {
        match self {
            Column::Anonymous => None,
            Column::Token => Some("admin".into()),
            Column::Role(_) | Column::OperatorToken => self.role().map(walker_name),
        }
    }
}

fn walker_name(role: &str) -> String {
    format!("walk-{role}")
}

/// Values for path parameters, per column where what they name belongs to
/// someone (pending imports, API tokens).
struct Params {
    asset: String,
    agent: String,
    imports: Vec<(String, String)>,
    api_tokens: Vec<(&'static str, String)>,
}

fn path_for(route: &Route, col: Column, p: &Params) -> String {
    let id = if route.path.contains("/assets/{id}") {
        p.asset.clone()
    } else if route.path.contains("/agents/{id}") {
        p.agent.clone()
    } else if route.path.contains("/import") {
        let owner = col.username();
        p.imports.iter().find(|(u, _)| Some(u) == owner.as_ref()).map(|(_, id)| id.clone()).unwrap_or_else(|| "noSuchImport".into())
    } else if route.path.contains("/api-tokens/{id}") {
        p.api_tokens.iter().find(|(c, _)| *c == col.name()).map(|(_, id)| id.clone()).unwrap_or_else(|| "0123456789ab".into())
    } else {
        "1".into()
    };
    let mut path = route.path.replace("{id}", &id).replace("{ip}", "192.0.2.10");
    // Any parameter a later route adds gets a plausible value.
    while let (Some(a), Some(z)) = (path.find('{'), path.find('}')) {
        path.replace_range(a..=z, "1");
    }
    if route.method == "post" && route.path == "/api/v1/imports" {
        path.push_str("?filename=walk.csv");
    }
    path
}

/// A small body that the handler accepts (or refuses for its content, which
/// is fine: only the access decision matters), unique per column where it
/// creates something.
fn body_for(route: &Route, col: Column) -> Body {
    let tag = col.name();
    let signs_in = match col {
        Column::Role(i) => walker_name(ROLES[i]),
        _ => walker_name("approver"),
    };
    match (route.method, route.path) {
        ("post", "/api/v1/session") => Body::Json(json!({"username": signs_in, "password": PASSWORD})),
        ("post", "/api/v1/api-tokens") => Body::Json(json!({"name": format!("walk {tag}"), "expires_in_days": 1})),
        ("post", "/api/v1/assets") => Body::Json(json!({"hostname": format!("WALK-API-{tag}"), "kind": "printer", "site": "HQ"})),
        ("patch", "/api/v1/assets/{id}") => notes_patch(&format!("walk {tag}")),
        ("post", "/api/v1/imports") => Body::Csv(BAD_CSV),
        ("post", "/api/v1/imports/{id}/mapping") => Body::Json(json!({"columns": {"A": "hostname", "B": "kind", "C": "site"}})),
        ("post", "/api/v1/sites") => Body::Json(json!({"code": "HQ", "name": "本庁舎"})),
        ("post", "/api/v1/enrollment-tokens") => Body::Json(json!({"site": "HQ", "expires_in_secs": 600, "max_uses": 1})),
        ("post", "/api/v1/users") => Body::Json(json!({"username": format!("made-by-{tag}"), "role": "helpdesk", "password": PASSWORD})),
        ("post", "/login") => form(&[("username", &signs_in), ("password", PASSWORD), ("next", "/assets")]),
        ("post", "/assets/new") => form(&[("hostname", &format!("WALK-FORM-{tag}")), ("kind", "printer"), ("site", "HQ")]),
        ("post", "/assets/{id}") => form(&[("notes", &format!("walk form {tag}"))]),
        ("post", "/import/{id}/mapping") => form(&[("col_A", "hostname"), ("col_B", "kind"), ("col_C", "site")]),
        ("post", "/users") => form(&[("username", &format!("form-made-by-{tag}")), ("role", "helpdesk"), ("password", PASSWORD)]),
        ("post", "/tokens") => form(&[("site", "HQ"), ("days", "1"), ("max_uses", "1")]),
        ("get", _) => Body::Empty,
        (_, p) if p.starts_with("/api/") => Body::Json(json!({})),
        _ => Body::Empty,
    }
}

/// What the access rule demands of this cell; `Err` says what went wrong.
fn judge(route: &Route, col: Column, r: &Reply) -> Result<(), String> {
    let api = route.path.starts_with("/api/");
    let refused = r.status == 401 || r.status == 403 || r.to_login();
    let ok = match (route.access, col.role()) {
        (Access::Public, _) => !refused && r.status < 500,
        (Access::Agent, _) => r.status == 401,
        (Access::Roles(_), None) if api => r.status == 401 && r.code() == "login_required",
        (Access::Roles(_), None) => r.to_login(),
        (Access::Roles(roles), Some(role)) if roles.contains(&role) => !refused && r.status < 500,
        (Access::Roles(_), Some(_)) => r.status == 403 && (!api || r.code() == "forbidden"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{} {} as {}: {} {} {}", route.method, route.path, col.name(), r.status, r.location, r.body.chars().take(200).collect::<String>()))
    }
}

/// Routes whose purpose is to end the caller's session.
fn ends_session(route: &Route) -> bool {
    matches!((route.method, route.path), ("delete", "/api/v1/session") | ("post", "/logout"))
}

fn rule_label(access: Access) -> String {
    match access {
        Access::Public => "public".into(),
        Access::Agent => "agent".into(),
        Access::Roles(r) if r.len() == ROLES.len() => "any role".into(),
        Access::Roles(r) => r.iter().map(|x| &x[..3]).collect::<Vec<_>>().join(","),
    }
}

fn auth_of<'a>(col: Column, admin_token: &'a str, operator_token: &'a str, sessions: &'a [Session]) -> Auth<'a> {
    match col {
        Column::Anonymous => Auth::Anonymous,
        Column::Token => Auth::Bearer(admin_token),
        Column::Role(i) => sessions[i].auth(),
        Column::OperatorToken => Auth::Bearer(operator_token),
    }
}

fn print_table(columns: &[Column], table: &[(String, String, Vec<u16>)]) {
    let width = table.iter().map(|(r, _, _)| r.chars().count()).max().unwrap_or(10);
    let mut out = format!("{:width$}  {:11}", "route", "rule");
    for col in columns {
        let label = if col.name() == "administrator" { "admin" } else { col.name() };
        out.push_str(&format!(" {label:>8}"));
    }
    out.push('\n');
    for (route, rule, row) in table {
        out.push_str(&format!("{route:width$}  {rule:11}"));
        for s in row {
            out.push_str(&format!(" {s:>8}"));
        }
        out.push('\n');
    }
    println!("{out}");
}

#[test]
fn every_route_checks_the_role_for_every_role() {
    let started = Instant::now();
    let b = Bureau::start();
    let c = &b.c;
    for role in ROLES {
        b.add_user(&walker_name(role), role);
    }
    let mut sessions: Vec<Session> = ROLES.iter().map(|r| c.sign_in(&walker_name(r))).collect();
    let operator = ROLES.iter().position(|r| *r == "operator").unwrap();
    let made = c.ok("post", "/api/v1/api-tokens", sessions[operator].auth(), Body::Json(json!({"name": "walk script"})));
    let operator_token = made["token"].as_str().expect("token").to_string();

    // An enrolled agent, so that the agent routes resolve.
    let enrol = c.ok("post", "/api/v1/enrollment-tokens", b.admin(), Body::Json(json!({"site": "HQ", "expires_in_secs": 600, "max_uses": 1})));
    let identity = lanward_agent::client::enroll(&b.server.url, enrol["token"].as_str().unwrap(), "SUIDO-PC-0123", "windows", (None, vec![]), lanward_agent::identity::generate_key())
        .expect("enrol");
    let columns = Column::all();
    // A pending import for each person who may import, and an API token of
    // each caller's own to revoke.
    let mut imports = Vec::new();
    let mut api_tokens = Vec::new();
    for &col in &columns {
        let Some(user) = col.username() else { continue };
        let auth = auth_of(col, &b.token, &operator_token, &sessions);
        if lanward_server::api::LEDGER_WRITERS.contains(&col.role().unwrap()) && !imports.iter().any(|(u, _)| *u == user) {
            let preview = c.ok("post", "/api/v1/imports?filename=walk.csv", auth, Body::Csv(BAD_CSV));
            assert_eq!((preview["plan"]["invalid"].as_u64(), preview["can_apply"].as_bool()), (Some(1), Some(false)), "{preview}");
            imports.push((user, preview["id"].as_str().unwrap().to_string()));
        }
        let spare = c.ok("post", "/api/v1/api-tokens", auth, Body::Json(json!({"name": format!("to revoke {}", col.name())})));
        api_tokens.push((col.name(), spare["id"].as_str().unwrap().to_string()));
    }
    let params = Params { asset: b.asset.to_string(), agent: identity.enrolment.agent_id.clone(), imports, api_tokens };
    let audit_before = b.audit().len();

    let mut failures = Vec::new();
    let mut table: Vec<(String, String, Vec<u16>)> = Vec::new();
    let mut expected_denials: Vec<(String, String)> = Vec::new();
    let mut ended_sessions = 0;
    for route in all_routes() {
        let mut row = Vec::new();
        for &col in &columns {
            let path = path_for(route, col, &params);
            let r = c.call(route.method, &path, auth_of(col, &b.token, &operator_token, &sessions), body_for(route, col));
            if let Err(e) = judge(route, col, &r) {
                failures.push(e);
            }
            if let (Access::Roles(roles), Some(role), Some(user)) = (route.access, col.role(), col.username()) {
                if !roles.contains(&role) {
                    expected_denials.push((format!("user:{user}"), format!("{} {}", route.method.to_uppercase(), path.split('?').next().unwrap())));
                }
            }
            // A session ends where it is meant to, and only there; then the
            // person signs in again.
            if let Column::Role(i) = col {
                if route.method != "get" {
                    let alive = c.session_alive(&sessions[i]);
                    let allowed = matches!(route.access, Access::Roles(roles) if roles.contains(&ROLES[i]));
                    if ends_session(route) && allowed && alive {
                        failures.push(format!("{} {} as {}: the session still works afterwards", route.method, route.path, col.name()));
                    }
                    if !alive {
                        if !ends_session(route) {
                            failures.push(format!("{} {} as {}: ended the session", route.method, route.path, col.name()));
                        }
                        ended_sessions += 1;
                        sessions[i] = c.sign_in(&walker_name(ROLES[i]));
                    }
                }
            }
            row.push(r.status);
        }
        table.push((format!("{} {}", route.method.to_uppercase(), route.path), rule_label(route.access), row));
    }

    // The artefact: route × caller → status.
    print_table(&columns, &table);
    println!("walked {} routes × {} callers in {:.1?}", table.len(), columns.len(), started.elapsed());

    assert!(failures.is_empty(), "{} cells break their access rule:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(table.len(), all_routes().count(), "every route walked");
    assert!(table.len() >= 50, "the route table looks truncated: {}", table.len());

    // Every refusal is in the audit log, with who and what; nothing was
    // refused for CSRF (the walker always sends the right token), and the
    // only rejected credentials are the sessions the logout routes ended.
    let audit: Vec<Value> = b.audit().into_iter().skip(audit_before).collect();
    let mut denied: Vec<(String, String)> = audit
        .iter()
        .filter(|e| e["action"] == "access.denied")
        .map(|e| (e["actor"].as_str().unwrap().to_string(), e["target"].as_str().unwrap().to_string()))
        .collect();
    denied.sort();
    expected_denials.sort();
    assert_eq!(denied, expected_denials, "access.denied entries");
    assert!(audit.iter().filter(|e| e["action"] == "access.denied").all(|e| e["source"] == "127.0.0.1"));
    assert_eq!(audit.iter().filter(|e| e["action"] == "csrf.rejected").count(), 0);
    assert_eq!(ended_sessions, 2 * ROLES.len(), "DELETE /api/v1/session and POST /logout end the session of every role");
    assert_eq!(audit.iter().filter(|e| e["action"] == "auth.rejected").count(), ended_sessions, "probes with the ended sessions");
}

// ---------------------------------------------------------------- CSRF and sessions

#[test]
fn csrf_forged_and_expired_sessions_are_refused_and_audited() {
    let b = Bureau::start();
    let c = &b.c;
    b.add_user("sato", "operator");
    let op = c.sign_in("sato");
    let history = b.history().len();

    // API: no token, a wrong token, another session's token.
    let other = c.sign_in("sato");
    for csrf in [None, Some("wrong"), Some(other.csrf.as_str())] {
        let r = c.call("patch", &b.asset_path(), Auth::Session(&op.cookie, csrf), notes_patch("CSRF で書かれた"));
        assert_eq!((r.status, r.code()), (403, "csrf".to_string()), "csrf {csrf:?}: {}", r.body);
    }
    assert_eq!(b.history().len(), history, "nothing changed");
    assert!(b.notes().is_null());
    let rejected = b.audited("csrf.rejected");
    assert_eq!(rejected.len(), 3);
    assert!(rejected.iter().all(|e| e["actor"] == "user:sato" && e["target"] == format!("PATCH {}", b.asset_path()).as_str() && e["source"] == "127.0.0.1"), "{rejected:?}");

    // Console form: without the field, with a wrong one, then with it.
    let page = format!("/assets/{}", b.asset);
    for fields in [vec![("notes", "フォーム")], vec![("notes", "フォーム"), ("csrf", "wrong")]] {
        let r = c.call("post", &page, op.without_csrf(), form(&fields));
        assert_eq!(r.status, 403, "{fields:?}: {}", r.body);
    }
    assert_eq!(b.history().len(), history, "nothing changed");
    let r = c.call("post", &page, op.auth(), form(&[("notes", "3F サーバー室のラック 2")]));
    assert_eq!((r.status, r.location.as_str()), (303, format!("/assets/{}?saved=1", b.asset).as_str()), "{}", r.body);
    let h = b.history();
    assert_eq!(h.len(), history + 1);
    let last = h.last().unwrap();
    assert_eq!((&last["field"], &last["new_value"], &last["actor"]), (&json!("notes"), &json!("3F サーバー室のラック 2"), &json!("user:sato")));
    assert_eq!(b.audited("csrf.rejected").len(), 5);

    // Forged cookie and bad bearer token: refused, audited with the source.
    let forged = Auth::Session("Zm9yZ2VkLXNlc3Npb24tdmFsdWUtMDEyMzQ1Njc4OQ", Some("x"));
    let r = c.call("get", "/api/v1/assets", forged, Body::Empty);
    assert_eq!((r.status, r.code()), (401, "session_invalid".to_string()), "{}", r.body);
    let r = c.call("get", "/assets", forged, Body::Empty);
    assert!(r.to_login() && r.location == "/login?next=/assets", "{} {}", r.status, r.location);
    let r = c.call("patch", &b.asset_path(), Auth::Bearer("lwa_forged_token"), notes_patch("x"));
    assert_eq!((r.status, r.code()), (401, "token_invalid".to_string()), "{}", r.body);
    let rejected = b.audited("auth.rejected");
    let targets: Vec<(&str, &str)> = rejected.iter().map(|e| (e["target"].as_str().unwrap(), e["detail"].as_str().unwrap())).collect();
    assert_eq!(
        targets,
        [("GET /api/v1/assets", "session_invalid"), ("GET /assets", "session_invalid"), (format!("PATCH {}", b.asset_path()).as_str(), "token_invalid")]
    );
    assert!(rejected.iter().all(|e| e["actor"] == "anonymous" && e["source"] == "127.0.0.1"), "{rejected:?}");
    assert_eq!(b.notes(), json!("3F サーバー室のラック 2"));

    // An expired session (one working day later) is refused like a forged one.
    let expiring = c.sign_in("sato");
    assert!(c.session_alive(&expiring));
    let db = b.server.data.join("lanward.db");
    let st = std::process::Command::new("python3")
        .args(["-c", &format!("import sqlite3;c=sqlite3.connect({:?});c.execute(\"UPDATE sessions SET expires_at_ms = 1 WHERE csrf_token = '{}'\");c.commit()", db.display().to_string(), expiring.csrf)])
        .status()
        .unwrap();
    assert!(st.success());
    let r = c.call("get", "/api/v1/session", expiring.auth(), Body::Empty);
    assert_eq!((r.status, r.code()), (401, "session_invalid".to_string()));
    assert!(c.call("get", "/", expiring.auth(), Body::Empty).to_login());
    assert!(c.session_alive(&op), "other sessions are unaffected");

    // Signing out: not without the CSRF token; afterwards the cookie is dead.
    let r = c.call("delete", "/api/v1/session", op.without_csrf(), Body::Empty);
    assert_eq!((r.status, r.code()), (403, "csrf".to_string()));
    assert!(c.session_alive(&op), "a forged logout does not end the session");
    let r = c.call("delete", "/api/v1/session", op.auth(), Body::Empty);
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.set_cookie.starts_with("lanward_session=;") && r.set_cookie.contains("Max-Age=0"), "{}", r.set_cookie);
    assert!(!c.session_alive(&op));
    assert_eq!(c.call("patch", &b.asset_path(), op.auth(), notes_patch("after logout")).status, 401);
    // The same through the console.
    let r = c.call("post", "/logout", other.auth(), Body::Empty);
    assert_eq!((r.status, r.location.as_str()), (303, "/login"));
    assert!(c.call("get", "/assets", other.auth(), Body::Empty).to_login());
    let r = c.call("post", &page, other.auth(), form(&[("notes", "after logout")]));
    assert!(r.to_login(), "{} {}", r.status, r.location);
    assert_eq!(b.notes(), json!("3F サーバー室のラック 2"));
    let logouts = b.audited("logout");
    assert_eq!(logouts.len(), 2);
    assert!(logouts.iter().all(|e| e["actor"] == "user:sato" && e["source"] == "127.0.0.1"));
}

// ---------------------------------------------------------------- escalation

#[test]
fn role_escalation_is_refused_and_audited() {
    let b = Bureau::start();
    let c = &b.c;
    for (name, role) in [("ono", "operator"), ("hayashi", "helpdesk"), ("kansa", "auditor")] {
        b.add_user(name, role);
    }
    let (op, hd, au) = (c.sign_in("ono"), c.sign_in("hayashi"), c.sign_in("kansa"));
    let whoami = c.call("get", "/api/v1/session", op.auth(), Body::Empty).json();
    assert_eq!((&whoami["username"], &whoami["role"]), (&json!("ono"), &json!("operator")));

    // An operator makes himself an administrator: API and console form.
    let evil = json!({"username": "ono2", "role": "administrator", "password": PASSWORD});
    let r = c.call("post", "/api/v1/users", op.auth(), Body::Json(evil));
    assert_eq!((r.status, r.code()), (403, "forbidden".to_string()), "{}", r.body);
    let r = c.call("post", "/users", op.auth(), form(&[("username", "ono3"), ("role", "administrator"), ("password", PASSWORD)]));
    assert_eq!(r.status, 403, "{}", r.body);
    // The auditor may read the users, but not add one.
    let r = c.call("post", "/api/v1/users", au.auth(), Body::Json(json!({"username": "kansa2", "role": "administrator", "password": PASSWORD})));
    assert_eq!(r.status, 403);
    assert!(!b.user_exists("ono2") && !b.user_exists("ono3") && !b.user_exists("kansa2"), "no user created");
    let denied = b.audited("access.denied");
    let seen: Vec<(&str, &str, &str, &str)> =
        denied.iter().map(|e| (e["actor"].as_str().unwrap(), e["target"].as_str().unwrap(), e["detail"].as_str().unwrap(), e["source"].as_str().unwrap())).collect();
    assert_eq!(
        seen,
        [
            ("user:ono", "POST /api/v1/users", "role=operator", "127.0.0.1"),
            ("user:ono", "POST /users", "role=operator", "127.0.0.1"),
            ("user:kansa", "POST /api/v1/users", "role=auditor", "127.0.0.1"),
        ]
    );
    let created: Vec<Value> = b.audited("user.create").iter().map(|e| e["target"].clone()).collect();
    assert_eq!(created, [json!("user:admin"), json!("user:ono"), json!("user:hayashi"), json!("user:kansa")], "only the users the administrator made");

    // Helpdesk reads the ledger but does not change it.
    let history = b.history().len();
    assert_eq!(c.call("get", &b.asset_path(), hd.auth(), Body::Empty).status, 200);
    let r = c.call("patch", &b.asset_path(), hd.auth(), notes_patch("helpdesk was here"));
    assert_eq!((r.status, r.code()), (403, "forbidden".to_string()));
    let r = c.call("post", &format!("/assets/{}", b.asset), hd.auth(), form(&[("notes", "helpdesk was here")]));
    assert_eq!(r.status, 403);
    assert_eq!(b.history().len(), history);
    assert!(b.notes().is_null());
    // ...while the operator may.
    assert_eq!(c.call("patch", &b.asset_path(), op.auth(), notes_patch("運用担当が更新")).status, 200);
    assert_eq!(b.notes(), json!("運用担当が更新"));

    // The audit log: the auditor reads it (API, page, CSV), the operator does not.
    let log = c.call("get", "/api/v1/audit", au.auth(), Body::Empty);
    assert_eq!(log.status, 200);
    assert_eq!(log.json()["chain_intact"], true);
    assert!(log.json()["entries"].as_array().unwrap().iter().any(|e| e["action"] == "access.denied"));
    assert_eq!(c.call("get", "/audit", au.auth(), Body::Empty).status, 200);
    assert_eq!(c.call("get", "/audit.csv", au.auth(), Body::Empty).status, 200);
    for path in ["/api/v1/audit", "/audit", "/audit.csv"] {
        let r = c.call("get", path, op.auth(), Body::Empty);
        assert_eq!(r.status, 403, "{path}");
        assert!(!r.body.contains("access.denied"), "{path}: no audit content leaks into the refusal");
    }
    let denied = b.audited("access.denied");
    assert!(denied.iter().any(|e| e["actor"] == "user:ono" && e["target"] == "GET /api/v1/audit"));
}

// ---------------------------------------------------------------- sign-in

fn try_sign_in(c: &Client, username: &str, password: &str) -> Reply {
    c.call("post", "/api/v1/session", Auth::Anonymous, Body::Json(json!({"username": username, "password": password})))
}

#[test]
fn sign_in_failures_are_audited_and_throttled() {
    let b = Bureau::start();
    let c = &b.c;
    b.add_user("kaori", "operator");
    b.add_user("taro", "helpdesk");

    // Wrong password and unknown user look the same (no enumeration).
    let wrong = try_sign_in(c, "kaori", "not the password at all");
    let unknown = try_sign_in(c, "nobody", "not the password at all");
    assert_eq!((wrong.status, wrong.code()), (401, "login_failed".to_string()), "{}", wrong.body);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.json(), unknown.json(), "same answer for a wrong password and an unknown user");
    assert!(wrong.set_cookie.is_empty() && unknown.set_cookie.is_empty(), "no session");
    let failed = b.audited("login.failed");
    let seen: Vec<(&str, &str, &str)> = failed.iter().map(|e| (e["target"].as_str().unwrap(), e["detail"].as_str().unwrap(), e["source"].as_str().unwrap())).collect();
    assert_eq!(seen, [("user:kaori", "reason=wrong_password", "127.0.0.1"), ("user:nobody", "reason=unknown_user", "127.0.0.1")]);

    // Five failures in all (one through the console form), then even the
    // right password is refused, also through the console.
    for _ in 0..3 {
        assert_eq!(try_sign_in(c, "kaori", "still not the password").status, 401);
    }
    let r = c.call("post", "/login", Auth::Anonymous, form(&[("username", "kaori"), ("password", "still not it!!"), ("next", "/")]));
    assert_eq!(r.status, 401, "console sign-in failure");
    assert!(r.set_cookie.is_empty() && r.body.contains("ユーザー名またはパスワードが違います"));
    let r = try_sign_in(c, "kaori", PASSWORD);
    assert_eq!((r.status, r.code()), (429, "login_throttled".to_string()), "{}", r.body);
    assert!(r.set_cookie.is_empty());
    let r = try_sign_in(c, " KAORI ", PASSWORD);
    assert_eq!(r.status, 429, "spelling the name differently does not reset the count");
    let r = c.call("post", "/login", Auth::Anonymous, form(&[("username", "kaori"), ("password", PASSWORD), ("next", "/")]));
    assert!(r.status != 303 && r.set_cookie.is_empty(), "console sign-in throttled too: {} {}", r.status, r.location);
    assert!(r.body.contains("しばらくログインできません"), "{}", r.body);
    assert_eq!(b.audited("login.failed").len(), 6);
    let throttled = b.audited("login.throttled");
    assert_eq!(throttled.len(), 3);
    assert!(throttled.iter().all(|e| e["source"] == "127.0.0.1"));
    assert!(b.audited("login").is_empty(), "nobody signed in yet");

    // Another person from the same address signs in as usual.
    let taro = c.sign_in("taro");
    assert!(c.session_alive(&taro));
    let logins = b.audited("login");
    assert_eq!(logins.len(), 1);
    assert_eq!((&logins[0]["actor"], &logins[0]["detail"], &logins[0]["source"]), (&json!("user:taro"), &json!("via=password"), &json!("127.0.0.1")));
}

/// Bug: the throttle counts a failure only after the password was checked
/// (argon2, tens of milliseconds), and checks the count before: tries sent
/// at the same time all pass the check, so a script with 20 connections
/// gets 20 guesses, not 5 (`crates/server/src/api/session.rs`, `sign_in`).
#[test]
fn concurrent_sign_in_failures_are_throttled_too() {
    let b = Bureau::start();
    b.add_user("kaori", "operator");
    let c = &b.c;
    let answers: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20).map(|i| s.spawn(move || try_sign_in(c, "kaori", &format!("guess number {i:02}")).status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = answers.iter().filter(|s| **s == 401).count();
    println!("20 concurrent wrong passwords: {checked} checked (401), {} throttled (429)", answers.iter().filter(|s| **s == 429).count());
    assert!(checked <= 5, "{checked} passwords were tried, the limit is 5: {answers:?}");
}

/// Bug: `HEAD` is refused with 403 everywhere, even `/api/v1/health`:
/// axum answers `HEAD` with the `get` handler, but `api::rule_for` looks for
/// a rule with method "head", finds none and fails closed.
#[test]
fn head_requests_follow_the_get_rule() {
    let b = Bureau::start();
    let c = &b.c;
    let health = c.call("head", "/api/v1/health", Auth::Anonymous, Body::Empty);
    let assets = c.call("head", "/api/v1/assets", b.admin(), Body::Empty);
    let anonymous = c.call("head", "/api/v1/assets", Auth::Anonymous, Body::Empty);
    let page = c.call("head", "/assets", Auth::Anonymous, Body::Empty);
    assert_eq!(
        (health.status, assets.status, anonymous.status, page.to_login()),
        (200, 200, 401, true),
        "HEAD as GET: public, token, anonymous, anonymous console page"
    );
}

// ---------------------------------------------------------------- tokens vs sessions

#[test]
fn api_tokens_do_not_need_csrf_but_sessions_do() {
    let b = Bureau::start();
    let c = &b.c;
    b.add_user("kanri", "administrator");
    let admin = c.sign_in("kanri");
    let history = b.history().len();

    // A script with the API token: no CSRF token, no cookie.
    let r = c.call("patch", &b.asset_path(), b.admin(), notes_patch("スクリプトから"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["changes"].as_array().unwrap().len(), 1);
    let r = c.call("post", &format!("/assets/{}", b.asset), b.admin(), form(&[("building", "本庁舎")]));
    assert_eq!(r.status, 303, "console form with the token needs no csrf field: {}", r.body);
    assert_eq!(b.history().len(), history + 2);

    // The same person's session: refused without the token, accepted with it.
    let r = c.call("patch", &b.asset_path(), admin.without_csrf(), notes_patch("セッションから"));
    assert_eq!((r.status, r.code()), (403, "csrf".to_string()));
    let r = c.call("post", "/api/v1/sites", admin.without_csrf(), Body::Json(json!({"code": "KUN", "name": "国見浄水場"})));
    assert_eq!((r.status, r.code()), (403, "csrf".to_string()));
    assert_eq!(b.history().len(), history + 2);
    assert_eq!(b.notes(), json!("スクリプトから"));
    let r = c.call("patch", &b.asset_path(), admin.auth(), notes_patch("セッションから"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(b.notes(), json!("セッションから"));
    // Reading needs no CSRF token either way.
    assert_eq!(c.call("get", &b.asset_path(), admin.without_csrf(), Body::Empty).status, 200);

    let updates = b.audited("asset.update");
    let how: Vec<(&str, &str)> = updates.iter().map(|e| (e["actor"].as_str().unwrap(), e["detail"].as_str().unwrap())).collect();
    assert_eq!(how, [("user:admin", "fields=notes via=token"), ("user:admin", "fields=building via=token"), ("user:kanri", "fields=notes via=session")]);
    let csrf = b.audited("csrf.rejected");
    assert_eq!(csrf.len(), 2);
    assert!(csrf.iter().all(|e| e["actor"] == "user:kanri" && e["source"] == "127.0.0.1"));
}

