//! File operations on removable drives on Windows (USB sticks, SD cards).
//!
//! Every 2 s the source lists the drive letters (`GetLogicalDrives`) and
//! watches each `DRIVE_REMOVABLE` one with `ReadDirectoryChangesW` over the
//! whole volume (file and directory names, size, last write); a drive that
//! goes stops being watched. Changes become `file_create`, `file_write`,
//! `file_delete` and `file_rename` (old path, new path) events with the
//! size where known, marked `device_class = removable`.
//!
//! [`Collapser`] turns the stream of changes into operations: the many
//! "modified" notifications of one file within [`BURST_MS`] of each other
//! are one write; a file created and then written (a copy to the stick, a
//! save) is one `file_create` with its final size, recorded once the file
//! has been quiet for [`BURST_MS`]; a file created under a temporary name
//! and renamed in the same burst is a create of the final name. The source
//! of a copy is not known to a directory watch, so `file_copy` is not used.
//!
//! An open directory handle would stop the user from ejecting the stick
//! ("device in use"): each handle is registered for device notifications
//! (`DBT_DEVTYP_HANDLE`) with a message-only window, and closed at once on
//! `DBT_DEVICEQUERYREMOVE`; the drive is not reopened for 10 s unless the
//! removal fails. All of it runs on one thread, which wakes every 500 ms
//! and sees a stop at once.
//!
//! Not seen: USB disks that Windows reports as fixed (`DRIVE_FIXED`,
//! most USB hard disks and some SSDs), and who made a change (the user is
//! the console session's, the one person who can use a stick).

use crate::events::EventKind;
use std::collections::BTreeMap;

/// Changes of one file closer together than this are one operation.
pub const BURST_MS: i64 = 2_000;
/// Files waiting in a burst at most; beyond, all are recorded at once.
const MAX_PENDING: usize = 10_000;

/// `FILE_ACTION_*` (checked against the Windows headers in the Windows build).
pub const FILE_ACTION_ADDED: u32 = 1;
pub const FILE_ACTION_REMOVED: u32 = 2;
pub const FILE_ACTION_MODIFIED: u32 = 3;
pub const FILE_ACTION_RENAMED_OLD_NAME: u32 = 4;
pub const FILE_ACTION_RENAMED_NEW_NAME: u32 = 5;

/// One entry of a `FILE_NOTIFY_INFORMATION` buffer: action and the name
/// relative to the watched directory.
pub type Notification = (u32, String);

/// Reads the `FILE_NOTIFY_INFORMATION` records ReadDirectoryChangesW wrote
/// into `buf` (`NextEntryOffset`, `Action`, `FileNameLength` in bytes, then
/// the UTF-16 name). Stops at the first record that does not fit; never
/// reads outside `buf`.
pub fn parse_notify_buffer(buf: &[u8]) -> Vec<Notification> {
    let u32_at = |at: usize| buf.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let mut out = Vec::new();
    let mut at = 0usize;
    while let (Some(next), Some(action), Some(len)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8)) {
        let Some(name) = buf.get(at + 12..(at + 12).saturating_add(len as usize)) else { break };
        let units: Vec<u16> = name.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        out.push((action, String::from_utf16_lossy(&units)));
        if next == 0 || out.len() >= 65_536 {
            break;
        }
        at = match at.checked_add(next as usize) {
            Some(n) => n,
            None => break,
        };
    }
    out
}

/// What a file is now (`None`: gone or unreadable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileState {
    pub is_dir: bool,
    pub size: u64,
}

/// One operation to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOp {
    pub at_ms: i64,
    pub kind: EventKind,
    pub path: String,
    pub target_path: Option<String>,
    pub size_bytes: Option<u64>,
}

