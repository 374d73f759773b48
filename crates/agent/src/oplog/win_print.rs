//! Print jobs on Windows, from the `Microsoft-Windows-PrintService/Operational`
//! event log, event 307 ("document printed"): job id, document name, user,
//! client, printer, port, bytes and pages (`Param1`..`Param8` of the
//! event's `DocumentPrinted` user data).
//!
//! The log is disabled on a fresh Windows: when running as the service
//! (LocalSystem), the source enables it (`EvtSetChannelConfigProperty`,
//! Enabled = true); when it is disabled and cannot be enabled, the source
//! says so at start instead of waiting for events that never come.
//!
//! Events are read with `EvtSubscribe` (a signal event, pulled with
//! `EvtNext`, so the thread wakes every second to see a stop) and rendered
//! as XML (`EvtRender`). After each event the subscription's bookmark is
//! saved in `DATA/events/print.bookmark`, so a restart continues after the
//! last recorded event: nothing lost while the agent was down, nothing
//! recorded twice (except the one event in flight if the agent dies
//! between recording it and saving the bookmark). The very first start
//! begins with future events: history is not operation log.
//!
//! Note: since Windows 10 2004 the document name is written only when the
//! policy "Allow job name in event logs" is on; otherwise it reads
//! `Print Document`.

/// One event 307, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintJob {
    /// `TimeCreated/@SystemTime` in Unix milliseconds.
    pub at_ms: Option<i64>,
    pub record_id: Option<u64>,
    pub job_id: Option<u32>,
    pub document: Option<String>,
    pub user: Option<String>,
    /// The client computer (`\\PC001`).
    pub client: Option<String>,
    pub printer: Option<String>,
    pub port: Option<String>,
    pub bytes: Option<u64>,
    pub pages: Option<u32>,
}

pub const CHANNEL: &str = "Microsoft-Windows-PrintService/Operational";
pub const QUERY: &str = "*[System[(EventID=307)]]";

/// Replaces XML's entities and character references; an unknown or broken
/// one is kept as written.
pub fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // Entities are short: look for the `;` among the next few characters.
        let Some(end) = rest.char_indices().take(12).find(|(_, c)| *c == ';').map(|(i, _)| i) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse::<u32>().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where the start tag of element `name` ends (after its `>`), and whether
/// it is empty (`<x/>`). Matches `<name>`, `<name attr...>`, not `<nameX>`.
fn start_tag<'a>(xml: &'a str, name: &str) -> Option<(&'a str, &'a str, bool)> {
    let mut from = 0;
    loop {
        let i = from + xml[from..].find('<')?;
        let after = &xml[i + 1..];
        if let Some(rest) = after.strip_prefix(name) {
            if rest.starts_with(['>', ' ', '/', '\t', '\r', '\n']) {
                let close = rest.find('>')?;
                let attrs = &rest[..close];
                let empty = attrs.ends_with('/');
                return Some((attrs, &rest[close + 1..], empty));
            }
        }
        from = i + 1;
    }
}

