//! Operation logs (操作ログ, PRODUCT.md §1 §4(4)): what a PC's users and
//! system did, as events. The agent records them in its journal, sends them
//! in numbered batches, and the server keeps them for the contract's three
//! years. One flat event shape for every kind: fields that a kind does not
//! use are absent, which keeps JSON small and maps straight onto columns.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Logon,
    Logoff,
    Lock,
    Unlock,
    SessionConnect,
    SessionDisconnect,
    /// The machine started (boot) / is shutting down.
    PowerOn,
    Shutdown,
    Suspend,
    Resume,
    ServiceStart,
    ServiceStop,
    ProcessStart,
    ProcessStop,
    ForegroundWindow,
    DeviceConnect,
    DeviceDisconnect,
    FileCreate,
    FileWrite,
    FileDelete,
    FileRename,
    FileCopy,
    PrintJob,
    /// An administrative action on the PC (user or group changed, software
    /// installed by hand, policy changed, log cleared...).
    AdminAction,
}

impl EventKind {
    pub const ALL: &'static [EventKind] = &[
        EventKind::Logon,
        EventKind::Logoff,
        EventKind::Lock,
        EventKind::Unlock,
        EventKind::SessionConnect,
        EventKind::SessionDisconnect,
        EventKind::PowerOn,
        EventKind::Shutdown,
        EventKind::Suspend,
        EventKind::Resume,
        EventKind::ServiceStart,
        EventKind::ServiceStop,
        EventKind::ProcessStart,
        EventKind::ProcessStop,
        EventKind::ForegroundWindow,
        EventKind::DeviceConnect,
        EventKind::DeviceDisconnect,
        EventKind::FileCreate,
        EventKind::FileWrite,
        EventKind::FileDelete,
        EventKind::FileRename,
        EventKind::FileCopy,
        EventKind::PrintJob,
        EventKind::AdminAction,
    ];

    /// The snake_case name used on the wire and in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Logon => "logon",
            EventKind::Logoff => "logoff",
            EventKind::Lock => "lock",
            EventKind::Unlock => "unlock",
            EventKind::SessionConnect => "session_connect",
            EventKind::SessionDisconnect => "session_disconnect",
            EventKind::PowerOn => "power_on",
            EventKind::Shutdown => "shutdown",
            EventKind::Suspend => "suspend",
            EventKind::Resume => "resume",
            EventKind::ServiceStart => "service_start",
            EventKind::ServiceStop => "service_stop",
            EventKind::ProcessStart => "process_start",
            EventKind::ProcessStop => "process_stop",
            EventKind::ForegroundWindow => "foreground_window",
            EventKind::DeviceConnect => "device_connect",
            EventKind::DeviceDisconnect => "device_disconnect",
            EventKind::FileCreate => "file_create",
            EventKind::FileWrite => "file_write",
            EventKind::FileDelete => "file_delete",
            EventKind::FileRename => "file_rename",
            EventKind::FileCopy => "file_copy",
            EventKind::PrintJob => "print_job",
            EventKind::AdminAction => "admin_action",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// A small stable number for compact storage (never reuse one).
    pub fn code(self) -> u8 {
        EventKind::ALL.iter().position(|k| *k == self).map(|i| i as u8).unwrap_or(u8::MAX)
    }

    pub fn from_code(code: u8) -> Option<EventKind> {
        EventKind::ALL.get(code as usize).copied()
    }

    /// Japanese name for people.
    pub fn label_ja(self) -> &'static str {
        match self {
            EventKind::Logon => "ログオン",
            EventKind::Logoff => "ログオフ",
            EventKind::Lock => "ロック",
            EventKind::Unlock => "ロック解除",
            EventKind::SessionConnect => "セッション接続",
            EventKind::SessionDisconnect => "セッション切断",
            EventKind::PowerOn => "起動",
            EventKind::Shutdown => "シャットダウン",
            EventKind::Suspend => "スリープ",
            EventKind::Resume => "復帰",
            EventKind::ServiceStart => "エージェント開始",
            EventKind::ServiceStop => "エージェント停止",
            EventKind::ProcessStart => "プロセス開始",
            EventKind::ProcessStop => "プロセス終了",
            EventKind::ForegroundWindow => "ウィンドウ操作",
            EventKind::DeviceConnect => "デバイス接続",
            EventKind::DeviceDisconnect => "デバイス切断",
            EventKind::FileCreate => "ファイル作成",
            EventKind::FileWrite => "ファイル書き込み",
            EventKind::FileDelete => "ファイル削除",
            EventKind::FileRename => "ファイル名変更",
            EventKind::FileCopy => "ファイルコピー",
            EventKind::PrintJob => "印刷",
            EventKind::AdminAction => "管理操作",
        }
    }
}

