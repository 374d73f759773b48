//! Software distribution on the PC: asks the server what to install,
//! verifies the signed manifest against the key pinned at enrolment,
//! downloads the chunks it does not have yet (resuming after any
//! interruption), checks the detection rule before and after, runs the
//! silent installer as the service account, and reports every step.
//!
//! Everything survives a restart: verified chunks are files in
//! `DATA/deploy/chunks`, the download state and each job's phase are saved
//! after every step, and reports not yet acknowledged are sent again.

pub mod cache;
pub mod detect;
pub mod install;

use crate::client::{ClientError, ServerClient};
use anyhow::Result;
use lanward_package::{ChunkStore, DownloadState, InstallSpec, Manifest, Outcome, PublicKey, SeenSerials};
use lanward_proto::deploy::{codes, Assignment, AssignmentsRequest, AssignmentsResponse, Directive, ReportRequest, TargetReport, TargetStep};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where one deployment stands on this PC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    /// Told to go; detection not run yet.
    New,
    Downloading,
    Downloaded,
    /// Finished (installed, failed, not applicable): only the report is left.
    Done,
    /// Installed, waiting for the PC to restart (then "rebooted" is reported).
    AwaitingReboot,
}

/// A deployment this PC works on (`DATA/deploy/jobs/ID.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    deployment_id: i64,
    phase: Phase,
    /// Reports the server has not acknowledged yet, oldest first.
    #[serde(default)]
    unsent: Vec<TargetReport>,
    /// Retries of an installer that said "another install is running".
    #[serde(default)]
    retries: u32,
    #[serde(default)]
    not_before_ms: i64,
    /// Downloads cut off in a row: the next try waits longer each time.
    #[serde(default)]
    failures: u32,
    /// When the installer finished (for the reboot check).
    #[serde(default)]
    installed_at_ms: i64,
}

pub struct DeployWorker {
    client: ServerClient,
    dir: PathBuf,
    chunks: ChunkStore,
    pinned: Option<PublicKey>,
    stop_flag: std::sync::Arc<AtomicBool>,
    data_dir: PathBuf,
    /// The URL this agent serves its site from, once the server made it the
    /// site cache.
    cache_url: std::sync::Mutex<Option<String>>,
    /// For the site cache on the LAN (plain HTTP; chunks are verified).
    lan: ureq::Agent,
    /// Where to serve as site cache and what URL to announce, when not the
    /// defaults (`LANWARD_AGENT_CACHE_LISTEN`/`_URL`, or port 8470).
    cache_listen: Option<(std::net::SocketAddr, Option<String>)>,
    /// This PC's own site cache, when it is one: its own downloads go
    /// through it too, so each chunk crosses the WAN once for the site.
    own_cache: std::sync::Mutex<Option<std::sync::Arc<cache::SiteCache>>>,
}

/// Why a job did not finish this round.
enum Pause {
    /// The server could not be reached: try again at the next poll.
    Network(String),
    /// The window closed or the server said wait.
    Window,
    Stopped,
    /// The job ended (failed and reported) inside the step.
    Finished,
}

