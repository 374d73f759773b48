//! Software distribution on the server: packages (recognised, chunked,
//! signed), deployments (targets, waves, windows, caps) and the engine that
//! releases targets to agents and records what they report.
//!
//! The planning rules live in `lanward-deploy` and the package format in
//! `lanward-package`; this module stores, schedules and serves. Everything
//! here is blocking (store and file I/O): callers use `spawn_blocking`.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use lanward_deploy::{transition, Action, Caps, Candidate, DeploymentStatus, Event, Gate, PlanSpec, Scheduler, SchedulerMemory, TargetSpec, TargetState, Wave, WindowSpec};
use lanward_package::{ChunkId, ChunkStore, InstallSpec, Manifest, PublicKey, SigningKey};
use lanward_proto::deploy::{Assignment, AssignmentsRequest, AssignmentsResponse, Directive, TargetReport, TargetStep};
use lanward_store::{DeploymentRecord, DeploymentTargetRecord, NewDeployment, NewDeploymentTarget, NewPackage, PackageRecord, Store, TargetUpdate};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where the server keeps the package signing key. Without the private key
/// (only `package-signing.pub`), packages are signed offline.
pub const SIGNING_KEY_FILE: &str = "package-signing.key";
pub const SIGNING_PUB_FILE: &str = "package-signing.pub";

/// Manifests are valid this long unless the operator says otherwise: long
/// enough for a slow campaign, short enough that a stolen manifest dies.
pub const DEFAULT_VALID_DAYS: u32 = 180;

pub struct Distribution {
    pub chunks: ChunkStore,
    signing: Option<SigningKey>,
    pub public_key: PublicKey,
    /// Uploads are written here before they are recognised and chunked.
    pub upload_dir: PathBuf,
    /// Serialises the engine's tick and agents' reports, which both
    /// read-modify-write target states.
    engine: Mutex<()>,
    /// Chunk ids of each package, to check that an agent asks only for
    /// content of a package it was assigned.
    package_chunks: Mutex<HashMap<i64, Arc<HashSet<ChunkId>>>>,
    /// Per (deployment, site) bandwidth buckets.
    buckets: Mutex<HashMap<i64, lanward_deploy::BandwidthBuckets>>,
    /// Site code → the agent serving as its cache (from the `site-cache`
    /// ledger tag; the URL as the cache last reported it).
    caches: Mutex<HashMap<String, SiteCacheEntry>>,
    /// Chunks recently served, in memory: every PC of a deployment asks for
    /// the same chunks, and reading each from disk again cost a quarter of
    /// the server's CPU per chunk (bench `chunk_serving`).
    hot_chunks: Mutex<HotChunks>,
    /// Bytes served and not yet written to the store: counting each chunk
    /// in its own SQLite commit (an fsync) held concurrent downloads up.
    unsaved_bytes: Mutex<HashMap<(i64, ByteOwner), i64>>,
    /// Wakes the engine early (new deployment, report, pause).
    pub wake: tokio::sync::Notify,
    pub poll_secs: u64,
}

fn bad(code: &'static str, ja: impl Into<String>, en: impl Into<String>) -> AppError {
    AppError::bad_request(code, ja, en)
}

fn internal(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("{what}: {e}"), format!("{what}: {e}"))
}

impl Distribution {
    /// Opens the chunk store and the signing key under `data_dir`,
    /// generating a key on first start unless only a public key is there.
    pub fn open(data_dir: &Path, poll_secs: u64) -> anyhow::Result<Distribution> {
        let chunks = ChunkStore::open(data_dir.join("chunks")).map_err(|e| anyhow::anyhow!("{e}"))?;
        let key_path = data_dir.join(SIGNING_KEY_FILE);
        let pub_path = data_dir.join(SIGNING_PUB_FILE);
        let (signing, public_key) = if key_path.exists() {
            let key = SigningKey::load(&key_path).map_err(|e| anyhow::anyhow!("{e}"))?;
            let public = key.public_key();
            if !pub_path.exists() {
                public.save(&pub_path).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            (Some(key), public)
        } else if pub_path.exists() {
            tracing::info!("package signing key is offline: packages wait for `lanward package sign`");
            (None, PublicKey::load(&pub_path).map_err(|e| anyhow::anyhow!("{e}"))?)
        } else {
            let key = SigningKey::generate();
            key.save(&key_path).map_err(|e| anyhow::anyhow!("{e}"))?;
            let public = key.public_key();
            public.save(&pub_path).map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(key_id = %public.id(), "package signing key created");
            (Some(key), public)
        };
        let upload_dir = data_dir.join("uploads");
        std::fs::create_dir_all(&upload_dir)?;
        // Uploads cut off by a restart are never resumed.
        if let Ok(entries) = std::fs::read_dir(&upload_dir) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Distribution {
            chunks,
            signing,
            public_key,
            upload_dir,
            engine: Mutex::new(()),
            package_chunks: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            caches: Mutex::new(HashMap::new()),
            hot_chunks: Mutex::new(HotChunks::default()),
            unsaved_bytes: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            poll_secs: poll_secs.max(1),
        })
    }

    pub fn signs_online(&self) -> bool {
        self.signing.is_some()
    }
}

/// Whose WAN bytes: a target's, or a site cache's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ByteOwner {
    Target(i64),
    SiteCache(String),
}

/// Most memory the hot chunks may take (128 chunks of 4 MiB).
const HOT_CHUNK_BYTES: usize = 512 * 1024 * 1024;

#[derive(Default)]
struct HotChunks {
    map: HashMap<ChunkId, axum::body::Bytes>,
    order: std::collections::VecDeque<ChunkId>,
    bytes: usize,
}

impl Distribution {
    /// A chunk's bytes, from memory or from `DATA/chunks` (then kept).
    pub async fn chunk_bytes(&self, id: &ChunkId) -> std::io::Result<axum::body::Bytes> {
        if let Some(b) = self.hot_chunks.lock().ok().and_then(|h| h.map.get(id).cloned()) {
            return Ok(b);
        }
        let bytes = axum::body::Bytes::from(tokio::fs::read(self.chunks.path_of(id)).await?);
        if let Ok(mut h) = self.hot_chunks.lock() {
            if !h.map.contains_key(id) && bytes.len() <= HOT_CHUNK_BYTES {
                while h.bytes + bytes.len() > HOT_CHUNK_BYTES {
                    let Some(old) = h.order.pop_front() else { break };
                    if let Some(b) = h.map.remove(&old) {
                        h.bytes -= b.len();
                    }
                }
                h.bytes += bytes.len();
                h.order.push_back(*id);
                h.map.insert(*id, bytes.clone());
            }
        }
        Ok(bytes)
    }

