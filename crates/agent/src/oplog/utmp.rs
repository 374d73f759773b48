//! Logons, logoffs, boots and shutdowns from the login records.
//!
//! `/var/log/wtmp` is a file of fixed-size `struct utmp` records (glibc,
//! x86_64 and other 64-bit Linux: 384 bytes) that login, sshd, systemd and
//! the display managers append to. The source reads it from where it left
//! off (kept in `DATA/events/wtmp.pos`, with the file's inode so that a
//! rotated file is read from its start), maps each record to an event and
//! remembers which terminal line has whom logged on, because the logoff
//! record (`DEAD_PROCESS`) carries no user name. On its very first start it
//! begins at the end of wtmp (history is not operation log) and records the
//! sessions open now, from `/var/run/utmp`, with their logon times.
//!
//! The parser is pure and never panics on any input (see the tests and
//! `fuzz/fuzz_targets/login_records.rs`).

use super::{c_field, EventSink, EventSource};
use crate::events::{Detail, EventKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// `sizeof(struct utmp)` on 64-bit glibc Linux.
pub const RECORD_SIZE: usize = 384;

pub const EMPTY: i16 = 0;
pub const RUN_LVL: i16 = 1;
pub const BOOT_TIME: i16 = 2;
pub const NEW_TIME: i16 = 3;
pub const OLD_TIME: i16 = 4;
pub const INIT_PROCESS: i16 = 5;
pub const LOGIN_PROCESS: i16 = 6;
pub const USER_PROCESS: i16 = 7;
pub const DEAD_PROCESS: i16 = 8;
pub const ACCOUNTING: i16 = 9;

// Field offsets in the record.
const OFF_PID: usize = 4;
const OFF_LINE: usize = 8;
const OFF_ID: usize = 40;
const OFF_USER: usize = 44;
const OFF_HOST: usize = 76;
const OFF_EXIT: usize = 332;
const OFF_SESSION: usize = 336;
const OFF_TV: usize = 340;
const OFF_ADDR: usize = 348;

/// Most bytes read from wtmp in one poll (about 10,000 records); the rest
/// waits for the next poll.
const MAX_READ: u64 = (RECORD_SIZE * 10_000) as u64;
/// Terminal lines remembered with their user; more means a broken file.
const MAX_OPEN_LINES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtmpRecord {
    pub ut_type: i16,
    pub pid: i32,
    pub line: String,
    pub id: String,
    pub user: String,
    pub host: String,
    pub exit_termination: i16,
    pub exit_status: i16,
    pub session: i32,
    /// Seconds and microseconds; the fields are 32-bit, read as unsigned
    /// (valid until 2106).
    pub tv_sec: u32,
    pub tv_usec: u32,
    pub addr: Option<IpAddr>,
}

impl UtmpRecord {
    pub fn at_ms(&self) -> i64 {
        i64::from(self.tv_sec) * 1000 + i64::from(self.tv_usec.min(999_999)) / 1000
    }
}

fn i16_at(b: &[u8], off: usize) -> i16 {
    i16::from_ne_bytes([b[off], b[off + 1]])
}

fn i32_at(b: &[u8], off: usize) -> i32 {
    i32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// One record; `None` when `b` is shorter than a record.
pub fn parse_record(b: &[u8]) -> Option<UtmpRecord> {
    let b = b.get(..RECORD_SIZE)?;
    let addr: [u8; 16] = b[OFF_ADDR..OFF_ADDR + 16].try_into().ok()?;
    let addr = if addr == [0; 16] {
        None
    } else if addr[4..] == [0; 12] {
        // IPv4 in the first word, in network byte order.
        Some(IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])))
    } else {
        Some(IpAddr::V6(Ipv6Addr::from(addr)))
    };
    Some(UtmpRecord {
        ut_type: i16_at(b, 0),
        pid: i32_at(b, OFF_PID),
        line: c_field(&b[OFF_LINE..OFF_ID]),
        id: c_field(&b[OFF_ID..OFF_USER]),
        user: c_field(&b[OFF_USER..OFF_HOST]),
        host: c_field(&b[OFF_HOST..OFF_EXIT]),
        exit_termination: i16_at(b, OFF_EXIT),
        exit_status: i16_at(b, OFF_EXIT + 2),
        session: i32_at(b, OFF_SESSION),
        tv_sec: i32_at(b, OFF_TV) as u32,
        tv_usec: i32_at(b, OFF_TV + 4) as u32,
        addr,
    })
}

