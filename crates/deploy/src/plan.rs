//! Waves, their gates, and the scheduler that decides what starts now.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::caps::Caps;
use crate::spread::spread_starts;
use crate::state::TargetState;
use crate::target::{AssetId, Candidate};
use crate::window::Windows;

/// "Go on when at least `min_success_percent` % of the previous wave
/// succeeded, and (optionally) it has no more than `max_failures` failures."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub min_success_percent: u8,
    #[serde(default)]
    pub max_failures: Option<u32>,
}

/// One wave: its targets, the earliest time it may start, and its gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    pub name: String,
    pub targets: Vec<AssetId>,
    /// Not before this time, even when the gate is open.
    #[serde(default)]
    pub not_before: Option<DateTime<Utc>>,
    /// Ignored on the first wave. `None` on a later wave: it opens as soon
    /// as the previous wave has opened (no check of its results).
    #[serde(default)]
    pub gate: Option<Gate>,
}

/// Counts of a wave's targets by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveCounts {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub missed: usize,
    /// Cancelled or not applicable: not counted for or against the gate.
    pub excluded: usize,
    /// Downloading, downloaded or installing.
    pub active: usize,
    /// Queued or waiting for a window.
    pub not_started: usize,
}

/// Where a wave stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaveState {
    /// Its gate or its start time has not come.
    Pending,
    /// Opened, nothing started yet.
    Open,
    /// Some targets started, not all settled.
    Running,
    /// Every target settled (installed, failed, missed, cancelled, not applicable).
    Done,
}

impl WaveState {
    pub fn label_ja(self) -> &'static str {
        match self {
            WaveState::Pending => "開始待ち",
            WaveState::Open => "開始済み",
            WaveState::Running => "実行中",
            WaveState::Done => "完了",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            WaveState::Pending => "Pending",
            WaveState::Open => "Open",
            WaveState::Running => "Running",
            WaveState::Done => "Done",
        }
    }
}

fn state_of(states: &HashMap<AssetId, TargetState>, id: AssetId) -> &TargetState {
    // A target the caller has no state for has not been touched yet.
    static QUEUED: TargetState = TargetState::Queued;
    states.get(&id).unwrap_or(&QUEUED)
}

impl Wave {
    pub fn counts(&self, states: &HashMap<AssetId, TargetState>) -> WaveCounts {
        let mut c = WaveCounts {
            total: self.targets.len(),
            ..Default::default()
        };
        for id in &self.targets {
            match state_of(states, *id) {
                s if s.is_success() => c.succeeded += 1,
                TargetState::Failed { .. } => c.failed += 1,
                TargetState::Missed => c.missed += 1,
                TargetState::Cancelled | TargetState::NotApplicable => c.excluded += 1,
                TargetState::Queued | TargetState::WaitingForWindow => c.not_started += 1,
                _ => c.active += 1,
            }
        }
        c
    }

    /// The wave's state; `opened` says whether its gate has opened.
    pub fn state(&self, opened: bool, states: &HashMap<AssetId, TargetState>) -> WaveState {
        if !opened {
            return WaveState::Pending;
        }
        let c = self.counts(states);
        if c.not_started + c.active == 0 {
            WaveState::Done
        } else if c.not_started == c.total {
            WaveState::Open
        } else {
            WaveState::Running
        }
    }
}

impl Gate {
    /// Whether the next wave may go on, judging the previous wave's counts.
    /// Cancelled and not-applicable targets are left out of the percentage;
    /// a previous wave with nothing left to judge does not hold the next back.
    pub fn is_open(&self, prev: &WaveCounts) -> bool {
        if let Some(max) = self.max_failures {
            if prev.failed + prev.missed > max as usize {
                return false;
            }
        }
        let judged = prev.total - prev.excluded;
        if judged == 0 {
            return true;
        }
        // Integer arithmetic: 9/10 ≥ 90 % exactly, no float rounding.
        prev.succeeded * 100 >= usize::from(self.min_success_percent) * judged
    }
}