    /// Counts bytes sent; written to the store by [`flush_bytes`].
    pub fn count_bytes(&self, deployment_id: i64, owner: ByteOwner, n: i64) {
        if let Ok(mut m) = self.unsaved_bytes.lock() {
            *m.entry((deployment_id, owner)).or_default() += n;
        }
    }
}

/// Writes the counted bytes to the store (every second, and before agents'
/// reports are applied, so a finished target shows all its bytes).
pub fn flush_bytes(dist: &Distribution, store: &dyn Store) -> Result<(), AppError> {
    let pending: Vec<((i64, ByteOwner), i64)> = match dist.unsaved_bytes.lock() {
        Ok(mut m) => m.drain().collect(),
        Err(_) => return Err(AppError::unavailable("byte counters")),
    };
    for (i, ((deployment, owner), n)) in pending.iter().enumerate() {
        let r = match owner {
            ByteOwner::Target(asset) => store.add_target_bytes(*deployment, *asset, *n),
            ByteOwner::SiteCache(site) => store.add_site_cache_bytes(*deployment, site, *n),
        };
        if let Err(e) = r {
            // Keep what was not written for the next try.
            if let Ok(mut m) = dist.unsaved_bytes.lock() {
                for ((d, o), n) in pending.into_iter().skip(i) {
                    *m.entry((d, o)).or_default() += n;
                }
            }
            return Err(e.into());
        }
    }
    Ok(())
}

/// The ledger tag that makes an asset's agent the chunk cache of its site.
pub const SITE_CACHE_TAG: &str = "site-cache";

/// A cache is used while it keeps asking for work (it polls at most every
/// few minutes); one silent longer is taken to be down.
const CACHE_FRESH_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Clone)]
struct SiteCacheEntry {
    asset_id: i64,
    url: String,
    seen_ms: i64,
}

/// Only http(s) URLs of a plain host and port: the server hands this to
/// every PC of the site.
fn clean_cache_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.len() > 100 || host.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}

/// What the operator gives with an upload.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddPackage {
    pub name: String,
    pub version: String,
    /// The uploaded file's name (its extension tells scripts apart).
    pub file_name: String,
    /// Overrides the proposed silent command.
    #[serde(default)]
    pub command: Option<String>,
    /// Overrides the proposed detection rule; `none` for no rule.
    #[serde(default)]
    pub detection: Option<String>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub valid_days: Option<u32>,
    /// Extra exit codes, `CODE=success|reboot|retry|failure`, comma-separated.
    #[serde(default)]
    pub exit_codes: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AddedPackage {
    pub package: PackageRecord,
    pub notes: Vec<String>,
    pub chunks: usize,
}

fn parse_exit_codes(text: &str) -> Result<lanward_package::ExitCodes, AppError> {
    use lanward_package::Outcome;
    let mut codes = lanward_package::ExitCodes::default();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (code, outcome) = item.split_once('=').ok_or_else(|| {
            bad("exit_codes_invalid", format!("exit_codes: {item:?} は CODE=結果 の形で書いてください"), format!("exit_codes: {item:?} is not CODE=outcome"))
        })?;
        let code: i64 = code.trim().parse().map_err(|_| bad("exit_codes_invalid", format!("exit_codes: {code:?} は整数ではありません"), format!("exit_codes: {code:?} is not an integer")))?;
        let outcome = match outcome.trim() {
            "success" => Outcome::Success,
            "reboot" => Outcome::SuccessRebootRequired,
            "retry" => Outcome::RetryLater,
            "failure" => Outcome::Failure,
            other => {
                return Err(bad(
                    "exit_codes_invalid",
                    format!("exit_codes: 結果 {other:?} は success, reboot, retry, failure のどれかです"),
                    format!("exit_codes: outcome {other:?} must be success, reboot, retry or failure"),
                ))
            }
        };
        codes = codes.with(code, outcome);
    }
    Ok(codes)
}

