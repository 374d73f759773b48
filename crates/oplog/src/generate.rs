//! A deterministic generator of realistic operation-log streams (issue 5,
//! item 6): the bureau's PCs (`SUIDO-PC-0001`…) over a range of days, with
//! the working-hour rhythm (8:30–17:15 JST on weekdays, a lunch dip, a few
//! PCs working late), about 2,800 events per PC per working day, the kind mix
//! of a real office (mostly window changes and process start/stop) and
//! Japanese window titles, paths and documents drawn from repeating
//! vocabularies with a long tail of unique titles.
//!
//! The stream is merged across PCs in time order and is the same for the
//! same seed; each PC's sequence numbers continue across days.

use crate::{Detail, EventKind, IncomingEvent, StoredEvent};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const DAY_MS: i64 = 86_400_000;
const JST_MS: i64 = 9 * 3_600_000;

/// splitmix64: small, fast, deterministic.
#[derive(Clone)]
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng { Rng(seed ^ 0x9E37_79B9_7F4A_7C15) }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 { self.next() % n.max(1) }
    pub fn f(&mut self) -> f64 { (self.next() >> 11) as f64 / (1u64 << 53) as f64 }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T { &v[self.below(v.len() as u64) as usize] }
    /// Zipf-ish: low indexes far more often (real logs repeat a few titles).
    pub fn skewed<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        let x = self.f();
        &v[((x * x * x) * v.len() as f64) as usize % v.len()]
    }
}

pub const SITES: &[(&str, usize)] =
    &[("HQ", 330), ("KUN", 60), ("ORO", 70), ("KJO", 35), ("NJO", 30), ("FJO", 30), ("MJO", 45), ("LAB", 40), ("CCH", 25), ("CCN", 15)];
pub const DEPARTMENTS: &[&str] = &[
    "総務課", "経理課", "職員課", "経営企画課", "お客さまセンター", "料金課", "給水装置課", "計画課", "配水課", "浄水課", "水質検査課", "施設課", "危機管理室",
];
const SURNAMES: &[&str] = &[
    "sato", "suzuki", "takahashi", "tanaka", "watanabe", "ito", "yamamoto", "nakamura", "kobayashi", "kato", "yoshida", "yamada", "sasaki", "yamaguchi",
    "matsumoto", "inoue", "kimura", "hayashi", "saito", "shimizu", "yamazaki", "mori", "abe", "ikeda", "hashimoto", "ishikawa", "ogawa", "goto", "okada",
    "hasegawa", "murakami", "kondo", "ishii", "endo", "aoki", "sakamoto", "fujita", "nishimura", "fukuda", "ota", "miura", "takeuchi", "nakagawa", "okubo",
];
const GIVEN: &[&str] = &["hiroshi", "takashi", "yuki", "akiko", "kenji", "naoko", "makoto", "emi", "daisuke", "tomoko", "shota", "mayumi", "ryo", "kaori", "satoshi", "junko"];

const DOCS: &[&str] = &[
    "令和7年度 予算要求資料.xlsx", "配水管更新計画（案）.docx", "個人情報 取扱台帳.xlsx", "水質検査結果_月報.xlsx", "漏水調査報告書.docx", "給水装置工事申請一覧.xlsx",
    "料金収納状況.xlsx", "職員名簿.xlsx", "会議録_経営企画会議.docx", "浄水場運転日報.xlsx", "管路台帳.xlsx", "施設点検表.xlsx", "危機管理マニュアル.docx",
    "議会答弁資料.docx", "契約締結伺.docx", "出張命令簿.xlsx", "時間外勤務命令簿.xlsx", "配水池水位記録.xlsx", "お客さま問い合わせ記録.xlsx", "工事設計書.docx",
    "令和7年度 事業計画.docx", "決算見込み.xlsx", "メーター交換予定表.xlsx", "滞納整理一覧.xlsx", "水道料金改定（案）.docx", "災害時応援協定.docx",
    "残留塩素測定記録.xlsx", "薬品在庫管理表.xlsx", "修繕依頼書.docx", "物品購入伺.xlsx",
];
const SUBJECTS: &[&str] = &[
    "【至急】水質検査結果のご報告", "配水管工事の日程調整について", "予算ヒアリング資料のご確認", "【周知】情報セキュリティ研修のお知らせ", "漏水修繕の件",
    "議会資料の修正依頼", "【重要】システム停止のお知らせ", "会議室予約の件", "出張報告", "お客さまからの問い合わせについて", "人事異動に伴う引継ぎ",
    "Re: 見積書送付の件", "浄水場見学の受入れについて", "Fw: 契約書案", "週報",
];
const PAGES: &[&str] = &[
    "水道局ポータル", "庶務事務システム", "文書管理システム", "財務会計システム", "グループウェア - スケジュール", "Google 検索", "Yahoo! JAPAN",
    "気象庁 | 雨雲の動き", "管路マッピングシステム", "料金システム - 検索", "e-Gov 法令検索", "国土交通省 水管理・国土保全", "Microsoft 365", "YouTube",
];
const COMPANIES: &[&str] = &["東北管工", "仙台設備工業", "みちのく水道サービス", "青葉測量設計", "杜の都ポンプ", "広瀬川化学"];