/// Every whole record in `bytes`, and how many bytes they took (a partly
/// written last record is left for later).
pub fn parse_records(bytes: &[u8]) -> (Vec<UtmpRecord>, usize) {
    let records: Vec<UtmpRecord> = bytes.chunks_exact(RECORD_SIZE).filter_map(parse_record).collect();
    let used = bytes.len() / RECORD_SIZE * RECORD_SIZE;
    (records, used)
}

/// What the reader remembers between records (and restarts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// Terminal line → user logged on there.
    #[serde(default)]
    pub open: BTreeMap<String, String>,
    /// When the last shutdown was recorded: sysvinit writes both a
    /// runlevel-0 and a `shutdown` record for one shutdown.
    #[serde(default)]
    pub last_shutdown_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEvent {
    pub at_ms: i64,
    pub kind: EventKind,
    pub user: Option<String>,
    pub detail: Option<Detail>,
}

/// A remote host, or none for a local terminal (`:0` and the like are the
/// local display).
fn remote_host(r: &UtmpRecord) -> Option<String> {
    let host = r.host.trim();
    if host.is_empty() || host.starts_with(':') {
        None
    } else {
        Some(host.to_string())
    }
}

fn session_detail(r: &UtmpRecord, user_known: bool) -> Detail {
    let host = remote_host(r);
    let mut reason = format!("line {}", if r.line.is_empty() { "?" } else { &r.line });
    if let Some(h) = &host {
        reason.push_str(&format!(" from {h}"));
    }
    if let Some(a) = r.addr.filter(|a| host.as_deref() != Some(&a.to_string())) {
        reason.push_str(&format!(" ({a})"));
    }
    if !user_known {
        reason.push_str(" (user unknown)");
    }
    Detail {
        via: Some(if host.is_some() { "remote" } else { "console" }.to_string()),
        pid: u32::try_from(r.pid).ok().filter(|p| *p > 0),
        reason: Some(reason),
        ..Default::default()
    }
}

/// The event one record means, if any.
pub fn to_event(r: &UtmpRecord, state: &mut LoginState) -> Option<LoginEvent> {
    let at_ms = r.at_ms();
    match r.ut_type {
        USER_PROCESS if !r.user.is_empty() => {
            if state.open.len() >= MAX_OPEN_LINES {
                state.open.clear();
            }
            state.open.insert(r.line.clone(), r.user.clone());
            Some(LoginEvent { at_ms, kind: EventKind::Logon, user: Some(r.user.clone()), detail: Some(session_detail(r, true)) })
        }
        DEAD_PROCESS => {
            // Logout records usually name no user: the line says who it was.
            // A dead getty on a line nobody logged on to is not a logoff.
            let user = match state.open.remove(&r.line) {
                Some(u) => u,
                None if !r.user.is_empty() => r.user.clone(),
                None => return None,
            };
            Some(LoginEvent { at_ms, kind: EventKind::Logoff, user: Some(user), detail: Some(session_detail(r, true)) })
        }
        BOOT_TIME => {
            // Sessions open before a boot ended with the crash or power cut.
            state.open.clear();
            Some(LoginEvent { at_ms, kind: EventKind::PowerOn, user: None, detail: Some(Detail::reason(&format!("kernel {}", r.host))) })
        }
        RUN_LVL => {
            // systemd and sysvinit: user "shutdown"; a runlevel change to 0
            // (halt) or 6 (reboot) is the low byte of the pid.
            let level = (r.pid & 0xff) as u8;
            let reboot = level == b'6';
            let is_shutdown = r.user == "shutdown" || (r.user == "runlevel" && (level == b'0' || reboot));
            if !is_shutdown {
                return None;
            }
            if state.last_shutdown_ms.is_some_and(|last| (at_ms - last).abs() < 5 * 60_000) {
                return None;
            }
            state.last_shutdown_ms = Some(at_ms);
            state.open.clear();
            let reason = if reboot { "reboot" } else { "shutdown" };
            Some(LoginEvent { at_ms, kind: EventKind::Shutdown, user: None, detail: Some(Detail::reason(reason)) })
        }
        _ => None,
    }
}