/// What else is known about an event; absent fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    /// Window title (foreground_window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Image file name or full image path of the process, e.g. `EXCEL.EXE`
    /// or `C:\Users\tanaka\Downloads\setup.exe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// SHA-256 (hex) of the process image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Parent process image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// How long the window stayed in front.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_ms: Option<u64>,
    /// When the window came to the front (`at_ms` is when it left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<i64>,
    /// File path (file_*), or the device's instance path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// New name or copy destination (file_rename, file_copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Device class (`usb_storage`, `usb`, `bluetooth`...), vendor, product, serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// print_job: printer, document name, pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    /// `console` or `remote` for session connect/disconnect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Free text, e.g. why the service stopped or what the admin action was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Longest text kept in any field (characters); longer is cut with "…".
pub const MAX_TEXT_CHARS: usize = 512;

/// Cuts text at `MAX_TEXT_CHARS` characters (never inside a character).
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl Detail {
    pub fn via(via: &str) -> Self {
        Detail { via: Some(via.to_string()), ..Default::default() }
    }

    pub fn reason(reason: &str) -> Self {
        Detail { reason: Some(reason.to_string()), ..Default::default() }
    }

    /// Every text field, for clipping and indexing.
    pub fn texts_mut(&mut self) -> [&mut Option<String>; 15] {
        [
            &mut self.title,
            &mut self.process,
            &mut self.sha256,
            &mut self.command_line,
            &mut self.parent,
            &mut self.path,
            &mut self.target_path,
            &mut self.device_class,
            &mut self.vendor,
            &mut self.product,
            &mut self.serial,
            &mut self.printer,
            &mut self.document,
            &mut self.via,
            &mut self.reason,
        ]
    }

    /// The same detail with every text cut to [`MAX_TEXT_CHARS`].
    pub fn clipped(mut self) -> Self {
        for field in self.texts_mut() {
            if let Some(s) = field.take() {
                *field = Some(clip(&s));
            }
        }
        self
    }
}

/// One event as the agent sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The agent's own sequence number: grows by one per event, across
    /// restarts; the server stores each (agent, seq) once.
    pub seq: u64,
    pub at_ms: i64,
    pub kind: EventKind,
    /// Windows session id; `null` for machine-wide events.
    pub session_id: Option<u32>,
    /// `DOMAIN\user` when known.
    pub user: Option<String>,
    pub detail: Option<Detail>,
}

/// Most events in one batch (a busy PC makes ~2,800 a day).
pub const MAX_EVENTS_PER_BATCH: usize = 5000;
/// Header marking an LZ4 (size-prepended) compressed request body; the
/// signature covers the bytes as sent.
pub const CONTENT_ENCODING_LZ4: &str = "x-lz4";
/// Events dated this far from the server's clock are refused (a PC whose
/// clock is years off must not scatter events over old partitions).
pub const MAX_EVENT_CLOCK_SKEW_MS: i64 = 7 * 86_400_000;

/// `POST /api/v1/agent/events`: events in sequence order, from the oldest
/// not yet acknowledged. Sent again unchanged when the answer was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<Event>,
    /// Events the agent's journal had to drop (cap reached) since it last
    /// reported; the server records the gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<DroppedEvents>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DroppedEvents {
    pub count: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub last_dropped_at_ms: i64,
}

/// The answer: everything up to `acked_through` is stored (the agent may
/// forget it); `duplicates` were already stored before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAck {
    pub acked_through: u64,
    pub stored: u64,
    pub duplicates: u64,
}