struct App {
    image: &'static str,
    path: &'static str,
    suffix: &'static str,
}
const APPS: &[App] = &[
    App { image: "EXCEL.EXE", path: "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", suffix: " - Excel" },
    App { image: "WINWORD.EXE", path: "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", suffix: " - Word" },
    App { image: "OUTLOOK.EXE", path: "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", suffix: " - メッセージ (HTML)" },
    App { image: "msedge.exe", path: "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", suffix: " - 個人 - Microsoft Edge" },
    App { image: "explorer.exe", path: "C:\\Windows\\explorer.exe", suffix: "" },
    App { image: "Acrobat.exe", path: "C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe", suffix: " - Adobe Acrobat Reader (64-bit)" },
    App { image: "Jw_win.exe", path: "C:\\JWW\\Jw_win.exe", suffix: " - jw_win" },
    App { image: "Teams.exe", path: "C:\\Users\\Public\\Teams\\ms-teams.exe", suffix: " | Microsoft Teams" },
];
const BACKGROUND: &[(&str, &str)] = &[
    ("C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\System32\\services.exe"),
    ("C:\\Windows\\System32\\conhost.exe", "C:\\Windows\\System32\\svchost.exe"),
    ("C:\\Windows\\System32\\RuntimeBroker.exe", "C:\\Windows\\System32\\svchost.exe"),
    ("C:\\Windows\\System32\\SearchProtocolHost.exe", "C:\\Windows\\System32\\SearchIndexer.exe"),
    ("C:\\Program Files (x86)\\Trend Micro\\Security Agent\\TmListen.exe", "C:\\Windows\\System32\\services.exe"),
    ("C:\\Windows\\System32\\taskhostw.exe", "C:\\Windows\\System32\\svchost.exe"),
    ("C:\\Program Files\\CubePDF\\CubePdf.exe", "C:\\Windows\\System32\\spoolsv.exe"),
    ("C:\\Program Files\\Lhaplus\\Lhaplus.exe", "C:\\Windows\\explorer.exe"),
];
const USB: &[(&str, &str)] = &[
    ("BUFFALO", "USB Flash Disk RUF3-K"),
    ("I-O DATA", "EU3-ST"),
    ("SanDisk", "Cruzer Blade"),
    ("ELECOM", "MF-MSU3B"),
    ("TOSHIBA", "TransMemory"),
];

fn sha_of(s: &str) -> String {
    let mut r = Rng::new(s.bytes().fold(1469598103934665603u64, |h, b| (h ^ b as u64).wrapping_mul(1099511628211)));
    (0..4).map(|_| format!("{:016x}", r.next())).collect()
}

/// The PC's site, department and regular user.
pub fn pc_profile(i: usize) -> (&'static str, &'static str, String) {
    let mut k = i % 680;
    let mut site = SITES[0].0;
    for (s, n) in SITES {
        if k < *n {
            site = s;
            break;
        }
        k -= n;
    }
    let dept = DEPARTMENTS[(i * 7) % DEPARTMENTS.len()];
    let user = format!("SUIDO\\{}.{}", SURNAMES[(i * 31 + 5) % SURNAMES.len()], GIVEN[(i * 13 + i / 44) % GIVEN.len()]);
    (site, dept, user)
}

pub fn hostname(i: usize) -> String { format!("SUIDO-PC-{:04}", i + 1) }

