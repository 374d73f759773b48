//! A discrete-time simulation of a rollout: the real [`Scheduler`] decides,
//! the real [`BandwidthBuckets`] pace each site's WAN, and downloads move
//! bytes in fluid steps. Used by tests (caps at every step) and by the
//! `rollout` bench (with and without a site cache).
//!
//! Model: the server sits at HQ, so HQ PCs fetch over the LAN and use no
//! WAN; every other site has one WAN link. Without a cache, each PC pulls
//! the whole package over its site's WAN, the active downloads sharing the
//! link. With a cache, the site's cache pulls each byte over the WAN once
//! (on demand, as far as its PCs need) and PCs read from it at LAN speed.
//! Steps are `step` long while anything downloads; idle stretches jump
//! straight to the next wake-up.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::caps::{BandwidthBuckets, Caps};
use crate::plan::{Action, Gate, Plan, Scheduler, Wave};
use crate::state::{transition, Event, TargetState};
use crate::target::AssetId;
use crate::window::Windows;

/// One site of the simulation.
#[derive(Debug, Clone)]
pub struct SimSite {
    pub code: String,
    pub pcs: usize,
    /// The site's WAN link in bytes/s; `None` = the server's own LAN.
    pub wan_bytes_per_sec: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub sites: Vec<SimSite>,
    pub package_bytes: u64,
    pub site_cache: bool,
    /// What one PC can pull from the server's LAN or its site cache.
    pub lan_bytes_per_sec_per_pc: u64,
    pub install: Duration,
    /// Probability that one target's install fails (exit code 1603).
    pub failure_rate: f64,
    pub step: Duration,
    pub start: DateTime<Utc>,
    pub waves: Vec<Wave>,
    pub windows: Windows,
    pub deadline: Option<DateTime<Utc>>,
    pub caps: Caps,
    pub spread: Duration,
    pub seed: u64,
    /// Give up after this much simulated time.
    pub limit: Duration,
}

/// The bureau's 10 sites (BUREAU.md), 680 PCs.
pub fn bureau_sites(wan_bytes_per_sec: u64) -> Vec<SimSite> {
    [
        ("HQ", 330),
        ("KUN", 60),
        ("ORO", 70),
        ("KJO", 35),
        ("NJO", 30),
        ("FJO", 30),
        ("MJO", 45),
        ("LAB", 40),
        ("CCH", 25),
        ("CCN", 15),
    ]
    .into_iter()
    .map(|(code, pcs)| SimSite {
        code: code.to_string(),
        pcs,
        wan_bytes_per_sec: (code != "HQ").then_some(wan_bytes_per_sec),
    })
    .collect()
}

/// Asset IDs by site, numbered 1.. in site order.
pub fn site_assets(sites: &[SimSite]) -> Vec<(AssetId, String)> {
    let mut out = Vec::new();
    for s in sites {
        for _ in 0..s.pcs {
            out.push((out.len() as AssetId + 1, s.code.clone()));
        }
    }
    out
}

impl SimConfig {
    /// 680 PCs, 300 MB, 10 Mbit/s WAN per site, a pilot wave of two PCs per
    /// site then the rest behind a 90 % gate, windows always open.
    pub fn bureau(site_cache: bool, start: DateTime<Utc>) -> Self {
        let wan = 10_000_000 / 8;
        let sites = bureau_sites(wan);
        let assets = site_assets(&sites);
        let mut pilot = Vec::new();
        let mut rest = Vec::new();
        let mut per_site: HashMap<&str, usize> = HashMap::new();
        for (id, site) in &assets {
            let n = per_site.entry(site.as_str()).or_default();
            if *n < 2 {
                pilot.push(*id);
            } else {
                rest.push(*id);
            }
            *n += 1;
        }
        Self {
            sites,
            package_bytes: 300_000_000,
            site_cache,
            lan_bytes_per_sec_per_pc: 100_000_000 / 8,
            install: Duration::minutes(5),
            failure_rate: 0.01,
            step: Duration::seconds(1),
            start,
            waves: vec![
                Wave {
                    name: "pilot".into(),
                    targets: pilot,
                    not_before: None,
                    gate: None,
                },
                Wave {
                    name: "all".into(),
                    targets: rest,
                    not_before: None,
                    gate: Some(Gate {
                        min_success_percent: 90,
                        max_failures: None,
                    }),
                },
            ],
            windows: Windows::always(),
            deadline: None,
            caps: Caps {
                per_site_concurrency: 10,
                site_concurrency: HashMap::new(),
                global_concurrency: 100,
                per_site_bytes_per_sec: Some(wan),
            },
            spread: Duration::minutes(30),
            seed: 6,
            limit: Duration::days(14),
        }
    }
}