/// Wave 1 = the pilot hostnames, then one wave per department (sorted by
/// name), each later wave behind `gate`. Pilot hostnames not among
/// `targets` are ignored (resolution has already reported them).
pub fn waves_by_department(
    pilot_hostnames: &[String],
    targets: &[Candidate],
    gate: Gate,
) -> Vec<Wave> {
    let is_pilot = |c: &Candidate| {
        pilot_hostnames
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&c.hostname))
    };
    let pilot: Vec<AssetId> = targets
        .iter()
        .filter(|c| is_pilot(c))
        .map(|c| c.asset_id)
        .collect();
    let mut by_dept: BTreeMap<&str, Vec<AssetId>> = BTreeMap::new();
    for c in targets.iter().filter(|c| !is_pilot(c)) {
        by_dept
            .entry(c.department.as_str())
            .or_default()
            .push(c.asset_id);
    }
    let mut waves = Vec::new();
    if !pilot.is_empty() {
        waves.push(Wave {
            name: "パイロット (pilot)".into(),
            targets: pilot,
            not_before: None,
            gate: None,
        });
    }
    for (dept, ids) in by_dept {
        waves.push(Wave {
            name: dept.to_string(),
            targets: ids,
            not_before: None,
            gate: Some(gate),
        });
    }
    waves
}

/// Whether the deployment may start anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Active,
    Paused,
    Cancelled,
}

/// Everything the scheduler needs, fixed when the deployment is created.
#[derive(Debug, Clone)]
pub struct Plan {
    pub waves: Vec<Wave>,
    pub windows: Windows,
    /// After it, targets that have not started are reported missed.
    pub deadline: Option<DateTime<Utc>>,
    pub caps: Caps,
    /// How much open window time a wave's start times are spread over.
    pub spread: Duration,
    /// Seed of the spread: the server stores it so that a restarted
    /// scheduler draws the same start times.
    pub seed: u64,
}

/// What the caller should do now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Wave `wave` (index) opened at this call; record it.
    WaveOpened { wave: usize },
    /// Tell the target to start downloading (state → downloading).
    StartDownload { asset_id: AssetId, wave: usize },
    /// The target is due but no window is open (state queued → waiting_for_window,
    /// so the console shows 時間帯待ち); it starts when a window opens.
    WaitForWindow { asset_id: AssetId },
    /// The deadline passed before this target started (state → missed).
    Missed { asset_id: AssetId },
    /// Nothing more can start before this time unless a state changes.
    WaitUntil { at: DateTime<Utc> },
}

/// What the server persists between calls (with the plan and the states).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerMemory {
    /// When each wave opened (index = wave).
    pub opened_at: Vec<Option<DateTime<Utc>>>,
}

/// Decides, from the time and the targets' states, what starts now.
#[derive(Debug, Clone)]
pub struct Scheduler {
    plan: Plan,
    status: DeploymentStatus,
    site_of: HashMap<AssetId, String>,
    memory: SchedulerMemory,
    /// Planned start per target of an opened wave (derived from seed and
    /// opened_at, so not persisted).
    start_at: HashMap<AssetId, DateTime<Utc>>,
}

impl Scheduler {
    /// `sites` gives each target's site (for the per-site caps).
    pub fn new(plan: Plan, sites: HashMap<AssetId, String>) -> Self {
        Self::restore(plan, sites, SchedulerMemory::default())
    }

    /// Rebuild after a server restart from what was persisted.
    pub fn restore(plan: Plan, sites: HashMap<AssetId, String>, memory: SchedulerMemory) -> Self {
        let mut s = Self {
            plan,
            status: DeploymentStatus::Active,
            site_of: sites,
            memory,
            start_at: HashMap::new(),
        };
        s.memory.opened_at.resize(s.plan.waves.len(), None);
        for w in 0..s.plan.waves.len() {
            if let Some(at) = s.memory.opened_at[w] {
                s.plan_wave(w, at);
            }
        }
        s
    }