struct PcDay {
    pc: usize,
    host: String,
    user: String,
    short: String,
    site: &'static str,
    dept: &'static str,
    rng: Rng,
    t: i64,
    end: i64,
    lunch: (i64, i64),
    step: u32,
    fg_since: i64,
    running: Vec<(u32, usize)>,
    usb_at: Option<i64>,
    usb_left: u32,
    usb_serial: String,
    locked: bool,
    done: bool,
    phase: u8,
}

/// The generator; an iterator of `(agent_id, event)` in time order.
pub struct Generator {
    seed: u64,
    pcs: usize,
    day: i64,
    last_day: i64,
    seqs: Vec<u64>,
    heap: BinaryHeap<Reverse<(i64, usize)>>,
    states: Vec<Option<PcDay>>,
    per_pc_day: f64,
}

/// Events of `pcs` PCs for the days `[first_day, first_day + days)` (day numbers since 1970-01-01, UTC).
pub fn generate(seed: u64, pcs: usize, first_day: i64, days: u32) -> Generator {
    Generator::new(seed, pcs, first_day, days, 2800.0)
}

impl Generator {
    pub fn new(seed: u64, pcs: usize, first_day: i64, days: u32, per_pc_day: f64) -> Generator {
        let mut g = Generator {
            seed,
            pcs,
            day: first_day - 1,
            last_day: first_day + days as i64 - 1,
            seqs: vec![0; pcs],
            heap: BinaryHeap::new(),
            states: Vec::new(),
            per_pc_day,
        };
        g.next_day();
        g
    }

    fn next_day(&mut self) -> bool {
        loop {
            self.day += 1;
            if self.day > self.last_day {
                return false;
            }
            // 1970-01-01 was a Thursday; skip Saturdays and Sundays (JST working days).
            let dow = (self.day + 4).rem_euclid(7);
            if dow == 0 || dow == 6 {
                continue;
            }
            break;
        }
        self.states.clear();
        self.heap.clear();
        // Day `d` in JST starts at d*DAY - 9h UTC.
        let base = self.day * DAY_MS - JST_MS;
        for pc in 0..self.pcs {
            let mut rng = Rng::new(self.seed ^ (pc as u64).wrapping_mul(0x1000_0001) ^ (self.day as u64).wrapping_mul(0x9_0000_0007));
            if rng.f() < 0.04 {
                self.states.push(None); // on leave or switched off
                continue;
            }
            let (site, dept, mut user) = pc_profile(pc);
            if rng.f() < 0.05 {
                user = format!("SUIDO\\{}.{}", rng.pick(SURNAMES), rng.pick(GIVEN)); // a colleague's sign-in
            }
            let start = base + 8 * 3_600_000 + rng.below(50 * 60_000) as i64; // 8:00–8:50
            let late = rng.f() < 0.08;
            let end = base + 17 * 3_600_000 + 15 * 60_000 + rng.below(if late { 3 * 3_600_000 } else { 30 * 60_000 }) as i64;
            let lunch_start = base + 12 * 3_600_000 + rng.below(10 * 60_000) as i64;
            let usb_at = if rng.f() < 0.08 { Some(start + rng.below((end - start) as u64) as i64) } else { None };
            let short = user.split('\\').nth(1).unwrap_or("user").to_string();
            let st = PcDay {
                pc,
                host: hostname(pc),
                user,
                short,
                site,
                dept,
                t: start,
                end,
                lunch: (lunch_start, lunch_start + 50 * 60_000),
                step: 0,
                fg_since: start,
                running: Vec::new(),
                usb_at,
                usb_left: 0,
                usb_serial: format!("{:016X}", rng.next() >> 4),
                locked: false,
                done: false,
                phase: 0,
                rng,
            };
            self.heap.push(Reverse((start, pc)));
            self.states.push(Some(st));
        }
        true
    }
}

impl Iterator for Generator {
    type Item = (String, IncomingEvent);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(Reverse((_, pc))) = self.heap.pop() else {
                if !self.next_day() {
                    return None;
                }
                continue;
            };
            let gap_mean = (31_500_000.0 / self.per_pc_day) as i64;
            let st = self.states[pc].as_mut().unwrap();
            let time_ms = st.t;
            let (kind, detail, user) = st.event();
            if !st.done {
                let mut gap = 1 + (st.rng.f() * 2.0 * gap_mean as f64) as i64;
                if st.t >= st.lunch.0 && st.t < st.lunch.1 {
                    gap *= 4;
                }
                st.t += gap;
                self.heap.push(Reverse((st.t, pc)));
            }
            self.seqs[pc] += 1;
            let ev = StoredEvent { time_ms, pc: st.host.clone(), user, kind, detail };
            return Some((format!("agent-{:04}", pc + 1), IncomingEvent { seq: self.seqs[pc], event: ev }));
        }
    }
}