/// What one step looked like (given to the observer).
#[derive(Debug, Clone)]
pub struct StepView<'a> {
    pub now: DateTime<Utc>,
    pub step: Duration,
    pub downloading_per_site: &'a BTreeMap<String, usize>,
    pub downloading: usize,
    /// WAN bytes each site pulled during this step.
    pub wan_bytes: &'a BTreeMap<String, u64>,
    pub states: &'a HashMap<AssetId, TargetState>,
}

#[derive(Debug, Clone)]
pub struct SiteReport {
    pub site: String,
    pub pcs: usize,
    pub wan_bytes: u64,
    pub on_lan: bool,
    /// When its last target settled, from the start.
    pub done_after: Option<Duration>,
    pub max_downloading: usize,
}

#[derive(Debug, Clone)]
pub struct SimReport {
    /// When the last target settled, from the start (`None`: not within the limit).
    pub completed_after: Option<Duration>,
    pub sites: Vec<SiteReport>,
    pub installed: usize,
    pub failed: usize,
    pub missed: usize,
    pub max_downloading: usize,
    pub steps: u64,
    /// Every start time the scheduler planned.
    pub planned_starts: Vec<DateTime<Utc>>,
    /// Every time a download actually started.
    pub started_at: Vec<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("シミュレーションで不正な状態遷移: {0} (invalid transition in simulation)")]
    Transition(String),
}