    pub fn memory(&self) -> &SchedulerMemory {
        &self.memory
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn set_status(&mut self, status: DeploymentStatus) {
        self.status = status;
    }

    pub fn status(&self) -> DeploymentStatus {
        self.status
    }

    /// The planned start of a target whose wave has opened.
    pub fn planned_start(&self, id: AssetId) -> Option<DateTime<Utc>> {
        self.start_at.get(&id).copied()
    }

    pub fn wave_state(
        &self,
        wave: usize,
        states: &HashMap<AssetId, TargetState>,
    ) -> Option<WaveState> {
        let w = self.plan.waves.get(wave)?;
        Some(w.state(
            self.memory.opened_at.get(wave).copied().flatten().is_some(),
            states,
        ))
    }

    fn plan_wave(&mut self, w: usize, from: DateTime<Utc>) {
        // One RNG stream per wave: the same seed gives the same times after a restart.
        let mut rng =
            StdRng::seed_from_u64(self.plan.seed ^ (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let wave = &self.plan.waves[w];
        let times = spread_starts(
            &self.plan.windows,
            from,
            self.plan.spread,
            self.plan.deadline,
            wave.targets.len(),
            &mut rng,
        );
        // No times: no window before the deadline; those targets will be missed.
        for (id, t) in wave.targets.iter().zip(times) {
            self.start_at.insert(*id, t);
        }
    }

    /// What to do at `now`. Never starts more than the caps allow, counting
    /// the targets already downloading in `states` (targets without a state
    /// are queued). The caller applies the actions before the next call.
    pub fn next_actions(
        &mut self,
        now: DateTime<Utc>,
        states: &HashMap<AssetId, TargetState>,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.status != DeploymentStatus::Active {
            return actions;
        }
        let mut wake: Option<DateTime<Utc>> = None;
        let wake_at = |t: DateTime<Utc>, wake: &mut Option<DateTime<Utc>>| {
            if t > now && wake.is_none_or(|w| t < w) {
                *wake = Some(t);
            }
        };
        let past_deadline = self.plan.deadline.is_some_and(|d| now >= d);

        // 1. Open waves, in order; a wave opens once and stays open.
        if !past_deadline {
            for w in 0..self.plan.waves.len() {
                if self.memory.opened_at[w].is_some() {
                    continue;
                }
                let wave = &self.plan.waves[w];
                if w > 0 {
                    if self.memory.opened_at[w - 1].is_none() {
                        break;
                    }
                    if let Some(g) = wave.gate {
                        if !g.is_open(&self.plan.waves[w - 1].counts(states)) {
                            break;
                        }
                    }
                }
                if let Some(nb) = wave.not_before {
                    if now < nb {
                        wake_at(nb, &mut wake);
                        break;
                    }
                }
                self.memory.opened_at[w] = Some(now);
                self.plan_wave(w, now);
                actions.push(Action::WaveOpened { wave: w });
            }
        }

        // 2. After the deadline nothing starts: what has not started is missed.
        if past_deadline {
            for wave in &self.plan.waves {
                for id in &wave.targets {
                    if state_of(states, *id).is_startable() {
                        actions.push(Action::Missed { asset_id: *id });
                    }
                }
            }
            return actions;
        }

        // 3. Start what is due, within the caps.
        let mut per_site: HashMap<&str, usize> = HashMap::new();
        let mut global = 0usize;
        for (id, s) in states {
            if matches!(s, TargetState::Downloading { .. }) {
                global += 1;
                if let Some(site) = self.site_of.get(id) {
                    *per_site.entry(site.as_str()).or_default() += 1;
                }
            }
        }
        let open_now = self.plan.windows.is_open(now);
        let mut due: Vec<(DateTime<Utc>, AssetId, usize)> = Vec::new();
        for (w, wave) in self.plan.waves.iter().enumerate() {
            if self.memory.opened_at[w].is_none() {
                continue;
            }
            for id in &wave.targets {
                if !state_of(states, *id).is_startable() {
                    continue;
                }
                match self.start_at.get(id) {
                    Some(t) if *t <= now => due.push((*t, *id, w)),
                    Some(t) => wake_at(*t, &mut wake),
                    None => {} // no window before the deadline: missed at the deadline
                }
            }
        }
        due.sort();
        let blocked_by_window = !open_now && !due.is_empty();
        for (_, id, w) in due {
            if !open_now {
                if matches!(state_of(states, id), TargetState::Queued) {
                    actions.push(Action::WaitForWindow { asset_id: id });
                }
                continue;
            }
            if global >= self.plan.caps.global_concurrency {
                break;
            }
            // A target with no known site counts against a site of its own name ("").
            let site = self.site_of.get(&id).map(String::as_str).unwrap_or("");
            let n = per_site.entry(site).or_default();
            if *n >= self.plan.caps.site_cap(site) {
                continue;
            }
            *n += 1;
            global += 1;
            actions.push(Action::StartDownload {
                asset_id: id,
                wave: w,
            });
        }
        if blocked_by_window {
            if let Some((s, _)) = self.plan.windows.next_open(now) {
                wake_at(s, &mut wake);
            }
        }
        if let Some(d) = self.plan.deadline {
            // Something is still to start: the deadline is a moment when things change.
            if self
                .plan
                .waves
                .iter()
                .flat_map(|w| &w.targets)
                .any(|id| state_of(states, *id).is_startable())
            {
                wake_at(d, &mut wake);
            }
        }
        if let Some(at) = wake {
            actions.push(Action::WaitUntil { at });
        }
        actions
    }
}

/// A plan as the server stores it (JSON): windows as the person wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSpec {
    pub waves: Vec<Wave>,
    #[serde(default)]
    pub windows: Vec<crate::window::WindowSpec>,
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    pub caps: Caps,
    /// Minutes of open window time each wave's starts are spread over.
    pub spread_minutes: u32,
    pub seed: u64,
}

impl PlanSpec {
    /// Check the windows (syntax, and that each opens within a year of `now`) and build the plan.
    pub fn build(&self, now: DateTime<Utc>) -> Result<Plan, crate::window::WindowError> {
        Ok(Plan {
            waves: self.waves.clone(),
            windows: Windows::from_specs(&self.windows, now)?,
            deadline: self.deadline,
            caps: self.caps.clone(),
            spread: Duration::minutes(i64::from(self.spread_minutes)),
            seed: self.seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_spec_round_trips_and_checks_windows() {
        let json = r#"{
            "waves": [{"name": "pilot", "targets": [1, 2]},
                      {"name": "総務課", "targets": [3], "gate": {"min_success_percent": 90, "max_failures": 1}}],
            "windows": [{"cron": "30 17 * * 1-5", "minutes": 270}, "mon-fri 12:00-13:00"],
            "caps": {"per_site_concurrency": 10, "global_concurrency": 100, "per_site_bytes_per_sec": 1250000},
            "spread_minutes": 60, "seed": 1
        }"#;
        let spec: PlanSpec = serde_json::from_str(json).expect("parses");
        assert_eq!(
            spec.waves[1].gate,
            Some(Gate {
                min_success_percent: 90,
                max_failures: Some(1)
            })
        );
        let now = DateTime::from_timestamp(1_795_000_000, 0).expect("valid");
        let plan = spec.build(now).expect("windows fine");
        assert!(!plan.windows.is_always_open());
        let back: PlanSpec =
            serde_json::from_str(&serde_json::to_string(&spec).expect("ser")).expect("de");
        assert_eq!(back, spec);
        let mut bad = spec.clone();
        bad.windows
            .push(crate::window::WindowSpec::Simple("mon-fri 12:00".into()));
        assert!(bad.build(now).is_err());
    }

    #[test]
    fn gate_percent_is_exact() {
        let c = |s, f| WaveCounts {
            total: s + f,
            succeeded: s,
            failed: f,
            ..Default::default()
        };
        let g = Gate {
            min_success_percent: 90,
            max_failures: None,
        };
        assert!(g.is_open(&c(9, 1)));
        assert!(!g.is_open(&c(8, 1))); // 88.9 %
        assert!(g.is_open(&c(18, 2)));
        assert!(!g.is_open(&c(17, 2))); // 89.5 %
    }
}