/// Recognises, chunks and signs an uploaded installer, and records it.
/// Nothing is stored when any check fails.
pub fn add_package(dist: &Distribution, store: &dyn Store, upload: &Path, req: &AddPackage, actor: &str) -> Result<AddedPackage, AppError> {
    let name = req.name.trim();
    let version = req.version.trim();
    if version.is_empty() || version.len() > 200 {
        return Err(bad("version_invalid", "version を指定してください (1〜200 バイト)", "version is required (1 to 200 bytes)"));
    }
    let file_name = Path::new(req.file_name.trim()).file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let file = std::fs::File::open(upload).map_err(|e| internal("upload", e))?;
    let size = file.metadata().map_err(|e| internal("upload", e))?.len();
    if size == 0 {
        return Err(bad("upload_empty", format!("{file_name}: ファイルが空です"), format!("{file_name}: the file is empty")));
    }
    let recognised = lanward_installer::recognise(&file_name, std::io::BufReader::new(file));
    let (framework, proposed_command, proposed_rule, notes) = match recognised {
        Ok(r) => (
            serde_json::to_value(r.framework).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_else(|| "unknown".into()),
            Some(r.silent_command.clone()),
            r.detection_rule_proposal.as_ref().map(|d| d.to_string()),
            r.notes.clone(),
        ),
        // An installer lanward does not know is fine when the operator says how to run it.
        Err(e) if matches!(e.kind, lanward_installer::ErrorKind::UnknownExe | lanward_installer::ErrorKind::UnknownType) && req.command.is_some() => {
            ("custom".to_string(), None, None, vec![e.to_string()])
        }
        Err(e) => return Err(bad("installer_unrecognised", e.to_string(), e.to_string())),
    };
    let command = req.command.clone().or(proposed_command).unwrap_or_default();
    let detection = match req.detection.as_deref().map(str::trim) {
        Some("none") | Some("") => None,
        Some(text) => Some(text.to_string()),
        None => proposed_rule,
    };
    if let Some(rule) = &detection {
        lanward_installer::rule::parse(rule).map_err(|e| bad("detection_invalid", format!("detection: {e}"), format!("detection: {e}")))?;
    }
    let spec = InstallSpec {
        file_name: file_name.clone(),
        framework: framework.clone(),
        command,
        detection: detection.clone(),
        exit_codes: parse_exit_codes(req.exit_codes.as_deref().unwrap_or(""))?,
        timeout_secs: req.timeout_secs.unwrap_or(3600),
    };
    spec.check().map_err(|(f, d)| bad("install_spec_invalid", format!("{f}: {d}"), format!("{f}: {d}")))?;
    let serial = store.max_package_serial(name)? + 1;
    let now = (lanward_store::now_ms() / 1000).max(0) as u64;
    let valid_days = u64::from(req.valid_days.unwrap_or(DEFAULT_VALID_DAYS).clamp(1, 3 * 366));
    // Chunk before building the manifest: its content list is the chunks.
    let content = dist.chunks.add_file(upload, lanward_package::DEFAULT_CHUNK_SIZE).map_err(|e| internal("chunk store", e))?;
    let manifest = Manifest {
        package: name.to_string(),
        version: version.to_string(),
        serial: serial as u64,
        created_at: now,
        expires_at: now + valid_days * 86_400,
        content,
        installer: spec.to_value(),
        key_id: dist.public_key.id(),
    };
    manifest.check().map_err(|(f, d)| bad("manifest_invalid", format!("{f}: {d}"), format!("{f}: {d}")))?;
    let unsigned = serde_json::to_string_pretty(&manifest).map_err(|e| internal("manifest", e))?;
    let signed = match &dist.signing {
        Some(key) => Some(String::from_utf8_lossy(&lanward_package::sign(&manifest, key).map_err(|e| internal("signing", e))?.to_bytes()).into_owned()),
        None => None,
    };
    let record = NewPackage {
        name: name.to_string(),
        version: version.to_string(),
        serial,
        file_name,
        framework,
        command: spec.command.clone(),
        detection,
        size: manifest.content.total_size as i64,
        sha256: manifest.content.sha256.to_hex(),
        unsigned_manifest: unsigned,
        signed_manifest: signed,
        expires_at_ms: manifest.expires_at as i64 * 1000,
        created_at_ms: now as i64 * 1000,
        created_by: actor.to_string(),
    };
    let id = store.create_package(&record)?;
    let package = store.package(id)?.ok_or_else(|| AppError::not_found(&format!("package {id}")))?;
    Ok(AddedPackage { package, notes, chunks: manifest.content.chunks.len() })
}

/// Stores a manifest signed offline after checking it against the
/// server's public key and the package it claims to be.
pub fn attach_signature(dist: &Distribution, store: &dyn Store, id: i64, signed: &[u8]) -> Result<PackageRecord, AppError> {
    let package = store.package(id)?.ok_or_else(|| AppError::not_found(&format!("package {id}")))?;
    let manifest = lanward_package::verify(signed, &dist.public_key, std::time::SystemTime::now(), None)
        .map_err(|r| bad("signature_refused", format!("署名済みマニフェストを受け付けません: {r}"), format!("signed manifest refused: {r}")))?;
    let unsigned: Manifest = serde_json::from_str(&package.unsigned_manifest).map_err(|e| internal("stored manifest", e))?;
    if manifest != unsigned {
        return Err(bad(
            "signature_mismatch",
            format!("署名されたマニフェストがパッケージ {id} のものと一致しません"),
            format!("the signed manifest is not package {id}'s manifest"),
        ));
    }
    store.set_package_signature(id, &String::from_utf8_lossy(signed))?;
    store.package(id)?.ok_or_else(|| AppError::not_found(&format!("package {id}")))
}

/// A new deployment as the console or CLI asks for it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeploymentRequest {
    pub package_id: Option<i64>,
    /// Package name (the newest version unless `version` is given).
    pub package: Option<String>,
    pub version: Option<String>,
    pub title: Option<String>,
    #[serde(default)]
    pub targets: TargetSpec,
    /// Hostnames of the pilot wave.
    #[serde(default)]
    pub pilot: Vec<String>,
    /// One wave per department after the pilot.
    #[serde(default)]
    pub by_department: bool,
    /// Go on to the next wave when this % of the previous one succeeded.
    pub gate_percent: Option<u8>,
    pub at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub windows: Vec<WindowSpec>,
    pub deadline: Option<DateTime<Utc>>,
    pub per_site_concurrency: Option<usize>,
    pub global_concurrency: Option<usize>,
    /// Bytes per second one site may pull from the server.
    pub per_site_bytes_per_sec: Option<u64>,
    pub spread_minutes: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct CreatedDeployment {
    pub id: i64,
    pub targets: usize,
    pub waves: Vec<(String, usize)>,
}