/// Where the reader is (`DATA/events/wtmp.pos`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    offset: u64,
    inode: u64,
    #[serde(flatten)]
    state: LoginState,
}

/// Tails wtmp.
pub struct WtmpSource {
    pub wtmp: PathBuf,
    pub utmp: PathBuf,
    pub position_file: PathBuf,
    pub interval: Duration,
    pos: Option<Position>,
}

impl WtmpSource {
    pub fn new(wtmp: PathBuf, utmp: PathBuf, position_file: PathBuf) -> Self {
        let pos = std::fs::read(&position_file).ok().and_then(|b| serde_json::from_slice(&b).ok());
        WtmpSource { wtmp, utmp, position_file, interval: Duration::from_secs(5), pos }
    }

    /// The system's files; the position in `DATA/events/wtmp.pos`.
    pub fn system(data_dir: &Path) -> Self {
        Self::new("/var/log/wtmp".into(), "/var/run/utmp".into(), data_dir.join("events").join("wtmp.pos"))
    }

    /// Reads what was appended since the last poll and records it; returns
    /// how many events were recorded.
    pub fn poll(&mut self, sink: &EventSink) -> std::io::Result<usize> {
        let mut file = std::fs::File::open(&self.wtmp)?;
        let meta = file.metadata()?;
        let inode = file_id(&meta);
        let len = meta.len();
        let mut recorded = 0;
        let mut pos = match self.pos.take() {
            Some(p) => p,
            None => {
                // First start: from the end, with the sessions open now.
                let mut pos = Position { offset: len - len % RECORD_SIZE as u64, inode, state: LoginState::default() };
                if let Ok(bytes) = std::fs::read(&self.utmp) {
                    for r in parse_records(&bytes).0.iter().filter(|r| r.ut_type == USER_PROCESS) {
                        if let Some(e) = to_event(r, &mut pos.state) {
                            sink.record(Some(e.at_ms), e.kind, None, e.user.as_deref(), e.detail);
                            recorded += 1;
                        }
                    }
                }
                self.save(&pos);
                pos
            }
        };
        if inode != pos.inode || len < pos.offset {
            // Rotated (or truncated): the new file from its start.
            tracing::info!(file = %self.wtmp.display(), "wtmp was rotated; reading the new file from its start");
            pos.offset = 0;
            pos.inode = inode;
        }
        if len > pos.offset {
            file.seek(SeekFrom::Start(pos.offset))?;
            let mut bytes = Vec::new();
            file.take((len - pos.offset).min(MAX_READ)).read_to_end(&mut bytes)?;
            let (records, used) = parse_records(&bytes);
            for r in &records {
                if let Some(e) = to_event(r, &mut pos.state) {
                    sink.record(Some(e.at_ms), e.kind, None, e.user.as_deref(), e.detail);
                    recorded += 1;
                }
            }
            if used > 0 {
                pos.offset += used as u64;
                self.save(&pos);
            }
        }
        self.pos = Some(pos);
        Ok(recorded)
    }