impl PcDay {
    fn title(&mut self, app: usize) -> String {
        let r = &mut self.rng;
        let tail = r.f() < 0.05; // the long tail of titles seen once
        let base = match app {
            0 | 1 => {
                let d = r.skewed(DOCS).to_string();
                if tail {
                    format!("{}_{}{}", d.rsplit_once('.').map(|x| x.0).unwrap_or(&d), r.below(100_000), if app == 0 { ".xlsx" } else { ".docx" })
                } else if app == 1 {
                    d.replace(".xlsx", ".docx")
                } else {
                    d.replace(".docx", ".xlsx")
                }
            }
            2 => {
                let s = r.skewed(SUBJECTS);
                if tail {
                    format!("Re: {}（受付番号 {}）", s, r.below(1_000_000))
                } else {
                    s.to_string()
                }
            }
            3 => {
                if tail {
                    format!("{} {} の検索結果 - Google 検索", r.pick(COMPANIES), r.below(10_000))
                } else {
                    r.skewed(PAGES).to_string()
                }
            }
            4 => match r.below(5) {
                0 => "ダウンロード".to_string(),
                1 => "ドキュメント".to_string(),
                2 => format!("{}（\\\\SUIDO-FS01）", self.dept),
                3 => "PC".to_string(),
                _ => format!("{} 共有フォルダー", self.dept),
            },
            5 => {
                if tail {
                    format!("見積書_{}_{}.pdf", r.pick(COMPANIES), r.below(100_000))
                } else {
                    r.skewed(DOCS).rsplit_once('.').map(|x| x.0).unwrap_or("").to_string() + ".pdf"
                }
            }
            6 => format!("配水管平面図_{:03}.jww", r.below(if tail { 1000 } else { 20 })),
            _ => "チャット | 水道局".to_string(),
        };
        if app == 2 && !tail && r.f() < 0.3 {
            return format!("受信トレイ - {}@suido.city.lg.jp - Outlook", self.short);
        }
        format!("{}{}", base, APPS[app].suffix)
    }