fn candidates(store: &dyn Store) -> Result<(Vec<Candidate>, HashSet<i64>), AppError> {
    let mut with_agent = HashSet::new();
    let list = store
        .ledger_snapshot()?
        .into_iter()
        .map(|a| {
            if a.has_agent {
                with_agent.insert(a.id);
            }
            Candidate {
                asset_id: a.id,
                hostname: a.hostname,
                site: a.site,
                department: a.fields.get("department").cloned().unwrap_or_default(),
                tags: a.fields.get("tags").map(|t| t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default(),
                kind: a.kind,
                status: a.fields.get("status").cloned().unwrap_or_else(|| "in_use".into()),
            }
        })
        .collect();
    Ok((list, with_agent))
}

pub fn create_deployment(dist: &Distribution, store: &dyn Store, req: &DeploymentRequest, actor: &str) -> Result<CreatedDeployment, AppError> {
    let package = match (req.package_id, &req.package) {
        (Some(id), _) => store.package(id)?.ok_or_else(|| AppError::not_found(&format!("package {id}")))?,
        (None, Some(name)) => store
            .packages()?
            .into_iter()
            .find(|p| &p.name == name && req.version.as_ref().is_none_or(|v| v == &p.version))
            .ok_or_else(|| AppError::not_found(&format!("package {name} {}", req.version.as_deref().unwrap_or(""))))?,
        (None, None) => return Err(bad("package_missing", "package か package_id を指定してください", "give package or package_id")),
    };
    if package.signed_manifest.is_none() {
        return Err(bad(
            "package_unsigned",
            format!("パッケージ {} {} はまだ署名されていません (lanward package sign)", package.name, package.version),
            format!("package {} {} is not signed yet (lanward package sign)", package.name, package.version),
        ));
    }
    let now = Utc::now();
    if package.expires_at_ms <= now.timestamp_millis() {
        return Err(bad("package_expired", "パッケージの署名の有効期限が切れています。追加し直してください", "the package's manifest has expired; add it again"));
    }
    let (cands, with_agent) = candidates(store)?;
    let resolved = req.targets.resolve(&cands, &HashMap::new()).map_err(|e| bad("targets_invalid", e.to_string(), e.to_string()))?;
    if !resolved.unknown_hostnames.is_empty() {
        let list = resolved.unknown_hostnames.join(", ");
        return Err(bad("targets_unknown", format!("台帳にない端末名: {list}"), format!("hostnames not in the ledger: {list}")));
    }
    if !resolved.inactive_hostnames.is_empty() {
        let list = resolved.inactive_hostnames.join(", ");
        return Err(bad("targets_inactive", format!("廃棄・返却済みの端末: {list}"), format!("retired or disposed: {list}")));
    }
    let named_without_agent: Vec<String> = resolved
        .targets
        .iter()
        .filter(|c| !with_agent.contains(&c.asset_id) && req.targets.hostnames.iter().any(|h| h.eq_ignore_ascii_case(&c.hostname)))
        .map(|c| c.hostname.clone())
        .collect();
    if !named_without_agent.is_empty() {
        let list = named_without_agent.join(", ");
        return Err(bad("targets_without_agent", format!("エージェントのない端末には配布できません: {list}"), format!("no agent on: {list}")));
    }
    // Filters (site, department) quietly skip assets without an agent (printers, switches).
    let targets: Vec<Candidate> = resolved.targets.into_iter().filter(|c| with_agent.contains(&c.asset_id)).collect();
    if targets.is_empty() {
        return Err(bad("targets_empty", "条件に合うエージェント導入済みの端末がありません", "no PC with an agent matches"));
    }
    let gate = Gate { min_success_percent: req.gate_percent.unwrap_or(90).min(100), max_failures: None };
    let mut waves: Vec<Wave> = if req.by_department {
        lanward_deploy::plan::waves_by_department(&req.pilot, &targets, gate)
    } else if !req.pilot.is_empty() {
        let is_pilot = |c: &Candidate| req.pilot.iter().any(|h| h.eq_ignore_ascii_case(&c.hostname));
        let pilot: Vec<i64> = targets.iter().filter(|c| is_pilot(c)).map(|c| c.asset_id).collect();
        let rest: Vec<i64> = targets.iter().filter(|c| !is_pilot(c)).map(|c| c.asset_id).collect();
        let mut w = Vec::new();
        if !pilot.is_empty() {
            w.push(Wave { name: "パイロット".into(), targets: pilot, not_before: None, gate: None });
        }
        if !rest.is_empty() {
            w.push(Wave { name: "全台".into(), targets: rest, not_before: None, gate: Some(gate) });
        }
        w
    } else {
        vec![Wave { name: "全台".into(), targets: targets.iter().map(|c| c.asset_id).collect(), not_before: None, gate: None }]
    };
    if let Some(first) = waves.first_mut() {
        first.not_before = req.at;
    }
    if let Some(d) = req.deadline {
        if d <= now || req.at.is_some_and(|a| d <= a) {
            return Err(bad("deadline_invalid", "deadline は現在と開始時刻より後にしてください", "deadline must be after now and after the start"));
        }
    }
    let n = targets.len();
    let spec = PlanSpec {
        waves,
        windows: req.windows.clone(),
        deadline: req.deadline,
        caps: Caps {
            per_site_concurrency: req.per_site_concurrency.unwrap_or(20).max(1),
            site_concurrency: HashMap::new(),
            global_concurrency: req.global_concurrency.unwrap_or(200).max(1),
            per_site_bytes_per_sec: req.per_site_bytes_per_sec.filter(|b| *b > 0),
        },
        // About ten PCs a minute start when nothing else is said.
        spread_minutes: req.spread_minutes.unwrap_or((n as u32 / 10).min(120)),
        seed: rand::random(),
    };
    // Windows that do not parse or never open are refused here, before any PC hears of it.
    spec.build(now).map_err(|e| bad("windows_invalid", format!("windows: {e}"), format!("windows: {e}")))?;
    let wave_of: HashMap<i64, usize> = spec.waves.iter().enumerate().flat_map(|(i, w)| w.targets.iter().map(move |id| (*id, i))).collect();
    let rows: Vec<NewDeploymentTarget> = targets
        .iter()
        .map(|c| NewDeploymentTarget { asset_id: c.asset_id, wave: wave_of.get(&c.asset_id).copied().unwrap_or(0) as i64, site: c.site.clone(), department: c.department.clone() })
        .collect();
    let plan = serde_json::to_string(&spec).map_err(|e| internal("plan", e))?;
    let title = req.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("{} {}", package.name, package.version));
    let new = NewDeployment { package_id: package.id, title, plan, targets: rows, created_at_ms: now.timestamp_millis(), created_by: actor.to_string() };
    let id = store.create_deployment(&new, &state_json(&TargetState::Queued))?;
    dist.wake.notify_one();
    Ok(CreatedDeployment { id, targets: n, waves: spec.waves.iter().map(|w| (w.name.clone(), w.targets.len())).collect() })
}

pub fn state_json(s: &TargetState) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "{\"state\":\"queued\"}".into())
}

pub fn parse_state(text: &str) -> TargetState {
    serde_json::from_str(text).unwrap_or(TargetState::Queued)
}

fn load_plan(d: &DeploymentRecord, now: DateTime<Utc>) -> Option<(PlanSpec, lanward_deploy::Plan, SchedulerMemory)> {
    let spec: PlanSpec = serde_json::from_str(&d.plan).map_err(|e| tracing::error!(deployment = d.id, error = %e, "stored plan unreadable")).ok()?;
    let plan = spec.build(now).map_err(|e| tracing::warn!(deployment = d.id, error = %e, "deployment windows no longer open")).ok()?;
    let memory = if d.memory.is_empty() { SchedulerMemory::default() } else { serde_json::from_str(&d.memory).unwrap_or_default() };
    Some((spec, plan, memory))
}