/// The text of the first element `name` (unescaped, trimmed); `None` when
/// absent or empty.
pub fn element_text(xml: &str, name: &str) -> Option<String> {
    let (_, body, empty) = start_tag(xml, name)?;
    if empty {
        return None;
    }
    let end = body.find('<')?;
    let text = xml_unescape(&body[..end]);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// An attribute of the first element `name`.
pub fn element_attr(xml: &str, name: &str, attr: &str) -> Option<String> {
    let (attrs, _, _) = start_tag(xml, name)?;
    let mut rest = attrs;
    loop {
        let i = rest.find(attr)?;
        let before_ok = i == 0 || rest[..i].ends_with([' ', '\t', '\r', '\n']);
        let after = rest[i + attr.len()..].trim_start();
        if before_ok {
            if let Some(v) = after.strip_prefix('=') {
                let v = v.trim_start();
                let quote = v.chars().next().filter(|q| *q == '"' || *q == '\'')?;
                let v = &v[1..];
                let end = v.find(quote)?;
                return Some(xml_unescape(&v[..end]));
            }
        }
        rest = &rest[i + attr.len()..];
    }
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2024-05-14T01:23:45.6789012Z` (UTC, as the event log writes it) → Unix
/// milliseconds; `None` for anything else.
pub fn parse_system_time(s: &str) -> Option<i64> {
    let s = s.trim().strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, da) = (d.next()?.parse::<i64>().ok()?, d.next()?.parse::<i64>().ok()?, d.next()?.parse::<i64>().ok()?);
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) || !(1601..=30827).contains(&y) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let (h, mi, se) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?);
    if t.next().is_some() || h > 23 || mi > 59 || se > 60 || h < 0 || mi < 0 || se < 0 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let ms = frac.chars().chain("000".chars()).take(3).collect::<String>().parse::<i64>().ok()?;
    Some(((days_from_civil(y, mo, da) * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms)
}

/// Reads an event 307 rendered as XML; `None` when it is not one.
pub fn parse_document_printed(xml: &str) -> Option<PrintJob> {
    if element_text(xml, "EventID")?.parse::<u32>().ok()? != 307 {
        return None;
    }
    let user_data = &xml[xml.find("<UserData")?..];
    let p = |n: u32| element_text(user_data, &format!("Param{n}"));
    Some(PrintJob {
        at_ms: element_attr(xml, "TimeCreated", "SystemTime").and_then(|t| parse_system_time(&t)),
        record_id: element_text(xml, "EventRecordID").and_then(|r| r.parse().ok()),
        job_id: p(1).and_then(|v| v.parse().ok()),
        document: p(2),
        user: p(3),
        client: p(4),
        printer: p(5),
        port: p(6),
        bytes: p(7).and_then(|v| v.parse().ok()),
        pages: p(8).and_then(|v| v.parse().ok()),
    })
}

impl PrintJob {
    pub fn detail(&self) -> crate::events::Detail {
        crate::events::Detail {
            printer: self.printer.clone(),
            document: self.document.clone(),
            pages: self.pages,
            size_bytes: self.bytes,
            ..Default::default()
        }
    }
}

#[cfg(windows)]
pub use sys::WinPrintSource;

#[cfg(windows)]
mod sys {
    use super::{parse_document_printed, CHANNEL, QUERY};
    use crate::events::EventKind;
    use crate::oplog::win_common::wide;
    use crate::oplog::{EventSink, EventSource};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::thread::JoinHandle;
    use std::time::Duration;
    use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, ERROR_INSUFFICIENT_BUFFER, ERROR_NO_MORE_ITEMS, HANDLE};
    use windows_sys::Win32::System::EventLog as ev;
    use windows_sys::Win32::System::Threading::{CreateEventW, ResetEvent, WaitForSingleObject};

    /// Rendered events longer than this are skipped (a 307 is ~2 KB).
    const MAX_RENDER_BYTES: u32 = 1 << 20;

    /// An `EVT_HANDLE`, closed on drop.
    struct Evt(ev::EVT_HANDLE);

    impl Drop for Evt {
        fn drop(&mut self) {
            if self.0 != 0 {
                // SAFETY: a handle from the Evt* API, closed once.
                unsafe { ev::EvtClose(self.0) };
            }
        }
    }

    struct Event(HANDLE);

    impl Drop for Event {
        fn drop(&mut self) {
            // SAFETY: our own event handle, closed once.
            unsafe { CloseHandle(self.0) };
        }
    }

    fn last_error() -> std::io::Error {
        std::io::Error::last_os_error()
    }

    /// Renders an event (`EvtRenderEventXml`) or a bookmark
    /// (`EvtRenderBookmark`) as text.
    fn render(h: ev::EVT_HANDLE, flags: u32) -> Result<String, String> {
        let mut used = 0u32;
        let mut count = 0u32;
        // SAFETY: a size query with no buffer.
        let ok = unsafe { ev::EvtRender(0, h, flags, 0, std::ptr::null_mut(), &mut used, &mut count) };
        // SAFETY: reads this thread's last error.
        if ok == 0 && unsafe { GetLastError() } != ERROR_INSUFFICIENT_BUFFER {
            return Err(format!("EvtRender: {}", last_error()));
        }
        if used > MAX_RENDER_BYTES {
            return Err(format!("EvtRender: {used} bytes, too long"));
        }
        let mut buf = vec![0u16; (used as usize).div_ceil(2) + 1];
        // SAFETY: `buf` holds at least `used` bytes.
        if unsafe { ev::EvtRender(0, h, flags, (buf.len() * 2) as u32, buf.as_mut_ptr().cast(), &mut used, &mut count) } == 0 {
            return Err(format!("EvtRender: {}", last_error()));
        }
        let chars = (used as usize / 2).min(buf.len());
        let end = buf[..chars].iter().position(|c| *c == 0).unwrap_or(chars);
        Ok(String::from_utf16_lossy(&buf[..end]))
    }

    /// Makes sure the channel is enabled; enables it when `may_enable`.
    fn ensure_enabled(may_enable: bool) -> Result<(), String> {
        let name = wide(CHANNEL);
        // SAFETY: a NUL-terminated channel name; the handle is closed by Evt.
        let config = Evt(unsafe { ev::EvtOpenChannelConfig(0, name.as_ptr(), 0) });
        if config.0 == 0 {
            return Err(format!("{CHANNEL}: {}", last_error()));
        }
        let mut value = ev::EVT_VARIANT::default();
        let mut used = 0u32;
        // SAFETY: one EVT_VARIANT is enough for a boolean property.
        let ok = unsafe { ev::EvtGetChannelConfigProperty(config.0, ev::EvtChannelConfigEnabled, 0, std::mem::size_of::<ev::EVT_VARIANT>() as u32, &mut value, &mut used) };
        // SAFETY: BooleanVal is the member the property returns.
        if ok != 0 && unsafe { value.Anonymous.BooleanVal } != 0 {
            return Ok(());
        }
        if !may_enable {
            return Err(format!("{CHANNEL} is disabled (the service enables it)"));
        }
        let on = ev::EVT_VARIANT { Anonymous: ev::EVT_VARIANT_0 { BooleanVal: 1 }, Count: 0, Type: ev::EvtVarTypeBoolean as u32 };
        // SAFETY: a valid config handle and value.
        let set = unsafe { ev::EvtSetChannelConfigProperty(config.0, ev::EvtChannelConfigEnabled, 0, &on) != 0 && ev::EvtSaveChannelConfig(config.0, 0) != 0 };
        if !set {
            return Err(format!("{CHANNEL} is disabled and cannot be enabled: {}", last_error()));
        }
        tracing::info!(channel = CHANNEL, "event log enabled");
        Ok(())
    }

    pub struct WinPrintSource {
        /// `DATA/events/print.bookmark`.
        pub bookmark_file: PathBuf,
    }

    impl WinPrintSource {
        pub fn new(data_dir: &std::path::Path) -> Self {
            WinPrintSource { bookmark_file: data_dir.join("events").join("print.bookmark") }
        }

        fn save_bookmark(&self, bookmark: ev::EVT_HANDLE) {
            let saved = render(bookmark, ev::EvtRenderBookmark).map_err(std::io::Error::other).and_then(|xml| {
                if let Some(dir) = self.bookmark_file.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                crate::spool::write_atomic(&self.bookmark_file, xml.as_bytes())
            });
            if let Err(e) = saved {
                tracing::warn!(error = %e, file = %self.bookmark_file.display(), "cannot save the print log bookmark");
            }
        }
    }

    /// The subscription and what it needs, made on the source's thread.
    /// Fields drop in this order: the subscription before the event it signals.
    struct Subscription {
        handle: Evt,
        bookmark: Evt,
        signal: Event,
    }

    fn subscribe(bookmark_file: &std::path::Path) -> Result<Subscription, String> {
        ensure_enabled(crate::service::windows::running_as_service())?;
        // SAFETY: manual reset, initially set: the first wait reads at once.
        let signal = unsafe { CreateEventW(std::ptr::null(), 1, 1, std::ptr::null()) };
        if signal.is_null() {
            return Err(format!("CreateEvent: {}", last_error()));
        }
        let signal = Event(signal);
        let saved = std::fs::read_to_string(bookmark_file).ok().filter(|s| !s.trim().is_empty());
        let from_saved = saved.as_deref().map(|xml| {
            let xml = wide(xml);
            // SAFETY: NUL-terminated bookmark XML; a bad one gives 0.
            Evt(unsafe { ev::EvtCreateBookmark(xml.as_ptr()) })
        });
        let (start_bookmark, flags) = match from_saved {
            Some(b) if b.0 != 0 => (Some(b), ev::EvtSubscribeStartAfterBookmark),
            Some(_) => {
                tracing::warn!(file = %bookmark_file.display(), "print log bookmark unreadable; starting with new events");
                (None, ev::EvtSubscribeToFutureEvents)
            }
            None => (None, ev::EvtSubscribeToFutureEvents),
        };
        let channel = wide(CHANNEL);
        let query = wide(QUERY);
        // SAFETY: valid strings, event and bookmark; no callback (pull model).
        let handle = Evt(unsafe {
            ev::EvtSubscribe(0, signal.0, channel.as_ptr(), query.as_ptr(), start_bookmark.as_ref().map_or(0, |b| b.0), std::ptr::null(), None, flags)
        });
        if handle.0 == 0 {
            return Err(format!("EvtSubscribe {CHANNEL}: {}", last_error()));
        }
        // The empty bookmark only now that the subscription works: Wine's
        // EvtSubscribe fails cleanly, but its EvtCreateBookmark is a stub
        // that ends the process.
        let bookmark = match start_bookmark {
            Some(b) => b,
            // SAFETY: a new empty bookmark.
            None => Evt(unsafe { ev::EvtCreateBookmark(std::ptr::null()) }),
        };
        if bookmark.0 == 0 {
            return Err(format!("EvtCreateBookmark: {}", last_error()));
        }
        Ok(Subscription { handle, bookmark, signal })
    }

    impl EventSource for WinPrintSource {
        fn name(&self) -> &'static str {
            "win_print"
        }

        fn start(self: Box<Self>, sink: EventSink, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
            let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
            let handle = std::thread::Builder::new()
                .name("oplog-win_print".into())
                .spawn(move || {
                    let sub = match subscribe(&self.bookmark_file) {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let mut failures = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        // SAFETY: our own event handle.
                        unsafe { WaitForSingleObject(sub.signal.0, 1000) };
                        // Reset before reading: an event arriving meanwhile sets it again.
                        // SAFETY: our own event handle.
                        unsafe { ResetEvent(sub.signal.0) };
                        loop {
                            let mut handles = [0isize; 16];
                            let mut returned = 0u32;
                            // SAFETY: room for 16 handles; no waiting (timeout 0).
                            if unsafe { ev::EvtNext(sub.handle.0, handles.len() as u32, handles.as_mut_ptr(), 0, 0, &mut returned) } == 0 {
                                // SAFETY: reads this thread's last error.
                                let code = unsafe { GetLastError() };
                                if code != ERROR_NO_MORE_ITEMS {
                                    failures += 1;
                                    if failures.is_power_of_two() {
                                        tracing::warn!(error = %std::io::Error::from_raw_os_error(code as i32), failures, "cannot read the print log");
                                    }
                                }
                                break;
                            }
                            for h in handles.iter().take(returned as usize).map(|h| Evt(*h)) {
                                match render(h.0, ev::EvtRenderEventXml) {
                                    Ok(xml) => match parse_document_printed(&xml) {
                                        Some(job) => sink.record(job.at_ms, EventKind::PrintJob, None, job.user.as_deref(), Some(job.detail())),
                                        None => tracing::debug!("print log event is not a readable 307"),
                                    },
                                    Err(e) => tracing::warn!(error = %e, "cannot render a print log event"),
                                }
                                // Past this event, recorded or not: an unreadable one
                                // would otherwise come back at every restart.
                                // SAFETY: valid bookmark and event handles.
                                unsafe { ev::EvtUpdateBookmark(sub.bookmark.0, h.0) };
                                self.save_bookmark(sub.bookmark.0);
                            }
                        }
                    }
                })
                .map_err(|e| format!("cannot start a thread: {e}"))?;
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(())) => Ok(handle),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("the print log subscription did not answer within 30 s".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event 307 as `EvtRender(EvtRenderEventXml)` gives it (one line in
    /// reality; whitespace is allowed).
    const EVENT_307: &str = r#"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-PrintService' Guid='{747ef6fd-e535-4d16-b510-42c90f6873a1}'/><EventID>307</EventID><Version>0</Version><Level>4</Level><Task>26</Task><Opcode>11</Opcode><Keywords>0x4000000000000840</Keywords><TimeCreated SystemTime='2025-04-01T00:15:30.1234567Z'/><EventRecordID>4821</EventRecordID><Correlation/><Execution ProcessID='2884' ThreadID='5120'/><Channel>Microsoft-Windows-PrintService/Operational</Channel><Computer>SUIDO-PC042.suido.local</Computer><Security UserID='S-1-5-21-1-2-3-1105'/></System><UserData><DocumentPrinted xmlns='http://manifests.microsoft.com/win/2005/08/windows/printing/spooler/core/events'><Param1>17</Param1><Param2>Microsoft Word - 検針データ &amp; 報告書.docx</Param2><Param3>sato</Param3><Param4>\\SUIDO-PC042</Param4><Param5>RICOH MP C3004 JPN RPCS</Param5><Param6>IP_10.20.1.50</Param6><Param7>482113</Param7><Param8>3</Param8></DocumentPrinted></UserData></Event>"#;

    #[test]
    fn reads_a_document_printed_event() {
        let job = parse_document_printed(EVENT_307).unwrap();
        assert_eq!(
            job,
            PrintJob {
                at_ms: Some(1_743_466_530_123),
                record_id: Some(4821),
                job_id: Some(17),
                document: Some("Microsoft Word - 検針データ & 報告書.docx".into()),
                user: Some("sato".into()),
                client: Some(r"\\SUIDO-PC042".into()),
                printer: Some("RICOH MP C3004 JPN RPCS".into()),
                port: Some("IP_10.20.1.50".into()),
                bytes: Some(482_113),
                pages: Some(3),
            }
        );
        let d = job.detail();
        assert_eq!((d.printer.as_deref(), d.pages, d.size_bytes), (Some("RICOH MP C3004 JPN RPCS"), Some(3), Some(482_113)));
        assert_eq!(d.document.as_deref(), Some("Microsoft Word - 検針データ & 報告書.docx"));
    }

    #[test]
    fn other_events_and_broken_xml_are_not_print_jobs() {
        assert_eq!(parse_document_printed(&EVENT_307.replace("<EventID>307<", "<EventID>805<")), None);
        assert_eq!(parse_document_printed(&EVENT_307.replace("<UserData>", "<EventData>")), None);
        // Cut anywhere: never a panic, at most a partial job.
        for i in 0..EVENT_307.len() {
            if EVENT_307.is_char_boundary(i) {
                let _ = parse_document_printed(&EVENT_307[..i]);
            }
        }
        for junk in ["&検針データ報告書のファイル;", "<Param2>&\u{3042}\u{3044}&#x;&#;</Param2>", "", "<", "<EventID>", "<EventID>307</EventID><UserData", "<EventID>307</EventID><UserData><Param8>x</Param8>", "&#xD800;"] {
            let _ = parse_document_printed(junk);
        }
        let job = parse_document_printed("<EventID>307</EventID><UserData><Param8>many</Param8><Param5/></UserData>").unwrap();
        assert_eq!((job.pages, job.printer, job.at_ms), (None, None, None));
    }

    #[test]
    fn xml_text_and_attributes() {
        assert_eq!(xml_unescape("&あいうえおかきくけこ; &#12354"), "&あいうえおかきくけこ; &#12354");
        assert_eq!(xml_unescape("a &lt;b&gt; &amp;&amp; &quot;c&apos; &#x3042;&#12354; &bogus; & &#xD800;"), "a <b> && \"c' ああ &bogus; & &#xD800;");
        assert_eq!(element_text("<Param10>x</Param10><Param1> y </Param1>", "Param1").as_deref(), Some("y"));
        assert_eq!(element_attr("<TimeCreated  SystemTime=\"2025-01-01T00:00:00Z\" />", "TimeCreated", "SystemTime").as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(element_attr("<T XSystemTime='1' SystemTime='2'/>", "T", "SystemTime").as_deref(), Some("2"));
        assert_eq!(element_attr("<T SystemTime=1/>", "T", "SystemTime"), None);
    }

    #[test]
    fn system_times() {
        assert_eq!(parse_system_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_system_time("2025-04-01T00:00:00.5Z"), Some(1_743_465_600_500));
        assert_eq!(parse_system_time("2024-02-29T23:59:59.999999900Z"), Some(1_709_251_199_999));
        for bad in ["", "2025-04-01T00:00:00", "2025-13-01T00:00:00Z", "2025-04-01 00:00:00Z", "2025-04-01T24:00:00Z", "x-y-zTa:b:cZ", "2025-04-01T00:00:00.1e3Z", "2025-04-01-01T00:00:00Z"] {
            assert_eq!(parse_system_time(bad), None, "{bad}");
        }
    }
}