    fn save(&self, pos: &Position) {
        let written = serde_json::to_vec(pos).map_err(std::io::Error::other).and_then(|b| {
            if let Some(dir) = self.position_file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::spool::write_atomic(&self.position_file, &b)
        });
        if let Err(e) = written {
            tracing::warn!(error = %e, file = %self.position_file.display(), "cannot save the wtmp position");
        }
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> u64 {
    0
}

impl EventSource for WtmpSource {
    fn name(&self) -> &'static str {
        "wtmp"
    }

    fn start(mut self: Box<Self>, sink: EventSink, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
        self.poll(&sink).map_err(|e| format!("{}: {e}", self.wtmp.display()))?;
        let interval = self.interval;
        let mut failing = false;
        super::spawn_poller("wtmp", interval, stop, move || match self.poll(&sink) {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, file = %self.wtmp.display(), "cannot read wtmp");
            }
            Err(_) => {}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{self, Journal};

    /// 2025-04-01T00:00:00Z
    const T0: u32 = 1_743_465_600;

    pub fn record(ut_type: i16, pid: i32, line: &str, user: &str, host: &str, tv_sec: u32, addr: [u8; 16]) -> Vec<u8> {
        let mut b = vec![0u8; RECORD_SIZE];
        b[0..2].copy_from_slice(&ut_type.to_ne_bytes());
        b[OFF_PID..OFF_PID + 4].copy_from_slice(&pid.to_ne_bytes());
        b[OFF_LINE..OFF_LINE + line.len()].copy_from_slice(line.as_bytes());
        b[OFF_ID..OFF_ID + 2].copy_from_slice(b"ts");
        b[OFF_USER..OFF_USER + user.len()].copy_from_slice(user.as_bytes());
        b[OFF_HOST..OFF_HOST + host.len()].copy_from_slice(host.as_bytes());
        b[OFF_SESSION..OFF_SESSION + 4].copy_from_slice(&77i32.to_ne_bytes());
        b[OFF_TV..OFF_TV + 4].copy_from_slice(&tv_sec.to_ne_bytes());
        b[OFF_TV + 4..OFF_TV + 8].copy_from_slice(&250_000u32.to_ne_bytes());
        b[OFF_ADDR..OFF_ADDR + 16].copy_from_slice(&addr);
        b
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    #[test]
    fn the_layout_matches_glibc_on_this_machine() {
        #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
        {
            assert_eq!(std::mem::size_of::<libc::utmpx>(), RECORD_SIZE);
            let u: libc::utmpx = unsafe { std::mem::zeroed() };
            let base = &u as *const _ as usize;
            assert_eq!(&u.ut_pid as *const _ as usize - base, OFF_PID);
            assert_eq!(&u.ut_line as *const _ as usize - base, OFF_LINE);
            assert_eq!(&u.ut_id as *const _ as usize - base, OFF_ID);
            assert_eq!(&u.ut_user as *const _ as usize - base, OFF_USER);
            assert_eq!(&u.ut_host as *const _ as usize - base, OFF_HOST);
            assert_eq!(&u.ut_exit as *const _ as usize - base, OFF_EXIT);
            assert_eq!(&u.ut_session as *const _ as usize - base, OFF_SESSION);
            assert_eq!(&u.ut_tv as *const _ as usize - base, OFF_TV);
            assert_eq!(&u.ut_addr_v6 as *const _ as usize - base, OFF_ADDR);
        }
    }

    #[test]
    fn parses_a_crafted_record() {
        let b = record(USER_PROCESS, 4242, "pts/3", "tanaka", "10.1.2.3", T0, v4([10, 1, 2, 3]));
        let r = parse_record(&b).unwrap();
        assert_eq!(r.ut_type, USER_PROCESS);
        assert_eq!(r.pid, 4242);
        assert_eq!((r.line.as_str(), r.id.as_str(), r.user.as_str(), r.host.as_str()), ("pts/3", "ts", "tanaka", "10.1.2.3"));
        assert_eq!(r.session, 77);
        assert_eq!(r.at_ms(), i64::from(T0) * 1000 + 250);
        assert_eq!(r.addr, Some("10.1.2.3".parse().unwrap()));
        let mut v6 = [0u8; 16];
        v6[0] = 0xfe;
        v6[1] = 0x80;
        v6[15] = 1;
        assert_eq!(parse_record(&record(USER_PROCESS, 1, "x", "y", "", T0, v6)).unwrap().addr, Some("fe80::1".parse().unwrap()));
        assert_eq!(parse_record(&b[..RECORD_SIZE - 1]), None);
    }

    #[test]
    fn logon_logoff_boot_and_shutdown() {
        let mut s = LoginState::default();
        let boot = to_event(&parse_record(&record(BOOT_TIME, 0, "~", "reboot", "6.8.0-generic", T0, [0; 16])).unwrap(), &mut s).unwrap();
        assert_eq!((boot.kind, boot.user.as_deref()), (EventKind::PowerOn, None));
        // A getty waiting on tty1 and dying is no logoff.
        assert_eq!(to_event(&parse_record(&record(LOGIN_PROCESS, 900, "tty1", "LOGIN", "", T0 + 5, [0; 16])).unwrap(), &mut s), None);
        assert_eq!(to_event(&parse_record(&record(DEAD_PROCESS, 900, "tty1", "", "", T0 + 6, [0; 16])).unwrap(), &mut s), None);

        let on = to_event(&parse_record(&record(USER_PROCESS, 4242, "pts/3", "tanaka", "10.1.2.3", T0 + 10, v4([10, 1, 2, 3]))).unwrap(), &mut s).unwrap();
        assert_eq!(on.kind, EventKind::Logon);
        assert_eq!(on.user.as_deref(), Some("tanaka"));
        assert_eq!(on.at_ms, i64::from(T0 + 10) * 1000 + 250);
        let d = on.detail.unwrap();
        assert_eq!((d.via.as_deref(), d.pid), (Some("remote"), Some(4242)));
        assert_eq!(d.reason.as_deref(), Some("line pts/3 from 10.1.2.3"));
        let local = to_event(&parse_record(&record(USER_PROCESS, 5000, "tty2", "suzuki", ":0", T0 + 11, [0; 16])).unwrap(), &mut s).unwrap();
        assert_eq!(local.detail.unwrap().via.as_deref(), Some("console"));

        // The logout record names nobody: the line does.
        let off = to_event(&parse_record(&record(DEAD_PROCESS, 4242, "pts/3", "", "", T0 + 60, [0; 16])).unwrap(), &mut s).unwrap();
        assert_eq!((off.kind, off.user.as_deref()), (EventKind::Logoff, Some("tanaka")));
        assert!(!s.open.contains_key("pts/3"));

        let down = to_event(&parse_record(&record(RUN_LVL, 0, "~~", "shutdown", "6.8.0", T0 + 100, [0; 16])).unwrap(), &mut s).unwrap();
        assert_eq!((down.kind, down.detail.unwrap().reason.as_deref()), (EventKind::Shutdown, Some("shutdown")));
        assert!(s.open.is_empty(), "a shutdown ends every session");
        // sysvinit's runlevel-0 record of the same shutdown is not a second one.
        let lvl0 = i32::from(b'0') | (i32::from(b'5') << 8);
        assert_eq!(to_event(&parse_record(&record(RUN_LVL, lvl0, "~~", "runlevel", "", T0 + 101, [0; 16])).unwrap(), &mut s), None);
        // A reboot a day later is.
        let lvl6 = i32::from(b'6') | (i32::from(b'5') << 8);
        let reboot = to_event(&parse_record(&record(RUN_LVL, lvl6, "~~", "runlevel", "", T0 + 86_400, [0; 16])).unwrap(), &mut s).unwrap();
        assert_eq!(reboot.detail.unwrap().reason.as_deref(), Some("reboot"));
        // Runlevel 5 is no shutdown.
        let lvl5 = i32::from(b'5') | (i32::from(b'3') << 8);
        assert_eq!(to_event(&parse_record(&record(RUN_LVL, lvl5, "~~", "runlevel", "", T0 + 90_000, [0; 16])).unwrap(), &mut s), None);
    }

    #[test]
    fn garbage_and_truncated_input_never_panics() {
        let mut s = LoginState::default();
        let mut seed = 0x1234_5678u64;
        for len in [0, 1, 383, 384, 385, 767, 768, 5000] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let (records, used) = parse_records(&bytes);
            assert_eq!(used, len / RECORD_SIZE * RECORD_SIZE);
            assert_eq!(records.len(), len / RECORD_SIZE);
            for r in &records {
                let _ = to_event(r, &mut s);
            }
        }
        // Every type value, extreme times and fields without a NUL.
        for t in [i16::MIN, -1, 0, 1, 2, 7, 8, 9, 10, i16::MAX] {
            let mut b = vec![0xffu8; RECORD_SIZE];
            b[0..2].copy_from_slice(&t.to_ne_bytes());
            let r = parse_record(&b).unwrap();
            assert!(r.at_ms() > 0);
            let _ = to_event(&r, &mut s);
        }
    }

    #[test]
    fn tails_wtmp_from_the_saved_position_and_follows_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let (wtmp, utmp, pos) = (dir.path().join("wtmp"), dir.path().join("utmp"), dir.path().join("events/wtmp.pos"));
        // History before the agent: not operation log.
        std::fs::write(&wtmp, record(USER_PROCESS, 1, "pts/0", "old", "", T0 - 86_400, [0; 16])).unwrap();
        // Open now: recorded once, at its logon time.
        std::fs::write(&utmp, [record(LOGIN_PROCESS, 2, "tty1", "LOGIN", "", T0, [0; 16]), record(USER_PROCESS, 3, "pts/1", "sato", "", T0 + 1, [0; 16])].concat())
            .unwrap();
        let journal = events::shared(Journal::open(&dir.path().join("events"), events::DEFAULT_CAP_BYTES).unwrap());
        let sink = EventSink::new(Arc::clone(&journal));
        let mut src = WtmpSource::new(wtmp.clone(), utmp.clone(), pos.clone());
        assert_eq!(src.poll(&sink).unwrap(), 1);
        assert_eq!(src.poll(&sink).unwrap(), 0);

        // Appended, with half a record still being written.
        let mut more = [record(USER_PROCESS, 10, "pts/2", "tanaka", "10.0.0.9", T0 + 10, [0; 16]), record(DEAD_PROCESS, 3, "pts/1", "", "", T0 + 20, [0; 16])].concat();
        more.extend_from_slice(&record(DEAD_PROCESS, 10, "pts/2", "", "", T0 + 30, [0; 16])[..100]);
        let mut f = std::fs::OpenOptions::new().append(true).open(&wtmp).unwrap();
        std::io::Write::write_all(&mut f, &more).unwrap();
        assert_eq!(src.poll(&sink).unwrap(), 2);
        std::io::Write::write_all(&mut f, &record(DEAD_PROCESS, 10, "pts/2", "", "", T0 + 30, [0; 16])[100..]).unwrap();
        drop(f);

        // A restart continues from the saved position and still knows who
        // is on pts/2.
        drop(src);
        let mut src = WtmpSource::new(wtmp.clone(), utmp.clone(), pos.clone());
        assert_eq!(src.poll(&sink).unwrap(), 1);

        // Rotation: a new, shorter file is read from its start.
        std::fs::remove_file(&wtmp).unwrap();
        std::fs::write(&wtmp, record(BOOT_TIME, 0, "~", "reboot", "6.8", T0 + 1000, [0; 16])).unwrap();
        assert_eq!(src.poll(&sink).unwrap(), 1);

        let got: Vec<(EventKind, Option<String>, i64)> = events::lock(&journal).read_all().unwrap().into_iter().map(|e| (e.kind, e.user, e.at_ms)).collect();
        let ms = |s: u32| i64::from(s) * 1000 + 250;
        assert_eq!(
            got,
            [
                (EventKind::Logon, Some("sato".into()), ms(T0 + 1)),
                (EventKind::Logon, Some("tanaka".into()), ms(T0 + 10)),
                (EventKind::Logoff, Some("sato".into()), ms(T0 + 20)),
                (EventKind::Logoff, Some("tanaka".into()), ms(T0 + 30)),
                (EventKind::PowerOn, None, ms(T0 + 1000)),
            ]
        );
    }

    #[test]
    fn a_missing_wtmp_makes_the_source_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let journal = events::shared(Journal::open(&dir.path().join("events"), events::DEFAULT_CAP_BYTES).unwrap());
        let src = Box::new(WtmpSource::new(dir.path().join("nope"), dir.path().join("nope2"), dir.path().join("pos")));
        let err = src.start(EventSink::new(journal), Arc::new(AtomicBool::new(true))).unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }
}