/// How long a target released to a PC may wait for the PC to start.
const UNCLAIMED_AFTER_MS: i64 = 30 * 60 * 1000;

/// One pass of the engine over every active deployment: opens waves,
/// releases targets within the caps, marks missed ones. Returns when it
/// should run again at the latest.
pub fn tick(dist: &Distribution, store: &dyn Store, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, AppError> {
    let _guard = dist.engine.lock().map_err(|_| AppError::unavailable("engine lock"))?;
    let mut wake: Option<DateTime<Utc>> = None;
    for d in store.deployments()?.into_iter().filter(|d| d.status == "active") {
        let Some((_spec, plan, memory)) = load_plan(&d, now) else { continue };
        let rows = store.deployment_targets(d.id)?;
        let mut states: HashMap<i64, TargetState> = rows.iter().map(|t| (t.asset_id, parse_state(&t.state))).collect();
        let sites: HashMap<i64, String> = rows.iter().map(|t| (t.asset_id, t.site.clone())).collect();
        let mut scheduler = Scheduler::restore(plan, sites, memory.clone());
        scheduler.set_status(DeploymentStatus::Active);
        let mut updates = Vec::new();
        let now_ms = now.timestamp_millis();
        // A release nobody picked up (PC off) gives its slot back after a while.
        for t in &rows {
            let Some(from) = states.get(&t.asset_id) else { continue };
            if now_ms - t.updated_at_ms > UNCLAIMED_AFTER_MS {
                if let Ok(to) = transition(from, &Event::Unclaimed) {
                    updates.push(TargetUpdate { deployment_id: d.id, asset_id: t.asset_id, state: state_json(&to), reason: None, add_server_bytes: 0, new_attempt: false, now_ms });
                    states.insert(t.asset_id, to);
                }
            }
        }
        let mut change = |asset_id: i64, event: Event| {
            if let Some(from) = states.get(&asset_id) {
                if let Ok(to) = transition(from, &event) {
                    updates.push(TargetUpdate { deployment_id: d.id, asset_id, state: state_json(&to), reason: None, add_server_bytes: 0, new_attempt: false, now_ms });
                }
            }
        };
        for action in scheduler.next_actions(now, &states) {
            match action {
                Action::StartDownload { asset_id, .. } => change(asset_id, Event::StartDownload),
                Action::WaitForWindow { asset_id } => change(asset_id, Event::WindowClosed),
                Action::Missed { asset_id } => change(asset_id, Event::DeadlinePassed),
                Action::WaitUntil { at } => {
                    if wake.is_none_or(|w| at < w) {
                        wake = Some(at);
                    }
                }
                Action::WaveOpened { .. } => {}
            }
        }
        if !updates.is_empty() {
            store.update_targets(&updates)?;
        }
        if *scheduler.memory() != memory {
            store.save_deployment_memory(d.id, &serde_json::to_string(scheduler.memory()).unwrap_or_default(), now_ms)?;
        }
    }
    Ok(wake)
}

/// Runs [`tick`] every few seconds and whenever something changed.
pub fn spawn_engine(state: &crate::SharedState) {
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            let (s, store) = (state.clone(), state.store.clone());
            let wake = tokio::task::spawn_blocking(move || {
                if let Err(e) = flush_bytes(&s.distribution, &*store) {
                    tracing::warn!(error = %e.en, "byte counters not saved; retrying");
                }
                tick(&s.distribution, &*store, Utc::now())
            })
            .await;
            // Byte counters are saved at least every second.
            let mut sleep = std::time::Duration::from_secs(1);
            match wake {
                Ok(Ok(Some(at))) => {
                    let until = (at - Utc::now()).to_std().unwrap_or_default();
                    sleep = sleep.min(until.max(std::time::Duration::from_millis(200)));
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(code = e.code, error = %e.en, "deployment engine pass failed; retrying"),
                Err(e) => tracing::error!(error = %e, "deployment engine task failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = state.distribution.wake.notified() => {}
            }
        }
    });
}

/// What an agent should work on now.
pub fn assignments(dist: &Distribution, store: &dyn Store, asset_id: i64, req: &AssignmentsRequest) -> Result<AssignmentsResponse, AppError> {
    let now = Utc::now();
    // Two small lookups: this runs on every agent's poll.
    let is_cache = store.asset_field(asset_id, "tags")?.is_some_and(|t| t.split(',').any(|x| x.trim() == SITE_CACHE_TAG));
    let my_site = store.asset_location(asset_id)?.map(|(site, _)| site).unwrap_or_default();
    if let Ok(mut caches) = dist.caches.lock() {
        match (is_cache, req.cache_url.as_deref().and_then(clean_cache_url)) {
            (true, Some(url)) => {
                caches.insert(my_site.clone(), SiteCacheEntry { asset_id, url, seen_ms: now.timestamp_millis() });
            }
            // Untagged (or not serving): it is nobody's cache any more.
            _ => caches.retain(|_, c| c.asset_id != asset_id),
        }
    }
    let sources: Vec<String> = dist
        .caches
        .lock()
        .ok()
        .and_then(|c| c.get(&my_site).cloned())
        .filter(|c| c.asset_id != asset_id && now.timestamp_millis() - c.seen_ms < CACHE_FRESH_MS)
        .map(|c| vec![c.url])
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut packages: HashMap<i64, Option<PackageRecord>> = HashMap::new();
    for (d, t) in store.asset_deployments(asset_id)? {
        let state = parse_state(&t.state);
        let working = req.working_on.contains(&d.id);
        let released = matches!(state, TargetState::Downloading { .. } | TargetState::Downloaded | TargetState::Installing);
        let directive = if d.status == "cancelled" || !released {
            if !working {
                continue;
            }
            // Not released (queued again after a retry) or settled: the agent stops.
            if matches!(state, TargetState::Queued | TargetState::WaitingForWindow) && d.status != "cancelled" {
                Directive::Wait
            } else {
                Directive::Stop
            }
        } else if d.status == "paused" {
            Directive::Wait
        } else {
            Directive::Go
        };
        let mut until_ms = None;
        if directive == Directive::Go {
            if let Some((_, plan, _)) = load_plan(&d, now) {
                if !plan.windows.is_always_open() {
                    match plan.windows.next_open(now) {
                        Some((start, end)) if start <= now => until_ms = Some(end.timestamp_millis()),
                        _ => {
                            // Outside the window: keep what is downloaded, do nothing.
                            out.push(assignment(&d, "", Directive::Wait, None));
                            continue;
                        }
                    }
                }
                if let Some(deadline) = plan.deadline {
                    let dl = deadline.timestamp_millis();
                    until_ms = Some(until_ms.map_or(dl, |u: i64| u.min(dl)));
                }
            }
        }
        let package = packages.entry(d.package_id).or_insert_with(|| store.package(d.package_id).ok().flatten());
        let signed = package.as_ref().and_then(|p| p.signed_manifest.clone()).unwrap_or_default();
        let mut a = assignment(&d, &signed, directive, until_ms);
        a.chunk_sources = sources.clone();
        out.push(a);
    }
    let busy = out.iter().any(|a| a.directive != Directive::Stop);
    // A cache polls often enough to stay known (see CACHE_FRESH_MS).
    let idle = if is_cache { dist.poll_secs.min(120) } else { dist.poll_secs };
    Ok(AssignmentsResponse { assignments: out, poll_secs: if busy { dist.poll_secs.min(10) } else { idle }, site_cache: is_cache })
}