    fn event(&mut self) -> (EventKind, Detail, Option<String>) {
        let user = Some(self.user.clone());
        let machine = |k: EventKind, d: Detail| (k, d, None);
        match self.phase {
            0 => {
                self.phase = 1;
                return machine(EventKind::PowerOn, Detail::default());
            }
            1 => {
                self.phase = 2;
                return machine(EventKind::ServiceStart, Detail::default());
            }
            2 => {
                self.phase = 3;
                return (EventKind::Logon, Detail::via("console"), user);
            }
            4 => {
                self.phase = 5;
                return (EventKind::Logoff, Detail::via("console"), user);
            }
            5 => {
                self.done = true;
                return machine(EventKind::Shutdown, Detail::default());
            }
            _ => {}
        }
        if self.t >= self.end {
            self.phase = 4;
            self.locked = true; // locked once more before the logoff, as people do
            return (EventKind::Lock, Detail::default(), user);
        }
        let t = self.t;
        let in_lunch = t >= self.lunch.0 && t < self.lunch.1;
        if in_lunch != self.locked {
            self.locked = in_lunch;
            return (if in_lunch { EventKind::Lock } else { EventKind::Unlock }, Detail::default(), user);
        }
        if let Some(at) = self.usb_at {
            if t >= at {
                self.usb_at = None;
                self.usb_left = 3 + self.rng.below(15) as u32;
                let (v, p) = *self.rng.pick(USB);
                return (
                    EventKind::DeviceConnect,
                    Detail {
                        device_class: Some("usb_storage".into()),
                        vendor: Some(v.into()),
                        product: Some(p.into()),
                        serial: Some(self.usb_serial.clone()),
                        path: Some(format!("USBSTOR\\DISK&VEN_{}&PROD_{}\\{}&0", v.replace(' ', "_"), p.replace(' ', "_"), self.usb_serial)),
                        ..Default::default()
                    },
                    user,
                );
            }
        }
        if self.usb_left > 0 && self.rng.f() < 0.1 {
            self.usb_left -= 1;
            if self.usb_left == 0 {
                return (
                    EventKind::DeviceDisconnect,
                    Detail { device_class: Some("usb_storage".into()), serial: Some(self.usb_serial.clone()), ..Default::default() },
                    user,
                );
            }
            let doc = self.rng.skewed(DOCS).to_string();
            let sub = self.rng.pick(&["", "作業用\\", "提出\\"]).to_string();
            return (
                EventKind::FileCopy,
                Detail {
                    path: Some(format!("C:\\Users\\{}\\Documents\\{}", self.short, doc)),
                    target_path: Some(format!("E:\\{}{}", sub, doc)),
                    size_bytes: Some(20_000 + self.rng.below(3_000_000)),
                    ..Default::default()
                },
                user,
            );
        }
        self.step += 1;
        let r = self.rng.f();
        if r < 0.60 {
            let app = *self.rng.skewed(&[0usize, 2, 3, 1, 4, 5, 7, 6]);
            let dwell = (t - self.fg_since).max(0) as u64;
            self.fg_since = t;
            let title = self.title(app);
            return (
                EventKind::ForegroundWindow,
                Detail { title: Some(title), process: Some(APPS[app].image.into()), dwell_ms: Some(dwell), started_at_ms: Some(t - dwell as i64), ..Default::default() },
                user,
            );
        }
        if r < 0.79 || (r < 0.985 && self.running.is_empty()) {
            let pid = 1000 + self.rng.below(30_000) as u32;
            let (image, parent, cmd) = if self.rng.f() < 0.55 {
                let (i, p) = *self.rng.pick(BACKGROUND);
                (i.to_string(), p.to_string(), format!("{} -k netsvcs -p", i))
            } else if self.rng.f() < 0.004 {
                let p = format!("C:\\Users\\{}\\Downloads\\{}", self.short, self.rng.pick(&["setup.exe", "FreeGame_Installer.exe", "jre-8u401-windows-i586.exe", "DropboxInstaller.exe"]));
                (p.clone(), "C:\\Windows\\explorer.exe".to_string(), format!("\"{}\"", p))
            } else {
                let a = self.rng.below(APPS.len() as u64) as usize;
                let doc = self.rng.skewed(DOCS);
                (APPS[a].path.to_string(), "C:\\Windows\\explorer.exe".to_string(), format!("\"{}\" \"\\\\SUIDO-FS01\\{}\\{}\"", APPS[a].path, self.dept, doc))
            };
            let slot = self.running.len();
            self.running.push((pid, slot));
            let sha = sha_of(&image);
            return (
                EventKind::ProcessStart,
                Detail { process: Some(image), sha256: Some(sha), command_line: Some(cmd), pid: Some(pid), parent: Some(parent), ..Default::default() },
                user,
            );
        }
        if r < 0.985 {
            let i = self.rng.below(self.running.len() as u64) as usize;
            let (pid, _) = self.running.swap_remove(i);
            let image = if pid % 2 == 0 { BACKGROUND[pid as usize % BACKGROUND.len()].0 } else { APPS[pid as usize % APPS.len()].path };
            return (EventKind::ProcessStop, Detail { process: Some(image.into()), pid: Some(pid), ..Default::default() }, user);
        }
        if r < 0.9935 {
            let doc = self.rng.skewed(DOCS).to_string();
            return (
                EventKind::PrintJob,
                Detail {
                    printer: Some(format!("{}-{}-複合機{:02}", self.site, self.dept, 1 + self.pc % 3)),
                    document: Some(doc),
                    pages: Some(1 + self.rng.below(30) as u32),
                    ..Default::default()
                },
                user,
            );
        }
        if r < 0.9995 {
            let lock = !self.locked;
            self.locked = lock;
            return (if lock { EventKind::Lock } else { EventKind::Unlock }, Detail::default(), user);
        }
        let what = *self.rng.pick(&["ローカル管理者グループにユーザーを追加", "ソフトウェアを手動でインストール", "グループポリシーを更新", "イベントログを消去"]);
        (EventKind::AdminAction, Detail::reason(what), Some(format!("SUIDO\\admin.{}", self.site.to_lowercase())))
    }
}