impl FileOp {
    pub fn detail(&self) -> crate::events::Detail {
        crate::events::Detail {
            path: Some(self.path.clone()),
            target_path: self.target_path.clone(),
            size_bytes: self.size_bytes,
            device_class: Some("removable".into()),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// `FileCreate` or `FileWrite`.
    kind: EventKind,
    first_ms: i64,
    last_ms: i64,
}

/// Turns one drive's notifications into operations (see the module comment).
#[derive(Debug)]
pub struct Collapser {
    /// `E:\`: prefixed to the relative names.
    root: String,
    pending: BTreeMap<String, Pending>,
    /// The old name of a rename whose new name has not come yet.
    rename_from: Option<String>,
}

impl Collapser {
    pub fn new(root: &str) -> Self {
        let root = if root.ends_with('\\') { root.to_string() } else { format!("{root}\\") };
        Collapser { root, pending: BTreeMap::new(), rename_from: None }
    }

    fn full(&self, name: &str) -> String {
        format!("{}{}", self.root, name.trim_start_matches('\\'))
    }

    fn finish(&self, name: &str, p: Pending, stat: &mut dyn FnMut(&str) -> Option<FileState>) -> Option<FileOp> {
        let path = self.full(name);
        let state = stat(&path);
        // A directory's "modified" is a change inside it, recorded by itself.
        if p.kind == EventKind::FileWrite && state.is_some_and(|s| s.is_dir) {
            return None;
        }
        let size_bytes = state.filter(|s| !s.is_dir).map(|s| s.size);
        Some(FileOp { at_ms: p.first_ms, kind: p.kind, path, target_path: None, size_bytes })
    }

    /// Takes one notification seen at `now_ms`; returns what is complete.
    /// `stat` tells what a full path is now.
    pub fn observe(&mut self, now_ms: i64, action: u32, name: &str, stat: &mut dyn FnMut(&str) -> Option<FileState>) -> Vec<FileOp> {
        let mut out = Vec::new();
        if action != FILE_ACTION_RENAMED_NEW_NAME {
            if let Some(old) = self.rename_from.take() {
                // Its new name lies outside the drive's tree: moved away.
                out.push(FileOp { at_ms: now_ms, kind: EventKind::FileRename, path: self.full(&old), target_path: None, size_bytes: None });
            }
        }
        if name.is_empty() {
            return out;
        }
        match action {
            FILE_ACTION_ADDED => {
                if let Some(p) = self.pending.remove(name) {
                    out.extend(self.finish(name, p, stat));
                }
                self.pending.insert(name.to_string(), Pending { kind: EventKind::FileCreate, first_ms: now_ms, last_ms: now_ms });
            }
            FILE_ACTION_MODIFIED => {
                self.pending
                    .entry(name.to_string())
                    .and_modify(|p| p.last_ms = now_ms)
                    .or_insert(Pending { kind: EventKind::FileWrite, first_ms: now_ms, last_ms: now_ms });
            }
            FILE_ACTION_REMOVED => {
                if let Some(p) = self.pending.remove(name) {
                    out.extend(self.finish(name, p, stat));
                }
                out.push(FileOp { at_ms: now_ms, kind: EventKind::FileDelete, path: self.full(name), target_path: None, size_bytes: None });
            }
            FILE_ACTION_RENAMED_OLD_NAME => self.rename_from = Some(name.to_string()),
            FILE_ACTION_RENAMED_NEW_NAME => match self.rename_from.take() {
                Some(old) => match self.pending.remove(&old) {
                    // Created under a temporary name in this burst: a create of the final name.
                    Some(p) if p.kind == EventKind::FileCreate => {
                        self.pending.insert(name.to_string(), Pending { last_ms: now_ms, ..p });
                    }
                    other => {
                        if let Some(p) = other {
                            out.extend(self.finish(&old, p, stat));
                        }
                        let target = self.full(name);
                        let size_bytes = stat(&target).filter(|s| !s.is_dir).map(|s| s.size);
                        out.push(FileOp { at_ms: now_ms, kind: EventKind::FileRename, path: self.full(&old), target_path: Some(target), size_bytes });
                    }
                },
                // Moved in from outside the drive's tree: it appeared.
                None => {
                    self.pending.insert(name.to_string(), Pending { kind: EventKind::FileCreate, first_ms: now_ms, last_ms: now_ms });
                }
            },
            _ => {}
        }
        if self.pending.len() > MAX_PENDING {
            out.extend(self.flush_all(stat));
        }
        out
    }

    /// Operations quiet for [`BURST_MS`] (or dated after `now_ms`: the clock
    /// went back), oldest first.
    pub fn flush_due(&mut self, now_ms: i64, stat: &mut dyn FnMut(&str) -> Option<FileState>) -> Vec<FileOp> {
        let due: Vec<String> = self.pending.iter().filter(|(_, p)| now_ms - p.last_ms >= BURST_MS || now_ms < p.last_ms).map(|(n, _)| n.clone()).collect();
        self.take(due, stat)
    }

    /// Everything still waiting (the drive went, the agent stops).
    pub fn flush_all(&mut self, stat: &mut dyn FnMut(&str) -> Option<FileState>) -> Vec<FileOp> {
        let all: Vec<String> = self.pending.keys().cloned().collect();
        let mut out = self.take(all, stat);
        if let Some(old) = self.rename_from.take() {
            out.push(FileOp { at_ms: crate::now_ms(), kind: EventKind::FileRename, path: self.full(&old), target_path: None, size_bytes: None });
        }
        out
    }

    fn take(&mut self, names: Vec<String>, stat: &mut dyn FnMut(&str) -> Option<FileState>) -> Vec<FileOp> {
        let mut out: Vec<FileOp> = names.into_iter().filter_map(|n| self.pending.remove(&n).and_then(|p| self.finish(&n, p, stat))).collect();
        out.sort_by_key(|o| o.at_ms);
        out
    }

    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.rename_from.is_none()
    }
}

#[cfg(windows)]
pub use sys::WinRemovableSource;

#[cfg(windows)]
mod sys {
    use super::{parse_notify_buffer, Collapser, FileOp, FileState};
    use crate::oplog::win_common::{console_session, create_message_window, pump_messages, wide};
    use crate::oplog::{EventSink, EventSource};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, HWND, INVALID_HANDLE_VALUE, LPARAM, LRESULT, WAIT_OBJECT_0, WPARAM};
    use windows_sys::Win32::Storage::FileSystem as fs;
    use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};
    use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject};
    use windows_sys::Win32::UI::WindowsAndMessaging as wm;

    const _: () = {
        assert!(super::FILE_ACTION_ADDED == fs::FILE_ACTION_ADDED);
        assert!(super::FILE_ACTION_REMOVED == fs::FILE_ACTION_REMOVED);
        assert!(super::FILE_ACTION_MODIFIED == fs::FILE_ACTION_MODIFIED);
        assert!(super::FILE_ACTION_RENAMED_OLD_NAME == fs::FILE_ACTION_RENAMED_OLD_NAME);
        assert!(super::FILE_ACTION_RENAMED_NEW_NAME == fs::FILE_ACTION_RENAMED_NEW_NAME);
    };

    /// `DRIVE_REMOVABLE` (in windows-sys's WindowsProgramming, not worth a feature).
    const DRIVE_REMOVABLE: u32 = 2;
    const FILTER: u32 = fs::FILE_NOTIFY_CHANGE_FILE_NAME | fs::FILE_NOTIFY_CHANGE_DIR_NAME | fs::FILE_NOTIFY_CHANGE_SIZE | fs::FILE_NOTIFY_CHANGE_LAST_WRITE;
    /// 64 KiB of u32: ReadDirectoryChangesW wants DWORD alignment.
    const BUF_WORDS: usize = 16 * 1024;
    const SCAN_EVERY: Duration = Duration::from_secs(2);
    /// After the user asked to eject a drive, it is left alone this long.
    const EJECT_COOLDOWN: Duration = Duration::from_secs(10);

    /// One watched drive.
    struct Watch {
        letter: char,
        dir: HANDLE,
        event: HANDLE,
        // Boxed: the kernel writes to both while a read is pending, so they
        // must not move.
        ov: Box<OVERLAPPED>,
        buf: Box<[u32; BUF_WORDS]>,
        notify: wm::HDEVNOTIFY,
        reading: bool,
        collapser: Collapser,
    }

    impl Watch {
        fn open(letter: char, hwnd: HWND) -> std::io::Result<Watch> {
            let root = wide(format!("{letter}:\\"));
            // SAFETY: a NUL-terminated path; the handles are owned by Watch.
            let dir = unsafe {
                fs::CreateFileW(
                    root.as_ptr(),
                    fs::FILE_LIST_DIRECTORY,
                    fs::FILE_SHARE_READ | fs::FILE_SHARE_WRITE | fs::FILE_SHARE_DELETE,
                    std::ptr::null(),
                    fs::OPEN_EXISTING,
                    fs::FILE_FLAG_BACKUP_SEMANTICS | fs::FILE_FLAG_OVERLAPPED,
                    std::ptr::null_mut(),
                )
            };
            if dir == INVALID_HANDLE_VALUE {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: manual-reset event; closed by Watch.
            let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
            if event.is_null() {
                let e = std::io::Error::last_os_error();
                // SAFETY: the handle just opened.
                unsafe { CloseHandle(dir) };
                return Err(e);
            }
            let filter = wm::DEV_BROADCAST_HANDLE {
                dbch_size: std::mem::size_of::<wm::DEV_BROADCAST_HANDLE>() as u32,
                dbch_devicetype: wm::DBT_DEVTYP_HANDLE,
                dbch_handle: dir,
                ..Default::default()
            };
            // SAFETY: our window and a filter living through the call.
            let notify = unsafe { wm::RegisterDeviceNotificationW(hwnd, &filter as *const _ as *const _, wm::DEVICE_NOTIFY_WINDOW_HANDLE) };
            if notify.is_null() {
                // Still watched; only ejecting may then say "in use".
                tracing::debug!(drive = %letter, error = %std::io::Error::last_os_error(), "no removal notification for the drive");
            }
            // SAFETY: OVERLAPPED is plain data.
            let mut ov: Box<OVERLAPPED> = Box::new(unsafe { std::mem::zeroed() });
            ov.hEvent = event;
            let mut w = Watch { letter, dir, event, ov, buf: Box::new([0; BUF_WORDS]), notify, reading: false, collapser: Collapser::new(&format!("{letter}:\\")) };
            w.issue()?;
            Ok(w)
        }

        fn issue(&mut self) -> std::io::Result<()> {
            let ov: *mut OVERLAPPED = &mut *self.ov;
            // SAFETY: buffer and OVERLAPPED are boxed and outlive the read
            // (close() cancels and waits for it before they are freed).
            let ok = unsafe {
                fs::ReadDirectoryChangesW(self.dir, self.buf.as_mut_ptr().cast(), (BUF_WORDS * 4) as u32, 1, FILTER, std::ptr::null_mut(), ov, None)
            };
            if ok == 0 {
                self.reading = false;
                return Err(std::io::Error::last_os_error());
            }
            self.reading = true;
            Ok(())
        }

        /// Reads a finished request into `out` and starts the next; `Err`
        /// when the drive cannot be watched any more.
        fn poll(&mut self, now_ms: i64, stat: &mut dyn FnMut(&str) -> Option<FileState>, out: &mut Vec<FileOp>) -> std::io::Result<()> {
            // SAFETY: our own event.
            if !self.reading || unsafe { WaitForSingleObject(self.event, 0) } != WAIT_OBJECT_0 {
                return Ok(());
            }
            let mut bytes = 0u32;
            // SAFETY: the request was issued on this handle with this OVERLAPPED.
            let ok = unsafe { GetOverlappedResult(self.dir, &*self.ov, &mut bytes, 0) };
            self.reading = false;
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
            if bytes == 0 {
                // The buffer overflowed: changes were lost.
                tracing::warn!(drive = %self.letter, "too many changes at once on the removable drive; some were not recorded");
            } else {
                // SAFETY: the kernel wrote `bytes` bytes into the buffer.
                let raw = unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), (bytes as usize).min(BUF_WORDS * 4)) };
                for (action, name) in parse_notify_buffer(raw) {
                    out.extend(self.collapser.observe(now_ms, action, &name, stat));
                }
            }
            self.issue()
        }

        fn close(&mut self) {
            // SAFETY: our handles; a pending read is cancelled and waited
            // for before the buffer can be freed.
            unsafe {
                if self.reading {
                    CancelIoEx(self.dir, &*self.ov);
                    let mut bytes = 0u32;
                    GetOverlappedResult(self.dir, &*self.ov, &mut bytes, 1);
                    self.reading = false;
                }
                if !self.notify.is_null() {
                    wm::UnregisterDeviceNotification(self.notify);
                    self.notify = std::ptr::null_mut();
                }
                if !self.dir.is_null() {
                    CloseHandle(self.dir);
                    self.dir = std::ptr::null_mut();
                }
                if !self.event.is_null() {
                    CloseHandle(self.event);
                    self.event = std::ptr::null_mut();
                }
            }
        }
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            self.close();
        }
    }

    thread_local! {
        static WATCHES: RefCell<Vec<Watch>> = const { RefCell::new(Vec::new()) };
        /// Closed by the window procedure (eject asked): their letters and
        /// waiting operations go to the loop.
        static EJECTED: RefCell<Vec<Watch>> = const { RefCell::new(Vec::new()) };
        static EJECT_FAILED: RefCell<bool> = const { RefCell::new(false) };
    }

    unsafe extern "system" fn wndproc(hwnd: HWND, msg: u32, wparam: WPARAM, lparam: LPARAM) -> LRESULT {
        if msg == wm::WM_DEVICECHANGE && lparam != 0 {
            // SAFETY: device change messages with lparam carry a DEV_BROADCAST_HDR.
            let hdr = unsafe { &*(lparam as *const wm::DEV_BROADCAST_HDR) };
            if hdr.dbch_devicetype == wm::DBT_DEVTYP_HANDLE {
                // SAFETY: type DBT_DEVTYP_HANDLE: the whole structure is there.
                let h = unsafe { &*(lparam as *const wm::DEV_BROADCAST_HANDLE) };
                match wparam as u32 {
                    wm::DBT_DEVICEQUERYREMOVE | wm::DBT_DEVICEREMOVEPENDING | wm::DBT_DEVICEREMOVECOMPLETE => {
                        // Close now, before answering: an open handle vetoes the eject.
                        WATCHES.with(|w| {
                            if let Ok(mut list) = w.try_borrow_mut() {
                                if let Some(i) = list.iter().position(|x| x.notify == h.dbch_hdevnotify || x.dir == h.dbch_handle) {
                                    let mut watch = list.remove(i);
                                    watch.close();
                                    EJECTED.with(|e| e.borrow_mut().push(watch));
                                }
                            }
                        });
                    }
                    wm::DBT_DEVICEQUERYREMOVEFAILED => EJECT_FAILED.with(|f| *f.borrow_mut() = true),
                    _ => {}
                }
            }
            return 1;
        }
        unsafe { wm::DefWindowProcW(hwnd, msg, wparam, lparam) }
    }

    fn stat(path: &str) -> Option<FileState> {
        std::fs::metadata(path).ok().map(|m| FileState { is_dir: m.is_dir(), size: m.len() })
    }

    /// Removable drive letters now.
    fn removable_drives() -> Vec<char> {
        // SAFETY: no arguments.
        let mask = unsafe { fs::GetLogicalDrives() };
        (0..26u8)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| (b'A' + i) as char)
            .filter(|c| {
                let root = wide(format!("{c}:\\"));
                // SAFETY: a NUL-terminated root path.
                let kind = unsafe { fs::GetDriveTypeW(root.as_ptr()) };
                kind == DRIVE_REMOVABLE
            })
            .collect()
    }

    fn record(sink: &EventSink, ops: Vec<FileOp>) {
        if ops.is_empty() {
            return;
        }
        let (session, user) = console_session();
        for op in ops {
            sink.record(Some(op.at_ms), op.kind, session, user.as_deref(), Some(op.detail()));
        }
    }

    pub struct WinRemovableSource;

    impl EventSource for WinRemovableSource {
        fn name(&self) -> &'static str {
            "win_removable"
        }

        fn start(self: Box<Self>, sink: EventSink, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
            let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
            let handle = std::thread::Builder::new()
                .name("oplog-win_removable".into())
                .spawn(move || {
                    let window = match create_message_window("lanward-oplog-removable", wndproc) {
                        Ok(w) => w,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let mut cooldown: HashMap<char, Instant> = HashMap::new();
                    let mut failing: HashMap<char, i32> = HashMap::new();
                    let mut last_scan: Option<Instant> = None;
                    let mut st = stat;
                    while !stop.load(Ordering::Relaxed) {
                        let events: Vec<HANDLE> = WATCHES.with(|w| w.borrow().iter().map(|x| x.event).collect());
                        pump_messages(&events, Duration::from_millis(500));
                        let now_ms = crate::now_ms();
                        let mut ops = Vec::new();
                        for mut w in EJECTED.with(|e| std::mem::take(&mut *e.borrow_mut())) {
                            tracing::info!(drive = %w.letter, "removable drive being removed; no longer watched");
                            cooldown.insert(w.letter, Instant::now() + EJECT_COOLDOWN);
                            ops.extend(w.collapser.flush_all(&mut st));
                        }
                        if EJECT_FAILED.with(|f| std::mem::take(&mut *f.borrow_mut())) {
                            cooldown.clear();
                        }
                        WATCHES.with(|w| {
                            let mut list = w.borrow_mut();
                            let mut i = 0;
                            while i < list.len() {
                                match list[i].poll(now_ms, &mut st, &mut ops) {
                                    Ok(()) => {
                                        ops.extend(list[i].collapser.flush_due(now_ms, &mut st));
                                        i += 1;
                                    }
                                    Err(e) => {
                                        let mut gone = list.remove(i);
                                        tracing::info!(drive = %gone.letter, error = %e, "removable drive no longer watched");
                                        gone.close();
                                        ops.extend(gone.collapser.flush_all(&mut st));
                                    }
                                }
                            }
                        });
                        if last_scan.is_none_or(|t| t.elapsed() >= SCAN_EVERY) {
                            last_scan = Some(Instant::now());
                            let drives = removable_drives();
                            cooldown.retain(|_, until| *until > Instant::now());
                            WATCHES.with(|w| {
                                let mut list = w.borrow_mut();
                                let (keep, gone): (Vec<Watch>, Vec<Watch>) = std::mem::take(&mut *list).into_iter().partition(|x| drives.contains(&x.letter));
                                *list = keep;
                                for mut g in gone {
                                    g.close();
                                    ops.extend(g.collapser.flush_all(&mut st));
                                }
                                for letter in drives {
                                    if list.iter().any(|x| x.letter == letter) || cooldown.contains_key(&letter) {
                                        continue;
                                    }
                                    match Watch::open(letter, window.hwnd()) {
                                        Ok(watch) => {
                                            tracing::info!(drive = %letter, "watching removable drive");
                                            failing.remove(&letter);
                                            list.push(watch);
                                        }
                                        Err(e) => {
                                            // A card reader without a card: not ready, every scan.
                                            let n = failing.entry(letter).or_insert(0);
                                            *n += 1;
                                            if *n == 1 {
                                                tracing::debug!(drive = %letter, error = %e, "cannot watch removable drive");
                                            }
                                        }
                                    }
                                }
                            });
                        }
                        record(&sink, ops);
                    }
                    let rest: Vec<FileOp> = WATCHES.with(|w| std::mem::take(&mut *w.borrow_mut()).into_iter().flat_map(|mut x| {
                        x.close();
                        x.collapser.flush_all(&mut st)
                    }).collect());
                    record(&sink, rest);
                    drop(window);
                })
                .map_err(|e| format!("cannot start a thread: {e}"))?;
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(())) => Ok(handle),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("the removable-drive watcher did not start within 30 s".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn record(action: u32, name: &str, pad: usize, last: bool) -> Vec<u8> {
        let units: Vec<u16> = name.encode_utf16().collect();
        let len = 12 + units.len() * 2 + pad;
        let mut b = Vec::new();
        b.extend_from_slice(&(if last { 0 } else { len as u32 }).to_le_bytes());
        b.extend_from_slice(&action.to_le_bytes());
        b.extend_from_slice(&((units.len() * 2) as u32).to_le_bytes());
        for u in units {
            b.extend_from_slice(&u.to_le_bytes());
        }
        b.resize(len, 0);
        b
    }

    #[test]
    fn notify_buffers_are_read_within_bounds() {
        let mut buf = record(FILE_ACTION_RENAMED_OLD_NAME, "新しいフォルダー", 0, false);
        buf.extend(record(FILE_ACTION_RENAMED_NEW_NAME, "提出\\検針.xlsx", 2, false));
        buf.extend(record(FILE_ACTION_ADDED, "a.txt", 0, true));
        assert_eq!(
            parse_notify_buffer(&buf),
            vec![(FILE_ACTION_RENAMED_OLD_NAME, "新しいフォルダー".to_string()), (FILE_ACTION_RENAMED_NEW_NAME, "提出\\検針.xlsx".into()), (FILE_ACTION_ADDED, "a.txt".into())]
        );
        // Cut anywhere: whole records only, never a panic.
        for cut in 0..buf.len() {
            let got = parse_notify_buffer(&buf[..cut]);
            assert!(got.len() <= 3);
        }
        // A name length past the end, an offset loop onto itself.
        let mut bad = record(FILE_ACTION_ADDED, "x", 0, true);
        bad[8..12].copy_from_slice(&1000u32.to_le_bytes());
        assert!(parse_notify_buffer(&bad).is_empty());
        let mut looped = record(FILE_ACTION_ADDED, "x", 0, true);
        looped[0..4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse_notify_buffer(&looped).len(), 1);
        let mut far = record(FILE_ACTION_ADDED, "x", 0, false);
        far[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_notify_buffer(&far).len(), 1);
    }

    /// A fake drive: paths → state.
    struct Disk(HashMap<String, FileState>);

    impl Disk {
        fn file(&mut self, p: &str, size: u64) {
            self.0.insert(p.into(), FileState { is_dir: false, size });
        }
        fn stat(&self) -> impl FnMut(&str) -> Option<FileState> + '_ {
            |p| self.0.get(p).copied()
        }
    }

    fn kinds(ops: &[FileOp]) -> Vec<(EventKind, &str, Option<&str>, Option<u64>)> {
        ops.iter().map(|o| (o.kind, o.path.as_str(), o.target_path.as_deref(), o.size_bytes)).collect()
    }

    #[test]
    fn a_copy_to_the_stick_is_one_create_with_its_final_size() {
        let mut disk = Disk(HashMap::new());
        let mut c = Collapser::new("E:");
        assert!(c.observe(1_000, FILE_ACTION_ADDED, "提出\\検針データ.xlsx", &mut disk.stat()).is_empty());
        for t in (1_100..4_000).step_by(100) {
            assert!(c.observe(t, FILE_ACTION_MODIFIED, "提出\\検針データ.xlsx", &mut disk.stat()).is_empty());
        }
        assert!(c.flush_due(4_500, &mut disk.stat()).is_empty(), "still being written");
        disk.file("E:\\提出\\検針データ.xlsx", 2_400_000);
        let ops = c.flush_due(5_900, &mut disk.stat());
        assert_eq!(kinds(&ops), [(EventKind::FileCreate, "E:\\提出\\検針データ.xlsx", None, Some(2_400_000))]);
        assert_eq!(ops[0].at_ms, 1_000);
        assert!(c.is_idle());
        let d = ops[0].detail();
        assert_eq!((d.path.as_deref(), d.device_class.as_deref()), (Some("E:\\提出\\検針データ.xlsx"), Some("removable")));
    }

    #[test]
    fn writes_in_a_burst_are_one_write_and_directory_modifications_are_none() {
        let mut disk = Disk(HashMap::new());
        disk.file("E:\\a.docx", 10);
        disk.0.insert("E:\\提出".into(), FileState { is_dir: true, size: 0 });
        let mut c = Collapser::new("E:\\");
        for t in [0, 500, 1_900, 3_800] {
            c.observe(t, FILE_ACTION_MODIFIED, "a.docx", &mut disk.stat());
        }
        c.observe(0, FILE_ACTION_MODIFIED, "提出", &mut disk.stat());
        assert_eq!(kinds(&c.flush_due(5_799, &mut disk.stat())), []);
        assert_eq!(kinds(&c.flush_due(5_800, &mut disk.stat())), [(EventKind::FileWrite, "E:\\a.docx", None, Some(10))]);
        // A later write is another operation.
        c.observe(9_000, FILE_ACTION_MODIFIED, "a.docx", &mut disk.stat());
        assert_eq!(c.flush_due(11_000, &mut disk.stat()).len(), 1);
    }

    #[test]
    fn deletes_renames_and_temporary_names() {
        let mut disk = Disk(HashMap::new());
        let mut c = Collapser::new("E:\\");
        // Delete: at once, without size.
        assert_eq!(kinds(&c.observe(0, FILE_ACTION_REMOVED, "old.txt", &mut disk.stat())), [(EventKind::FileDelete, "E:\\old.txt", None, None)]);
        // Rename of an existing file.
        disk.file("E:\\new.txt", 5);
        assert!(c.observe(10, FILE_ACTION_RENAMED_OLD_NAME, "a.txt", &mut disk.stat()).is_empty());
        assert_eq!(kinds(&c.observe(10, FILE_ACTION_RENAMED_NEW_NAME, "new.txt", &mut disk.stat())), [(EventKind::FileRename, "E:\\a.txt", Some("E:\\new.txt"), Some(5))]);
        // Saved as a temporary file and renamed in the same burst: a create of the final name.
        c.observe(100, FILE_ACTION_ADDED, "~WRD0001.tmp", &mut disk.stat());
        c.observe(200, FILE_ACTION_MODIFIED, "~WRD0001.tmp", &mut disk.stat());
        c.observe(300, FILE_ACTION_RENAMED_OLD_NAME, "~WRD0001.tmp", &mut disk.stat());
        assert!(c.observe(300, FILE_ACTION_RENAMED_NEW_NAME, "報告.docx", &mut disk.stat()).is_empty());
        disk.file("E:\\報告.docx", 777);
        assert_eq!(kinds(&c.flush_due(3_000, &mut disk.stat())), [(EventKind::FileCreate, "E:\\報告.docx", None, Some(777))]);
        // Created and deleted at once: both recorded.
        c.observe(4_000, FILE_ACTION_ADDED, "x.tmp", &mut disk.stat());
        assert_eq!(kinds(&c.observe(4_100, FILE_ACTION_REMOVED, "x.tmp", &mut disk.stat())), [(EventKind::FileCreate, "E:\\x.tmp", None, None), (EventKind::FileDelete, "E:\\x.tmp", None, None)]);
        // An old name whose new name never comes: moved off the drive's tree.
        c.observe(5_000, FILE_ACTION_RENAMED_OLD_NAME, "gone.txt", &mut disk.stat());
        assert_eq!(kinds(&c.observe(5_001, FILE_ACTION_ADDED, "b.txt", &mut disk.stat())), [(EventKind::FileRename, "E:\\gone.txt", None, None)]);
        // A new name without an old one: it appeared.
        c.observe(5_002, FILE_ACTION_RENAMED_NEW_NAME, "in.txt", &mut disk.stat());
        let ops = c.flush_all(&mut disk.stat());
        assert_eq!(kinds(&ops), [(EventKind::FileCreate, "E:\\b.txt", None, None), (EventKind::FileCreate, "E:\\in.txt", None, None)]);
        // Unknown actions and empty names are ignored.
        assert!(c.observe(6_000, 99, "z", &mut disk.stat()).is_empty());
        assert!(c.observe(6_000, FILE_ACTION_ADDED, "", &mut disk.stat()).is_empty());
        assert!(c.is_idle());
    }

    #[test]
    fn a_clock_set_back_flushes_instead_of_waiting_forever() {
        let disk = Disk(HashMap::new());
        let mut c = Collapser::new("F:\\");
        c.observe(10_000, FILE_ACTION_MODIFIED, "a", &mut disk.stat());
        assert_eq!(c.flush_due(5_000, &mut disk.stat()).len(), 1);
    }
}