fn assignment(d: &DeploymentRecord, signed: &str, directive: Directive, until_ms: Option<i64>) -> Assignment {
    Assignment {
        deployment_id: d.id,
        package: d.package_name.clone(),
        version: d.package_version.clone(),
        signed_manifest: signed.to_string(),
        directive,
        until_ms,
        chunk_sources: Vec::new(),
    }
}

/// Applies an agent's reports. A report that does not fit the target's
/// state (late, repeated) is ignored, but its bytes still count.
pub fn apply_reports(dist: &Distribution, store: &dyn Store, asset_id: i64, reports: &[TargetReport]) -> Result<usize, AppError> {
    let _guard = dist.engine.lock().map_err(|_| AppError::unavailable("engine lock"))?;
    flush_bytes(dist, store)?;
    let rows: HashMap<i64, DeploymentTargetRecord> = store.asset_deployments(asset_id)?.into_iter().map(|(d, t)| (d.id, t)).collect();
    let mut current: HashMap<i64, TargetState> = rows.iter().map(|(id, t)| (*id, parse_state(&t.state))).collect();
    let mut updates = Vec::new();
    let mut applied = 0;
    let now_ms = lanward_store::now_ms();
    for r in reports {
        let Some(from) = current.get(&r.deployment_id).cloned() else { continue };
        let (event, reason) = match &r.step {
            TargetStep::Progress { percent } => (Event::Progress { percent: (*percent).min(100) }, None),
            TargetStep::Downloaded => (Event::DownloadComplete, None),
            TargetStep::Installing => (Event::StartInstall, None),
            TargetStep::Installed { reboot_required } => (Event::InstallSucceeded { reboot_required: *reboot_required }, None),
            TargetStep::NotApplicable { reason } => (Event::NotApplicable, Some(truncate(reason, 500))),
            TargetStep::Failed { code, reason, log_tail } => (Event::Fail { code: *code, log_tail: truncate(log_tail, 8192) }, Some(truncate(reason, 500))),
            TargetStep::Rebooted => (Event::Rebooted, None),
        };
        // The server counts the bytes it sends itself (chunk route); what
        // the agent says it fetched is not added again.
        let bytes = 0i64;
        match transition(&from, &event) {
            Ok(to) => {
                applied += 1;
                current.insert(r.deployment_id, to.clone());
                updates.push(TargetUpdate { deployment_id: r.deployment_id, asset_id, state: state_json(&to), reason, add_server_bytes: bytes, new_attempt: false, now_ms });
            }
            Err(e) => {
                tracing::debug!(deployment = r.deployment_id, asset = asset_id, error = %e, "report ignored");
                if bytes > 0 {
                    updates.push(TargetUpdate { deployment_id: r.deployment_id, asset_id, state: state_json(&from), reason: rows.get(&r.deployment_id).and_then(|t| t.reason.clone()), add_server_bytes: bytes, new_attempt: false, now_ms });
                }
            }
        }
    }
    if !updates.is_empty() {
        store.update_targets(&updates)?;
        dist.wake.notify_one();
    }
    Ok(applied)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    // Keep the end: an installer log's last lines say why it failed.
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// Who fetches a chunk: a target for itself, or a site cache for its site.
pub enum ChunkFetcher {
    Target { deployment: DeploymentRecord, site: String },
    SiteCache { deployment: DeploymentRecord, site: String },
}

impl ChunkFetcher {
    pub fn deployment(&self) -> &DeploymentRecord {
        match self {
            ChunkFetcher::Target { deployment, .. } | ChunkFetcher::SiteCache { deployment, .. } => deployment,
        }
    }
    pub fn site(&self) -> &str {
        match self {
            ChunkFetcher::Target { site, .. } | ChunkFetcher::SiteCache { site, .. } => site,
        }
    }
}

fn package_chunks(dist: &Distribution, store: &dyn Store, package_id: i64) -> Result<Option<Arc<HashSet<ChunkId>>>, AppError> {
    let cached = dist.package_chunks.lock().map_err(|_| AppError::unavailable("chunk cache"))?.get(&package_id).cloned();
    if let Some(c) = cached {
        return Ok(Some(c));
    }
    let Some(p) = store.package(package_id)? else { return Ok(None) };
    let m: Manifest = serde_json::from_str(&p.unsigned_manifest).map_err(|e| internal("stored manifest", e))?;
    let set: Arc<HashSet<ChunkId>> = Arc::new(m.content.chunks.iter().map(|c| c.id).collect());
    dist.package_chunks.lock().map_err(|_| AppError::unavailable("chunk cache"))?.insert(package_id, set.clone());
    Ok(Some(set))
}

/// Whether an agent may fetch a chunk: one of its released targets is of a
/// package that holds the chunk, or it is the cache of a site where such a
/// target is. Returns who it fetches for (caps and WAN accounting).
pub fn chunk_allowed(dist: &Distribution, store: &dyn Store, asset_id: i64, chunk: &ChunkId) -> Result<Option<ChunkFetcher>, AppError> {
    if let Some((deployment, site)) = chunk_for_target(dist, store, asset_id, chunk)? {
        return Ok(Some(ChunkFetcher::Target { deployment, site }));
    }
    let cache_site = dist.caches.lock().ok().and_then(|c| c.iter().find(|(_, e)| e.asset_id == asset_id).map(|(s, _)| s.clone()));
    let Some(site) = cache_site else { return Ok(None) };
    for d in store.deployments()?.into_iter().filter(|d| d.status == "active") {
        let has = package_chunks(dist, store, d.package_id)?.is_some_and(|c| c.contains(chunk));
        if has && store.deployment_targets(d.id)?.iter().any(|t| t.site == site && matches!(parse_state(&t.state), TargetState::Downloading { .. })) {
            return Ok(Some(ChunkFetcher::SiteCache { deployment: d, site }));
        }
    }
    Ok(None)
}

fn chunk_for_target(dist: &Distribution, store: &dyn Store, asset_id: i64, chunk: &ChunkId) -> Result<Option<(DeploymentRecord, String)>, AppError> {
    for (d, t) in store.asset_deployments(asset_id)? {
        if d.status != "active" || !matches!(parse_state(&t.state), TargetState::Downloading { .. }) {
            continue;
        }
        if package_chunks(dist, store, d.package_id)?.is_some_and(|c| c.contains(chunk)) {
            return Ok(Some((d, t.site)));
        }
    }
    Ok(None)
}

/// `None` when a chunk of `bytes` may go to `site` now; otherwise how long
/// to wait before asking again, so the site's WAN cap holds.
pub fn bandwidth_wait(dist: &Distribution, deployment: &DeploymentRecord, site: &str, bytes: u64) -> Option<std::time::Duration> {
    let spec = serde_json::from_str::<PlanSpec>(&deployment.plan).ok()?;
    let rate = spec.caps.per_site_bytes_per_sec?;
    let mut buckets = dist.buckets.lock().ok()?;
    // The burst is one chunk: a site never gets more than one chunk ahead of its rate.
    let b = buckets.entry(deployment.id).or_insert_with(|| lanward_deploy::BandwidthBuckets::new(rate, lanward_package::DEFAULT_CHUNK_SIZE));
    let now = Utc::now();
    match b.try_take(site, bytes, now) {
        Ok(()) => None,
        Err(at) => Some((at - now).to_std().unwrap_or_default().max(std::time::Duration::from_millis(5))),
    }
}

/// The deployment as the console and `GET /api/v1/deployments/{id}` show it.
#[derive(Debug, Serialize)]
pub struct DeploymentView {
    pub deployment: DeploymentRecord,
    pub package: Option<PackageRecord>,
    pub windows: Vec<WindowSpec>,
    pub deadline: Option<DateTime<Utc>>,
    pub counts: lanward_deploy::plan::WaveCounts,
    pub waves: Vec<WaveView>,
    pub sites: Vec<SiteView>,
    pub targets: Vec<TargetView>,
}

#[derive(Debug, Serialize)]
pub struct WaveView {
    pub index: usize,
    pub name: String,
    pub opened: bool,
    pub gate_percent: Option<u8>,
    pub counts: lanward_deploy::plan::WaveCounts,
}

#[derive(Debug, Serialize)]
pub struct SiteView {
    pub site: String,
    pub counts: lanward_deploy::plan::WaveCounts,
    /// Bytes the site's PCs and its cache fetched from the server: its WAN traffic.
    pub server_bytes: i64,
    /// Of which its cache fetched.
    pub cache_bytes: i64,
}

#[derive(Debug, Serialize)]
pub struct TargetView {
    pub asset_id: i64,
    pub hostname: String,
    pub site: String,
    pub department: String,
    pub wave: i64,
    /// `queued`, `downloading`, `installed`, ...
    pub state: String,
    pub label_ja: &'static str,
    pub label_en: &'static str,
    pub percent: Option<u8>,
    pub code: Option<i32>,
    pub log_tail: Option<String>,
    pub reason: Option<String>,
    pub server_bytes: i64,
    pub attempts: i64,
    pub updated_at_ms: i64,
}

fn count(states: &[&TargetState]) -> lanward_deploy::plan::WaveCounts {
    let map: HashMap<i64, TargetState> = states.iter().enumerate().map(|(i, s)| (i as i64, (*s).clone())).collect();
    let wave = Wave { name: String::new(), targets: (0..states.len() as i64).collect(), not_before: None, gate: None };
    wave.counts(&map)
}

pub fn view(store: &dyn Store, id: i64) -> Result<Option<DeploymentView>, AppError> {
    let Some(d) = store.deployment(id)? else { return Ok(None) };
    let package = store.package(d.package_id)?;
    let spec: Option<PlanSpec> = serde_json::from_str(&d.plan).ok();
    let memory: SchedulerMemory = serde_json::from_str(&d.memory).unwrap_or_default();
    let rows = store.deployment_targets(id)?;
    let states: Vec<TargetState> = rows.iter().map(|t| parse_state(&t.state)).collect();
    let all: Vec<&TargetState> = states.iter().collect();
    let mut waves = Vec::new();
    if let Some(spec) = &spec {
        for (i, w) in spec.waves.iter().enumerate() {
            let of: Vec<&TargetState> = rows.iter().zip(&states).filter(|(t, _)| t.wave == i as i64).map(|(_, s)| s).collect();
            waves.push(WaveView {
                index: i,
                name: w.name.clone(),
                opened: memory.opened_at.get(i).copied().flatten().is_some(),
                gate_percent: if i == 0 { None } else { w.gate.map(|g| g.min_success_percent) },
                counts: count(&of),
            });
        }
    }
    let cache_bytes = store.site_cache_bytes(id)?;
    let mut site_names: Vec<String> = rows.iter().map(|t| t.site.clone()).collect();
    site_names.sort();
    site_names.dedup();
    let sites = site_names
        .into_iter()
        .map(|site| {
            let of: Vec<&TargetState> = rows.iter().zip(&states).filter(|(t, _)| t.site == site).map(|(_, s)| s).collect();
            let cache_bytes = cache_bytes.iter().filter(|(s, _)| *s == site).map(|(_, b)| *b).sum::<i64>();
            let server_bytes = rows.iter().filter(|t| t.site == site).map(|t| t.server_bytes).sum::<i64>() + cache_bytes;
            SiteView { counts: count(&of), site, server_bytes, cache_bytes }
        })
        .collect();
    let targets = rows
        .iter()
        .zip(&states)
        .map(|(t, s)| {
            let (percent, code, log_tail) = match s {
                TargetState::Downloading { percent } => (Some(*percent), None, None),
                TargetState::Failed { code, log_tail } => (None, Some(*code), Some(log_tail.clone())),
                _ => (None, None, None),
            };
            let state = serde_json::to_value(s).ok().and_then(|v| v.get("state").and_then(|x| x.as_str()).map(String::from)).unwrap_or_default();
            TargetView {
                asset_id: t.asset_id,
                hostname: t.hostname.clone(),
                site: t.site.clone(),
                department: t.department.clone(),
                wave: t.wave,
                state,
                label_ja: s.label_ja(),
                label_en: s.label_en(),
                percent,
                code,
                log_tail,
                reason: t.reason.clone(),
                server_bytes: t.server_bytes,
                attempts: t.attempts,
                updated_at_ms: t.updated_at_ms,
            }
        })
        .collect();
    Ok(Some(DeploymentView {
        windows: spec.as_ref().map(|s| s.windows.clone()).unwrap_or_default(),
        deadline: spec.as_ref().and_then(|s| s.deadline),
        counts: count(&all),
        deployment: d,
        package,
        waves,
        sites,
        targets,
    }))
}

/// Pause, resume, cancel, or retry the failed targets. Returns how many
/// targets changed (cancel, retry).
pub fn control(dist: &Distribution, store: &dyn Store, id: i64, what: &str) -> Result<usize, AppError> {
    let _guard = dist.engine.lock().map_err(|_| AppError::unavailable("engine lock"))?;
    let d = store.deployment(id)?.ok_or_else(|| AppError::not_found(&format!("deployment {id}")))?;
    let now_ms = lanward_store::now_ms();
    if d.status == "cancelled" && what != "cancel" {
        return Err(AppError::new(axum::http::StatusCode::CONFLICT, "deployment_cancelled", "取り消した配布は再開できません", "a cancelled deployment cannot be changed"));
    }
    let (status, event) = match what {
        "pause" => ("paused", None),
        "resume" => ("active", None),
        "cancel" => ("cancelled", Some(Event::Cancel)),
        "retry" => (d.status.as_str(), Some(Event::Retry)),
        _ => return Err(AppError::not_found(what)),
    };
    let mut changed = 0;
    if let Some(event) = event {
        let mut updates = Vec::new();
        for t in store.deployment_targets(id)? {
            if let Ok(to) = transition(&parse_state(&t.state), &event) {
                changed += 1;
                updates.push(TargetUpdate { deployment_id: id, asset_id: t.asset_id, state: state_json(&to), reason: None, add_server_bytes: 0, new_attempt: what == "retry", now_ms });
            }
        }
        store.update_targets(&updates)?;
    }
    let status = status.to_string();
    store.set_deployment_status(id, &status, now_ms)?;
    dist.wake.notify_one();
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanward_store::{LedgerWrite, NewPackage};

    fn setup() -> (tempfile::TempDir, Distribution, lanward_store::sqlite::SqliteStore, i64, i64) {
        let dir = tempfile::tempdir().expect("tmp");
        let dist = Distribution::open(dir.path(), 60).expect("distribution");
        let store = lanward_store::sqlite::SqliteStore::open(&dir.path().join("db")).expect("store");
        let ids = store
            .apply_ledger(
                &[
                    LedgerWrite::Create { hostname: "PC-A".into(), kind: "pc".into(), site: "KUN".into(), fields: vec![] },
                    LedgerWrite::Create { hostname: "PC-B".into(), kind: "pc".into(), site: "KUN".into(), fields: vec![] },
                ],
                "user:t",
                1,
            )
            .expect("assets");
        let package_id = store
            .create_package(&NewPackage {
                name: "p".into(),
                version: "1".into(),
                serial: 1,
                file_name: "p.sh".into(),
                framework: "shell".into(),
                command: "sh {file}".into(),
                detection: None,
                size: 1,
                sha256: "00".repeat(32),
                unsigned_manifest: "{}".into(),
                signed_manifest: Some("{}".into()),
                expires_at_ms: i64::MAX,
                created_at_ms: 1,
                created_by: "user:t".into(),
            })
            .expect("package");
        assert_eq!(ids[1].0, ids[0].0 + 1);
        (dir, dist, store, ids[0].0, package_id)
    }

    #[test]
    fn a_release_no_pc_picks_up_is_taken_back_and_caps_hold() {
        let (_dir, dist, store, a, package_id) = setup();
        let b = a + 1;
        let spec = PlanSpec {
            waves: vec![Wave { name: "all".into(), targets: vec![a, b], not_before: None, gate: None }],
            windows: vec![],
            deadline: None,
            caps: Caps { per_site_concurrency: 1, site_concurrency: HashMap::new(), global_concurrency: 10, per_site_bytes_per_sec: None },
            spread_minutes: 0,
            seed: 1,
        };
        let targets = [a, b].iter().map(|id| NewDeploymentTarget { asset_id: *id, wave: 0, site: "KUN".into(), department: String::new() }).collect();
        let t0 = Utc::now();
        let new = NewDeployment { package_id, title: "t".into(), plan: serde_json::to_string(&spec).expect("plan"), targets, created_at_ms: t0.timestamp_millis(), created_by: "user:t".into() };
        let id = store.create_deployment(&new, &state_json(&TargetState::Queued)).expect("deployment");
        tick(&dist, &store, t0).expect("tick");
        let rows = store.deployment_targets(id).expect("rows");
        let released: Vec<i64> = rows.iter().filter(|t| matches!(parse_state(&t.state), TargetState::Downloading { .. })).map(|t| t.asset_id).collect();
        assert_eq!(released.len(), 1, "one per site at a time: {rows:?}");
        // Nobody started in 31 minutes: the release is taken back and made again (the slot is never lost).
        let later = t0 + chrono::Duration::minutes(31);
        tick(&dist, &store, later).expect("tick");
        let rows = store.deployment_targets(id).expect("rows");
        let stale = rows.iter().find(|t| t.asset_id == released[0]).expect("row");
        assert_eq!(stale.updated_at_ms, later.timestamp_millis(), "the stale release was handled: {rows:?}");
        assert_eq!(rows.iter().filter(|t| matches!(parse_state(&t.state), TargetState::Downloading { .. })).count(), 1, "still one at a time");
    }
}