/// Run the simulation; `observe` sees every step (tests check caps there).
pub fn run(config: &SimConfig, mut observe: impl FnMut(&StepView)) -> Result<SimReport, SimError> {
    let assets = site_assets(&config.sites);
    let site_of: HashMap<AssetId, String> = assets.iter().cloned().collect();
    let plan = Plan {
        waves: config.waves.clone(),
        windows: config.windows.clone(),
        deadline: config.deadline,
        caps: config.caps.clone(),
        spread: config.spread,
        seed: config.seed,
    };
    let mut sched = Scheduler::new(plan, site_of.clone());
    // A wave target beyond the configured sites gets no site (and no WAN), rather than a panic.
    let site = |id: &AssetId| site_of.get(id).map_or("", String::as_str);
    let all: Vec<AssetId> = config
        .waves
        .iter()
        .flat_map(|w| w.targets.iter().copied())
        .collect();
    let mut states: HashMap<AssetId, TargetState> =
        all.iter().map(|id| (*id, TargetState::Queued)).collect();
    let mut have: HashMap<AssetId, u64> = HashMap::new();
    let mut install_done: Vec<(DateTime<Utc>, AssetId)> = Vec::new();
    let mut cache_have: HashMap<String, u64> = HashMap::new();
    let mut wan_total: BTreeMap<String, u64> =
        config.sites.iter().map(|s| (s.code.clone(), 0)).collect();
    let mut done_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut max_site: HashMap<String, usize> = HashMap::new();
    let mut max_global = 0;
    let link: HashMap<&str, Option<u64>> = config
        .sites
        .iter()
        .map(|s| (s.code.as_str(), s.wan_bytes_per_sec))
        .collect();
    // The bucket paces each site at the lower of its link and the cap; its
    // burst is one step's worth, so no step can exceed the rate.
    let mut buckets: HashMap<String, BandwidthBuckets> = HashMap::new();
    for s in &config.sites {
        if let Some(l) = s.wan_bytes_per_sec {
            let rate = config.caps.per_site_bytes_per_sec.map_or(l, |c| c.min(l));
            let burst = (rate as f64 * config.step.num_milliseconds() as f64 / 1000.0) as u64;
            buckets.insert(s.code.clone(), BandwidthBuckets::new(rate, burst));
        }
    }
    let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(1));
    let mut now = config.start;
    let end = config.start + config.limit;
    let mut report = SimReport {
        completed_after: None,
        sites: Vec::new(),
        installed: 0,
        failed: 0,
        missed: 0,
        max_downloading: 0,
        steps: 0,
        planned_starts: Vec::new(),
        started_at: Vec::new(),
    };
    let apply = |states: &mut HashMap<AssetId, TargetState>,
                 id: AssetId,
                 e: Event|
     -> Result<(), SimError> {
        let from = states.get(&id).cloned().unwrap_or(TargetState::Queued);
        let to = transition(&from, &e).map_err(|e| SimError::Transition(e.to_string()))?;
        states.insert(id, to);
        Ok(())
    };
    let mut last_settle = config.start;
    while now <= end {
        report.steps += 1;
        let mut wait_until = None;
        for a in sched.next_actions(now, &states) {
            match a {
                Action::StartDownload { asset_id, .. } => {
                    apply(&mut states, asset_id, Event::StartDownload)?;
                    report.started_at.push(now);
                }
                Action::WaitForWindow { asset_id } => {
                    apply(&mut states, asset_id, Event::WindowClosed)?
                }
                Action::Missed { asset_id } => {
                    apply(&mut states, asset_id, Event::DeadlinePassed)?;
                    last_settle = now;
                }
                Action::WaveOpened { wave } => {
                    for id in &config.waves[wave].targets {
                        if let Some(t) = sched.planned_start(*id) {
                            report.planned_starts.push(t);
                        }
                    }
                }
                Action::WaitUntil { at } => wait_until = Some(at),
            }
        }
        let downloading: Vec<AssetId> = {
            let mut v: Vec<AssetId> = states
                .iter()
                .filter(|(_, s)| matches!(s, TargetState::Downloading { .. }))
                .map(|(id, _)| *id)
                .collect();
            v.sort();
            v
        };
        let mut per_site: BTreeMap<String, usize> = BTreeMap::new();
        for id in &downloading {
            *per_site.entry(site(id).to_string()).or_default() += 1;
        }
        for (s, n) in &per_site {
            let m = max_site.entry(s.clone()).or_default();
            *m = (*m).max(*n);
        }
        max_global = max_global.max(downloading.len());
        if states.values().all(TargetState::is_settled) {
            let mut empty = BTreeMap::new();
            observe(&StepView {
                now,
                step: Duration::zero(),
                downloading_per_site: &per_site,
                downloading: 0,
                wan_bytes: &empty,
                states: &states,
            });
            empty.clear();
            break;
        }
        if downloading.is_empty() {
            // Idle: jump to the next moment something can happen.
            let next_install = install_done.iter().map(|(t, _)| *t).min();
            let next = [wait_until, next_install].into_iter().flatten().min();
            let Some(next) = next else { break }; // stuck (e.g. a gate that never opens)
            let step = next - now;
            let wan = BTreeMap::new();
            observe(&StepView {
                now,
                step,
                downloading_per_site: &per_site,
                downloading: 0,
                wan_bytes: &wan,
                states: &states,
            });
            now = next;
        } else {
            let dt = config.step;
            let secs = dt.num_milliseconds() as f64 / 1000.0;
            let lan_step = (config.lan_bytes_per_sec_per_pc as f64 * secs) as u64;
            let mut step_wan: BTreeMap<String, u64> = BTreeMap::new();
            let mut by_site: BTreeMap<&str, Vec<AssetId>> = BTreeMap::new();
            for id in &downloading {
                by_site.entry(site(id)).or_default().push(*id);
            }
            for (site, ids) in by_site {
                let need = |id: &AssetId| config.package_bytes - have.get(id).copied().unwrap_or(0);
                let grants: Vec<u64> = match (link.get(site).copied().flatten(), config.site_cache)
                {
                    (None, _) => ids.iter().map(|id| need(id).min(lan_step)).collect(),
                    (Some(_), false) => {
                        let wants: Vec<u64> = ids.iter().map(|id| need(id).min(lan_step)).collect();
                        let total: u64 = wants.iter().sum();
                        let got = buckets
                            .get_mut(site)
                            .map_or(0, |b| b.take_up_to(site, total, now + dt));
                        *step_wan.entry(site.to_string()).or_default() += got;
                        fair_share(&wants, got)
                    }
                    (Some(_), true) => {
                        let c = cache_have.entry(site.to_string()).or_default();
                        // The cache fetches ahead only as far as the furthest PC needs.
                        let furthest = ids
                            .iter()
                            .map(|id| have.get(id).copied().unwrap_or(0) + lan_step)
                            .max()
                            .unwrap_or(0);
                        let target = furthest.min(config.package_bytes);
                        if target > *c {
                            let got = buckets
                                .get_mut(site)
                                .map_or(0, |b| b.take_up_to(site, target - *c, now + dt));
                            *c += got;
                            *step_wan.entry(site.to_string()).or_default() += got;
                        }
                        let c = *c;
                        ids.iter()
                            .map(|id| {
                                (c.saturating_sub(have.get(id).copied().unwrap_or(0))).min(lan_step)
                            })
                            .collect()
                    }
                };
                for (id, g) in ids.iter().zip(grants) {
                    *have.entry(*id).or_default() += g;
                }
            }
            for (s, b) in &step_wan {
                *wan_total.entry(s.clone()).or_default() += b;
            }
            observe(&StepView {
                now,
                step: dt,
                downloading_per_site: &per_site,
                downloading: downloading.len(),
                wan_bytes: &step_wan,
                states: &states,
            });
            now += dt;
            for id in &downloading {
                let h = have.get(id).copied().unwrap_or(0);
                let pct = (h.saturating_mul(100) / config.package_bytes.max(1)).min(100) as u8;
                if let Some(TargetState::Downloading { percent }) = states.get(id) {
                    if pct > *percent {
                        apply(&mut states, *id, Event::Progress { percent: pct })?;
                    }
                }
                if h >= config.package_bytes {
                    apply(&mut states, *id, Event::DownloadComplete)?;
                    apply(&mut states, *id, Event::StartInstall)?;
                    install_done.push((now + config.install, *id));
                }
            }
        }
        // Installs that finished by now.
        install_done.sort();
        while install_done.first().is_some_and(|(t, _)| *t <= now) {
            let (t, id) = install_done.remove(0);
            let e = if rng.gen_bool(config.failure_rate.clamp(0.0, 1.0)) {
                Event::Fail {
                    code: 1603,
                    log_tail: "MSI (s) (1C:2C) Product: ... Installation failed.".into(),
                }
            } else {
                Event::InstallSucceeded {
                    reboot_required: false,
                }
            };
            apply(&mut states, id, e)?;
            done_at.insert(site(&id).to_string(), t);
            last_settle = last_settle.max(t);
        }
    }
    if states.values().all(TargetState::is_settled) {
        report.completed_after = Some(last_settle - config.start);
    }
    for s in states.values() {
        match s {
            x if x.is_success() => report.installed += 1,
            TargetState::Failed { .. } => report.failed += 1,
            TargetState::Missed => report.missed += 1,
            _ => {}
        }
    }
    report.max_downloading = max_global;
    report.sites = config
        .sites
        .iter()
        .map(|s| SiteReport {
            site: s.code.clone(),
            pcs: s.pcs,
            wan_bytes: wan_total.get(&s.code).copied().unwrap_or(0),
            on_lan: s.wan_bytes_per_sec.is_none(),
            done_after: done_at.get(&s.code).map(|t| *t - config.start),
            max_downloading: max_site.get(&s.code).copied().unwrap_or(0),
        })
        .collect();
    Ok(report)
}

/// Share `total` among `wants` as evenly as possible, nobody above its want.
fn fair_share(wants: &[u64], total: u64) -> Vec<u64> {
    let mut out = vec![0u64; wants.len()];
    let mut left = total;
    let mut open: Vec<usize> = (0..wants.len()).filter(|i| wants[*i] > 0).collect();
    while left > 0 && !open.is_empty() {
        let share = (left / open.len() as u64).max(1);
        let mut next = Vec::new();
        for i in open {
            if left == 0 {
                break;
            }
            let g = share.min(wants[i] - out[i]).min(left);
            out[i] += g;
            left -= g;
            if out[i] < wants[i] {
                next.push(i);
            }
        }
        open = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    #[test]
    fn fair_share_caps_at_wants() {
        assert_eq!(fair_share(&[10, 100, 100], 150), vec![10, 70, 70]);
        assert_eq!(fair_share(&[5, 5], 100), vec![5, 5]);
        assert_eq!(fair_share(&[3, 3, 3], 4).iter().sum::<u64>(), 4);
    }
}