impl DeployWorker {
    pub fn new(client: ServerClient, data_dir: &Path, package_key: Option<&str>, stop: std::sync::Arc<AtomicBool>) -> Result<DeployWorker> {
        let dir = data_dir.join("deploy");
        std::fs::create_dir_all(dir.join("jobs"))?;
        let chunks = ChunkStore::open(dir.join("chunks")).map_err(|e| anyhow::anyhow!("{e}"))?;
        let pinned = match package_key.map(PublicKey::from_base64) {
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => {
                tracing::error!(error = %e, "pinned package key unreadable; every package will be refused");
                None
            }
            None => None,
        };
        let lan = ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(3)).timeout(Duration::from_secs(120)).build();
        Ok(DeployWorker { client, dir, chunks, pinned, stop_flag: stop, data_dir: data_dir.to_path_buf(), cache_url: std::sync::Mutex::new(None), lan, cache_listen: None, own_cache: std::sync::Mutex::new(None) })
    }

    /// Serve as site cache on `listen`, announcing `advertised` (default:
    /// the listening address) — several agents on one machine in tests.
    pub fn with_cache_listen(mut self, listen: std::net::SocketAddr, advertised: Option<String>) -> Self {
        self.cache_listen = Some((listen, advertised));
        self
    }

    /// Starts serving the site (once) when the server says this PC is its cache.
    fn ensure_cache(&self) -> bool {
        let Ok(mut url) = self.cache_url.lock() else { return false };
        if url.is_some() {
            return false;
        }
        let (listen, advertised) = self.cache_listen.clone().unwrap_or_else(|| {
            let listen = std::env::var("LANWARD_AGENT_CACHE_LISTEN")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], cache::DEFAULT_PORT)));
            (listen, std::env::var("LANWARD_AGENT_CACHE_URL").ok())
        });
        let started = cache::SiteCache::open(&self.data_dir, self.client.clone()).and_then(|c| Ok((c.clone(), cache::start(c, listen, advertised, self.stop_flag.clone())?)));
        match started {
            Ok((c, u)) => {
                *url = Some(u);
                if let Ok(mut own) = self.own_cache.lock() {
                    *own = Some(c);
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot serve as the site cache");
                false
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop_flag.load(Ordering::Relaxed)
    }

    fn job_path(&self, id: i64) -> PathBuf {
        self.dir.join("jobs").join(format!("{id}.json"))
    }

    fn jobs(&self) -> Vec<Job> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("jobs")) {
            for e in entries.flatten() {
                match std::fs::read(e.path()).ok().and_then(|b| serde_json::from_slice::<Job>(&b).ok()) {
                    Some(j) => out.push(j),
                    None => {
                        tracing::warn!(file = %e.path().display(), "unreadable job file removed");
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        out
    }

    fn save(&self, job: &Job) {
        let tmp = self.job_path(job.deployment_id).with_extension("tmp");
        let ok = serde_json::to_vec(job).ok().and_then(|b| std::fs::write(&tmp, b).ok()).and_then(|_| std::fs::rename(&tmp, self.job_path(job.deployment_id)).ok());
        if ok.is_none() {
            tracing::warn!(deployment = job.deployment_id, "cannot save the job's state");
        }
    }

    fn forget(&self, id: i64) {
        let _ = std::fs::remove_file(self.job_path(id));
        let _ = std::fs::remove_dir_all(self.dir.join("work").join(id.to_string()));
    }

    /// Sends the job's unsent reports; true when all went.
    fn flush(&self, job: &mut Job) -> bool {
        if job.unsent.is_empty() {
            return true;
        }
        let req = ReportRequest { reports: job.unsent.clone() };
        match self.client.post_json::<_, serde_json::Value>("/api/v1/agent/deployments/report", &req) {
            Ok(_) => {
                job.unsent.clear();
                self.save(job);
                true
            }
            Err(e) => {
                tracing::warn!(deployment = job.deployment_id, error = %e, "report not sent; kept for later");
                false
            }
        }
    }

    fn report(&self, job: &mut Job, step: TargetStep, server_bytes: u64) {
        // Progress reports replace each other: only the newest matters.
        if matches!(step, TargetStep::Progress { .. }) {
            job.unsent.retain(|r| !matches!(r.step, TargetStep::Progress { .. }) || r.server_bytes > 0);
        }
        job.unsent.push(TargetReport { deployment_id: job.deployment_id, step, server_bytes, at_ms: crate::now_ms() });
        self.save(job);
        self.flush(job);
    }

    fn finish(&self, job: &mut Job, step: TargetStep) {
        let reboot = matches!(step, TargetStep::Installed { reboot_required: true });
        job.phase = if reboot { Phase::AwaitingReboot } else { Phase::Done };
        job.installed_at_ms = crate::now_ms();
        self.report(job, step, 0);
        if job.unsent.is_empty() && !reboot {
            self.forget(job.deployment_id);
        }
    }

    /// Asks the server and works on what it says. Returns when to ask again.
    pub fn round(&self) -> Duration {
        let mut jobs = self.jobs();
        for j in jobs.iter_mut() {
            let sent = self.flush(j);
            if sent && j.phase == Phase::Done {
                self.forget(j.deployment_id);
            }
            // The PC restarted since the install that needed it.
            if j.phase == Phase::AwaitingReboot && install::boot_time_ms().is_some_and(|boot| boot > j.installed_at_ms) {
                j.phase = Phase::Done;
                self.report(j, TargetStep::Rebooted, 0);
                if j.unsent.is_empty() {
                    self.forget(j.deployment_id);
                }
            }
        }
        let req = AssignmentsRequest {
            working_on: jobs.iter().filter(|j| matches!(j.phase, Phase::New | Phase::Downloading | Phase::Downloaded)).map(|j| j.deployment_id).collect(),
            cache_url: self.cache_url.lock().ok().and_then(|u| u.clone()),
        };
        let resp: AssignmentsResponse = match self.client.post_json("/api/v1/agent/deployments", &req) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "cannot ask for deployments");
                return Duration::from_secs(60);
            }
        };
        // Just became the site cache: tell the server where, right away.
        let mut busy = resp.site_cache && self.ensure_cache();
        for a in &resp.assignments {
            if self.stopped() {
                break;
            }
            let known = jobs.iter().position(|j| j.deployment_id == a.deployment_id);
            match a.directive {
                Directive::Stop => {
                    if let Some(i) = known {
                        let mut j = jobs[i].clone();
                        self.flush(&mut j);
                        tracing::info!(deployment = a.deployment_id, "deployment stopped by the server");
                        self.forget(a.deployment_id);
                    }
                }
                Directive::Wait => {}
                Directive::Go => {
                    let mut job = match known {
                        Some(i) => jobs[i].clone(),
                        None => Job { deployment_id: a.deployment_id, phase: Phase::New, unsent: Vec::new(), retries: 0, not_before_ms: 0, failures: 0, installed_at_ms: 0 },
                    };
                    if matches!(job.phase, Phase::Done | Phase::AwaitingReboot) || job.not_before_ms > crate::now_ms() {
                        continue;
                    }
                    self.save(&job);
                    busy = true;
                    match self.work(&mut job, a) {
                        Ok(()) => {}
                        Err(Pause::Network(e)) => {
                            // Back off: 10 s, 20 s, 40 s ... at most 15 minutes.
                            job.failures += 1;
                            let wait_ms = (10_000i64 << job.failures.min(7)).min(15 * 60_000);
                            job.not_before_ms = crate::now_ms() + wait_ms;
                            self.save(&job);
                            tracing::warn!(deployment = a.deployment_id, error = %e, retry_in_secs = wait_ms / 1000, "download interrupted; resumes from the last verified chunk");
                        }
                        Err(Pause::Window) => tracing::info!(deployment = a.deployment_id, "maintenance window closed; resumes in the next one"),
                        Err(Pause::Stopped) => return Duration::ZERO,
                        Err(Pause::Finished) => {}
                    }
                }
            }
        }
        let secs = if busy { resp.poll_secs.min(5) } else { resp.poll_secs };
        Duration::from_secs(secs.clamp(1, 3600))
    }

    fn work(&self, job: &mut Job, a: &Assignment) -> Result<(), Pause> {
        let manifest = match self.verify(a) {
            Ok(m) => m,
            Err(reason) => {
                tracing::error!(deployment = a.deployment_id, %reason, "package refused");
                self.finish(job, TargetStep::Failed { code: codes::MANIFEST_REFUSED, reason, log_tail: String::new() });
                return Ok(());
            }
        };
        let spec = match InstallSpec::from_manifest(&manifest.installer).and_then(|s| s.check().map(|_| s.clone()).map_err(|(f, d)| format!("{f}: {d}"))) {
            Ok(s) => s,
            Err(reason) => {
                self.finish(job, TargetStep::Failed { code: codes::MANIFEST_REFUSED, reason, log_tail: String::new() });
                return Ok(());
            }
        };
        let rule = match spec.detection.as_deref().map(lanward_installer::rule::parse).transpose() {
            Ok(r) => r,
            Err(e) => {
                self.finish(job, TargetStep::Failed { code: codes::DETECTION_FAILED, reason: e.to_string(), log_tail: String::new() });
                return Ok(());
            }
        };
        if job.phase == Phase::New {
            if let Some(rule) = &rule {
                match detect::is_installed(rule) {
                    Ok(true) => {
                        self.finish(job, TargetStep::NotApplicable { reason: format!("インストール済みです (already installed: {rule})") });
                        return Ok(());
                    }
                    Ok(false) => {}
                    Err(e) => {
                        self.finish(job, TargetStep::Failed { code: codes::DETECTION_FAILED, reason: format!("検出ルールを実行できません: {e}"), log_tail: String::new() });
                        return Ok(());
                    }
                }
            }
            job.phase = Phase::Downloading;
            self.save(job);
        }
        if job.phase == Phase::Downloading {
            self.download(job, a, &manifest)?;
            job.phase = Phase::Downloaded;
            self.report(job, TargetStep::Downloaded, 0);
        }
        // Downloaded: install, unless the window closed or a reboot is pending.
        if a.until_ms.is_some_and(|u| crate::now_ms() >= u) {
            return Err(Pause::Window);
        }
        if let Some(why) = install::reboot_pending() {
            tracing::info!(deployment = job.deployment_id, %why, "a reboot is pending; the installer waits");
            return Ok(());
        }
        let work = self.dir.join("work").join(job.deployment_id.to_string());
        let file = work.join(&spec.file_name);
        if let Err(e) = std::fs::create_dir_all(&work).map_err(|e| e.to_string()).and_then(|_| lanward_package::assemble(&self.chunks, &manifest.content, &file).map_err(|e| e.to_string())) {
            // A chunk went bad on disk: fetch again from the start of what is missing.
            let _ = std::fs::remove_file(self.state_path(&manifest));
            job.phase = Phase::Downloading;
            self.save(job);
            return Err(Pause::Network(format!("assemble: {e}")));
        }
        self.report(job, TargetStep::Installing, 0);
        let run = install::run(&spec, &file, &work);
        let _ = std::fs::remove_file(&file);
        let step = match run {
            Err(e) => TargetStep::Failed { code: e.code, reason: e.reason, log_tail: e.log_tail },
            Ok(done) => match spec.exit_codes.classify(done.exit_code) {
                Outcome::RetryLater if job.retries < 5 => {
                    job.retries += 1;
                    // Another installer is running (MSI 1618): back off, then again.
                    job.not_before_ms = crate::now_ms() + 60_000 * i64::from(1u32 << job.retries.min(5));
                    self.save(job);
                    return Ok(());
                }
                Outcome::RetryLater | Outcome::Failure => TargetStep::Failed {
                    code: i32::try_from(done.exit_code).unwrap_or(i32::MIN),
                    reason: format!("インストーラーが終了コード {} を返しました (installer exit code)", done.exit_code),
                    log_tail: done.log_tail,
                },
                ok @ (Outcome::Success | Outcome::SuccessRebootRequired | Outcome::SuccessRebootInitiated) => {
                    // A zero exit code with the product absent is a failure.
                    match rule.as_ref().map(detect::is_installed) {
                        Some(Ok(false)) => TargetStep::Failed {
                            code: codes::NOT_DETECTED_AFTER_INSTALL,
                            reason: format!("インストーラーは成功を返しましたが、検出ルール {} に一致しません (installed but not detected)", spec.detection.as_deref().unwrap_or("")),
                            log_tail: done.log_tail,
                        },
                        Some(Err(e)) => TargetStep::Failed { code: codes::DETECTION_FAILED, reason: format!("検出ルールを実行できません: {e}"), log_tail: done.log_tail },
                        _ => TargetStep::Installed { reboot_required: ok != Outcome::Success },
                    }
                }
            },
        };
        // The content is not needed any more (a site cache would keep it).
        for c in &manifest.content.chunks {
            let _ = self.chunks.remove(&c.id);
        }
        let _ = std::fs::remove_file(self.state_path(&manifest));
        self.finish(job, step);
        Ok(())
    }

    fn state_path(&self, manifest: &Manifest) -> PathBuf {
        self.dir.join(format!("{}.download", manifest.id().to_hex()))
    }

    /// Checks the manifest: signed by the pinned key, unaltered, not
    /// expired, not older than one already seen. Records its serial.
    fn verify(&self, a: &Assignment) -> Result<Manifest, String> {
        let Some(pinned) = &self.pinned else {
            return Err("このエージェントには配布用の公開鍵が登録されていません。再登録してください (no package key pinned at enrolment)".into());
        };
        let serials_path = self.dir.join("serials.json");
        let mut seen = SeenSerials::load(&serials_path).unwrap_or_default();
        let manifest = lanward_package::verify(a.signed_manifest.as_bytes(), pinned, std::time::SystemTime::now(), seen.last_seen(&a.package)).map_err(|r| r.to_string())?;
        if manifest.package != a.package {
            return Err(format!("マニフェストのパッケージ名 {} が指示 {} と違います (package name mismatch)", manifest.package, a.package));
        }
        if seen.record(&manifest.package, manifest.serial) {
            if let Err(e) = seen.save(&serials_path) {
                tracing::warn!(error = %e, "cannot save seen serials");
            }
        }
        Ok(manifest)
    }

    /// Fetches every chunk not yet verified, saving progress after each.
    fn download(&self, job: &mut Job, a: &Assignment, manifest: &Manifest) -> Result<(), Pause> {
        let state_path = self.state_path(manifest);
        let mut state = DownloadState::resume(&state_path, manifest, &self.chunks).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "download state unreadable; checking stored chunks again");
            let mut s = DownloadState::new(manifest);
            s.adopt_stored(&manifest.content, &self.chunks);
            s
        });
        let total = manifest.content.total_size.max(1);
        let mut fetched_bytes = 0u64;
        let mut last_report = std::time::Instant::now();
        let mut last_percent = 101u8;
        // A cache that fails once is skipped for the rest of this download.
        let mut sources: Vec<&str> = a.chunk_sources.iter().map(String::as_str).collect();
        for info in state.missing_chunks(&manifest.content) {
            if self.stopped() {
                return Err(Pause::Stopped);
            }
            if a.until_ms.is_some_and(|u| crate::now_ms() >= u) {
                self.report(job, TargetStep::Progress { percent: percent(&state, manifest, total) }, std::mem::take(&mut fetched_bytes));
                return Err(Pause::Window);
            }
            // The site cache first (LAN, or this PC's own); the server if it is down or wrong.
            // True once the chunk is stored and verified, from wherever.
            let mut have = false;
            let own = self.own_cache.lock().ok().and_then(|c| c.clone());
            if let Some(c) = own {
                match c.chunk(&info.id).and_then(|b| self.chunks.put_verified(&info.id, &b).map_err(|e| e.to_string())) {
                    Ok(()) => have = true,
                    Err(e) => tracing::warn!(error = %e, "own site cache failed; fetching directly"),
                }
            }
            while let Some(src) = sources.first().copied() {
                match cache::fetch_from(&self.lan, src, &info.id).and_then(|b| self.chunks.put_verified(&info.id, &b).map_err(|e| e.to_string())) {
                    Ok(()) => {
                        have = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(cache = src, error = %e, "site cache failed; fetching from the server");
                        sources.remove(0);
                    }
                }
            }
            let mut attempt = 0;
            // From the server, unless a cache gave it; a corrupt copy is
            // fetched again (three tries).
            while !have {
                attempt += 1;
                let result = self.client.get_bytes(&format!("/api/v1/agent/chunks/{}", info.id.to_hex()));
                let bytes = match result {
                    Ok(b) => b,
                    Err(ClientError::Rejected { status: 403, message }) => {
                        // Not released to us any more (paused, cancelled): stop quietly.
                        tracing::info!(%message, "chunk refused by the server");
                        return Err(Pause::Window);
                    }
                    Err(e) => {
                        if fetched_bytes > 0 {
                            job.unsent.push(TargetReport { deployment_id: job.deployment_id, step: TargetStep::Progress { percent: percent(&state, manifest, total) }, server_bytes: std::mem::take(&mut fetched_bytes), at_ms: crate::now_ms() });
                            self.save(job);
                        }
                        return Err(Pause::Network(e.to_string()));
                    }
                };
                fetched_bytes += bytes.len() as u64;
                match self.chunks.put_verified(&info.id, &bytes) {
                    Ok(()) => have = true,
                    Err(e) if attempt < 3 => {
                        tracing::warn!(chunk = %info.id, error = %e, "chunk corrupted in transit; fetching it again");
                    }
                    Err(e) => {
                        self.finish(job, TargetStep::Failed { code: codes::DOWNLOAD_FAILED, reason: format!("チャンクが 3 回とも壊れていました: {e}"), log_tail: String::new() });
                        return Err(Pause::Finished);
                    }
                }
            }
            state.mark_verified(info.id);
            if let Err(e) = state.save(&state_path) {
                tracing::warn!(error = %e, "cannot save download state");
            }
            let p = percent(&state, manifest, total);
            if p != last_percent && (last_report.elapsed() > Duration::from_secs(5) || p / 10 != last_percent / 10) {
                self.report(job, TargetStep::Progress { percent: p }, std::mem::take(&mut fetched_bytes));
                last_report = std::time::Instant::now();
                last_percent = p;
            }
        }
        if fetched_bytes > 0 {
            self.report(job, TargetStep::Progress { percent: 100 }, fetched_bytes);
        }
        Ok(())
    }
}

fn percent(state: &DownloadState, manifest: &Manifest, total: u64) -> u8 {
    let missing = state.missing_bytes(&manifest.content);
    (((total - missing.min(total)) * 100) / total) as u8
}

/// The worker's thread: a round, then wait what the server said.
pub fn run(worker: DeployWorker) {
    while !worker.stopped() {
        let wait = worker.round();
        let end = std::time::Instant::now() + wait;
        while !worker.stopped() && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(200).min(end.saturating_duration_since(std::time::Instant::now())));
        }
    }
}
