//! The Win32 side of the session helper.
//!
//! Service side ([`SessionServer`]): for each logged-on session, a thread
//! creates the session's pipe (DACL: LocalSystem and that session's user,
//! nobody else; remote clients rejected; the name must not exist yet, so
//! nobody can squat it), starts `lanward-agent session-helper` in the
//! session with the user's token, checks each client's session id and
//! user SID before believing a word, and passes its messages to the
//! [`Hub`]. The pipe is overlapped so that every wait can be given up
//! (stop, logoff, a helper that went quiet).
//!
//! Helper side ([`run_helper`]): connects to its session's pipe, checks the
//! server runs in session 0 (services do; a user's impostor cannot), samples
//! the foreground window once a second and shows message boxes.

use super::hub::Hub;
use super::protocol::{read_frame, write_frame, Answer, HelperMessage, ServiceMessage, PROTOCOL_VERSION};
use super::{pipe_name, ForegroundTracker, WindowSample, CONSENT_TITLE, NOTICE_TITLE};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::ffi::{c_void, OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use windows_sys::Win32::Foundation::{
    GetLastError, LocalFree, ERROR_BROKEN_PIPE, ERROR_FILE_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER, ERROR_IO_PENDING,
    ERROR_NO_DATA, ERROR_NO_TOKEN, ERROR_PIPE_BUSY, ERROR_PIPE_CONNECTED, ERROR_PIPE_NOT_CONNECTED, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
    WAIT_TIMEOUT,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetLengthSid, GetTokenInformation, IsValidSid, RevertToSelf, TokenUser, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY,
    TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, ReadFile, WriteFile, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, FILE_GENERIC_READ, FILE_WRITE_DATA,
    OPEN_EXISTING, PIPE_ACCESS_DUPLEX, SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
};
use windows_sys::Win32::System::Environment::{CreateEnvironmentBlock, DestroyEnvironmentBlock};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, DisconnectNamedPipe, GetNamedPipeClientSessionId, GetNamedPipeServerSessionId,
    ImpersonateNamedPipeClient, WaitNamedPipeW, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_WAIT,
};
use windows_sys::Win32::System::RemoteDesktop::{
    ProcessIdToSessionId, WTSDisconnected, WTSDomainName, WTSActive, WTSEnumerateSessionsW, WTSFreeMemory,
    WTSQuerySessionInformationW, WTSQueryUserToken, WTSUserName, WTS_CURRENT_SERVER_HANDLE, WTS_INFO_CLASS, WTS_SESSION_INFOW,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, CreateProcessAsUserW, GetCurrentProcessId, GetCurrentThread, GetExitCodeProcess, GetProcessId, OpenProcess, OpenThreadToken,
    QueryFullProcessImageNameW, WaitForSingleObject, CREATE_NO_WINDOW, CREATE_UNICODE_ENVIRONMENT, PROCESS_INFORMATION,
    PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION, STARTUPINFOW,
};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    GetForegroundWindow, GetWindowTextW, GetWindowThreadProcessId, MessageBoxW, IDNO, IDYES, MB_DEFBUTTON2, MB_ICONINFORMATION,
    MB_ICONQUESTION, MB_OK, MB_SETFOREGROUND, MB_TOPMOST, MB_YESNO,
};

/// Largest frame plus its prefix: one whole message fits the pipe buffer.
const PIPE_BUFFER: u32 = (super::protocol::MAX_FRAME + 4) as u32;
/// What the session's user may do on its pipe: read, and write data.
/// Not `GENERIC_WRITE`: its FILE_APPEND_DATA is, on a pipe,
/// FILE_CREATE_PIPE_INSTANCE, which would let the user serve the pipe.
const CLIENT_ACCESS: u32 = FILE_GENERIC_READ | FILE_WRITE_DATA;
/// A connected helper writes at least once a second; this long silent, it
/// is hung and the connection goes.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often blocked waits look at the stop flag.
const POLL: u32 = 200;
/// Helper restarts (it crashed, or the user ended it) back off to this.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(600);
/// Message boxes a helper shows at once; more questions are answered `Failed`.
const MAX_OPEN_BOXES: usize = 3;

fn wide(s: impl AsRef<OsStr>) -> Vec<u16> {
    s.as_ref().encode_wide().chain(Some(0)).collect()
}

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

fn is_error(e: &io::Error, code: u32) -> bool {
    e.raw_os_error() == Some(code as i32)
}

/// Takes ownership of a handle a Win32 call returned, or its error.
/// `null` and `INVALID_HANDLE_VALUE` both mean failure, depending on the call.
fn owned(h: HANDLE) -> io::Result<OwnedHandle> {
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    // SAFETY: a fresh handle from the call that just returned it, owned by nobody else.
    Ok(unsafe { OwnedHandle::from_raw_handle(h) })
}

fn raw(h: &OwnedHandle) -> HANDLE {
    h.as_raw_handle()
}

/// A SID as its bytes (comparing bytes is comparing SIDs).
#[derive(Clone, PartialEq, Eq)]
pub struct Sid(Vec<u8>);

impl Sid {
    /// The `S-1-5-21-…` form, for SDDL and logs.
    fn to_sddl(&self) -> io::Result<String> {
        let mut out: *mut u16 = std::ptr::null_mut();
        // SAFETY: the bytes are a SID checked by IsValidSid when taken; `out` is
        // freed with LocalFree as documented.
        unsafe {
            if ConvertSidToStringSidW(self.0.as_ptr() as *mut c_void, &mut out) == 0 || out.is_null() {
                return Err(last_error());
            }
            let s = wide_ptr_to_string(out, 256);
            LocalFree(out as *mut c_void);
            Ok(s)
        }
    }
}

impl std::fmt::Debug for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_sddl().unwrap_or_else(|_| "<sid>".into()))
    }
}

/// A NUL-terminated UTF-16 string, read at most `max` units far.
///
/// # Safety
/// `p` must be readable up to its NUL or `max` units.
unsafe fn wide_ptr_to_string(p: *const u16, max: usize) -> String {
    let mut len = 0;
    while len < max && *p.add(len) != 0 {
        len += 1;
    }
    String::from_utf16_lossy(std::slice::from_raw_parts(p, len))
}

/// The user a token belongs to.
fn token_user(token: HANDLE) -> io::Result<Sid> {
    // SAFETY: sizes come from the first call; the buffer is u64-aligned for
    // TOKEN_USER; the SID pointer points into that buffer and is validated
    // before its length is trusted.
    unsafe {
        let mut len = 0u32;
        if GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut len) == 0 {
            let e = last_error();
            if !is_error(&e, ERROR_INSUFFICIENT_BUFFER) {
                return Err(e);
            }
        }
        if (len as usize) < std::mem::size_of::<TOKEN_USER>() {
            return Err(io::Error::other("GetTokenInformation(TokenUser) returned too little"));
        }
        let mut buf = vec![0u64; (len as usize).div_ceil(8)];
        if GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) == 0 {
            return Err(last_error());
        }
        let sid = (*(buf.as_ptr() as *const TOKEN_USER)).User.Sid;
        if sid.is_null() || IsValidSid(sid) == 0 {
            return Err(io::Error::other("the token's user SID is not valid"));
        }
        let n = GetLengthSid(sid) as usize;
        let start = sid as usize - buf.as_ptr() as usize;
        if start + n > buf.len() * 8 {
            return Err(io::Error::other("the token's user SID lies outside its buffer"));
        }
        Ok(Sid(std::slice::from_raw_parts(sid as *const u8, n).to_vec()))
    }
}

/// The primary token of the user logged on in `session_id` (LocalSystem
/// only). `ERROR_NO_TOKEN`: nobody is logged on there.
fn session_token(session_id: u32) -> io::Result<OwnedHandle> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: out-parameter only.
    if unsafe { WTSQueryUserToken(session_id, &mut token) } == 0 {
        return Err(last_error());
    }
    owned(token)
}

fn wts_string(session_id: u32, class: WTS_INFO_CLASS) -> Option<String> {
    let mut buf: *mut u16 = std::ptr::null_mut();
    let mut bytes = 0u32;
    // SAFETY: the buffer is read at most `bytes` long and freed with WTSFreeMemory.
    unsafe {
        if WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE, session_id, class, &mut buf, &mut bytes) == 0 || buf.is_null() {
            return None;
        }
        let s = wide_ptr_to_string(buf, bytes as usize / 2);
        WTSFreeMemory(buf.cast());
        Some(s)
    }
}

/// `DOMAIN\user` logged on in a session, if any.
pub fn session_user(session_id: u32) -> Option<String> {
    let user = wts_string(session_id, WTSUserName).filter(|u| !u.is_empty())?;
    match wts_string(session_id, WTSDomainName).filter(|d| !d.is_empty()) {
        Some(domain) => Some(format!("{domain}\\{user}")),
        None => Some(user),
    }
}

/// Sessions that may have a user (active or disconnected), session 0 (the
/// services' own) excluded.
pub fn user_sessions() -> Vec<u32> {
    let mut info: *mut WTS_SESSION_INFOW = std::ptr::null_mut();
    let mut count = 0u32;
    // SAFETY: `count` entries at `info`, freed with WTSFreeMemory.
    unsafe {
        if WTSEnumerateSessionsW(WTS_CURRENT_SERVER_HANDLE, 0, 1, &mut info, &mut count) == 0 {
            tracing::warn!(error = %last_error(), "cannot list sessions");
            return Vec::new();
        }
        // Success with no list: no sessions (Wine answers so).
        if info.is_null() {
            return Vec::new();
        }
        let list = std::slice::from_raw_parts(info, count as usize);
        let ids = list.iter().filter(|s| s.SessionId != 0 && (s.State == WTSActive || s.State == WTSDisconnected)).map(|s| s.SessionId).collect();
        WTSFreeMemory(info.cast());
        ids
    }
}

/// One session's pipe, server end, overlapped.
struct Pipe {
    handle: OwnedHandle,
    /// Signalled when an overlapped operation completes.
    event: OwnedHandle,
}

impl Pipe {
    /// Creates the pipe of `session_id` for `user` only.
    fn create(session_id: u32, user: &Sid) -> Result<Pipe> {
        // Protected DACL: LocalSystem all, the user read and write data.
        let sddl = format!("D:P(A;;GA;;;SY)(A;;0x{CLIENT_ACCESS:x};;;{})", user.to_sddl().context("cannot format the user's SID")?);
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `sd` is allocated by the call and freed with LocalFree after
        // CreateNamedPipeW has copied it.
        let handle = unsafe {
            if ConvertStringSecurityDescriptorToSecurityDescriptorW(wide(&sddl).as_ptr(), SDDL_REVISION_1, &mut sd, std::ptr::null_mut()) == 0 {
                return Err(last_error()).with_context(|| format!("cannot build the pipe's security descriptor {sddl}"));
            }
            let sa = SECURITY_ATTRIBUTES { nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32, lpSecurityDescriptor: sd, bInheritHandle: 0 };
            let h = CreateNamedPipeW(
                wide(pipe_name(session_id)).as_ptr(),
                PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                1,
                PIPE_BUFFER,
                PIPE_BUFFER,
                0,
                &sa,
            );
            let created = owned(h);
            LocalFree(sd);
            created
        }
        .with_context(|| format!("cannot create {} (does another process hold the name?)", pipe_name(session_id)))?;
        // SAFETY: plain event creation (manual reset, as overlapped I/O wants).
        let event = owned(unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) }).context("CreateEventW")?;
        Ok(Pipe { handle, event })
    }

    /// Waits for an overlapped operation begun on this pipe. `give_up` is
    /// asked every `POLL` ms; when it returns an error the operation is
    /// cancelled (and waited for: `ov` must outlive it).
    ///
    /// # Safety
    /// `ov` must be the OVERLAPPED of an operation just started on this pipe,
    /// and `started` what that call returned.
    unsafe fn finish(&self, ov: &mut OVERLAPPED, started: i32, give_up: &mut dyn FnMut() -> Option<io::Error>) -> io::Result<u32> {
        let h = raw(&self.handle);
        if started == 0 {
            let e = GetLastError();
            if e != ERROR_IO_PENDING {
                return Err(io::Error::from_raw_os_error(e as i32));
            }
            loop {
                match WaitForSingleObject(raw(&self.event), POLL) {
                    WAIT_OBJECT_0 => break,
                    WAIT_TIMEOUT => {
                        if let Some(reason) = give_up() {
                            CancelIoEx(h, ov);
                            let mut n = 0;
                            // Completed in the meantime: the data counts.
                            if GetOverlappedResult(h, ov, &mut n, 1) != 0 {
                                return Ok(n);
                            }
                            return Err(reason);
                        }
                    }
                    _ => {
                        let e = last_error();
                        CancelIoEx(h, ov);
                        let mut n = 0;
                        GetOverlappedResult(h, ov, &mut n, 1);
                        return Err(e);
                    }
                }
            }
        }
        let mut n = 0;
        if GetOverlappedResult(h, ov, &mut n, 0) == 0 {
            return Err(last_error());
        }
        Ok(n)
    }

    fn overlapped(&self) -> OVERLAPPED {
        // SAFETY: OVERLAPPED is plain data; all zero is its documented start.
        let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
        ov.hEvent = raw(&self.event);
        ov
    }

    /// Waits for a client.
    fn accept(&self, give_up: &mut dyn FnMut() -> Option<io::Error>) -> io::Result<()> {
        let mut ov = self.overlapped();
        // SAFETY: `ov` lives until `finish` has seen the operation end.
        unsafe {
            let started = ConnectNamedPipe(raw(&self.handle), &mut ov);
            // A client that came between create (or disconnect) and this call.
            if started == 0 && GetLastError() == ERROR_PIPE_CONNECTED {
                return Ok(());
            }
            self.finish(&mut ov, started, give_up).map(|_| ())
        }
    }

    fn disconnect(&self) {
        // SAFETY: plain call on our own handle.
        unsafe { DisconnectNamedPipe(raw(&self.handle)) };
    }

    /// Reads and writes with a deadline and a stop flag, for the framing code.
    fn io<'a>(&'a self, stop: &'a AtomicBool, timeout: Duration) -> PipeIo<'a> {
        PipeIo { pipe: self, stop, deadline: Instant::now() + timeout }
    }
}

struct PipeIo<'a> {
    pipe: &'a Pipe,
    stop: &'a AtomicBool,
    deadline: Instant,
}

impl PipeIo<'_> {
    fn give_up(&self) -> Option<io::Error> {
        if self.stop.load(Ordering::Relaxed) {
            Some(io::Error::new(io::ErrorKind::Interrupted, "stopping"))
        } else if Instant::now() >= self.deadline {
            Some(io::Error::new(io::ErrorKind::TimedOut, "the session helper did not answer in time"))
        } else {
            None
        }
    }
}

impl Read for PipeIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut ov = self.pipe.overlapped();
        let len = buf.len().min(u32::MAX as usize) as u32;
        // SAFETY: `buf` and `ov` outlive the operation (`finish` waits for it).
        let result = unsafe {
            let started = ReadFile(raw(&self.pipe.handle), buf.as_mut_ptr(), len, std::ptr::null_mut(), &mut ov);
            self.pipe.finish(&mut ov, started, &mut || self.give_up())
        };
        match result {
            Ok(n) => Ok(n as usize),
            // The client closed its end: end of stream.
            Err(e) if is_error(&e, ERROR_BROKEN_PIPE) || is_error(&e, ERROR_PIPE_NOT_CONNECTED) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

impl Write for PipeIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut ov = self.pipe.overlapped();
        let len = buf.len().min(u32::MAX as usize) as u32;
        // SAFETY: as for read.
        unsafe {
            let started = WriteFile(raw(&self.pipe.handle), buf.as_ptr(), len, std::ptr::null_mut(), &mut ov);
            self.pipe.finish(&mut ov, started, &mut || self.give_up()).map(|n| n as usize)
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Checks that the connected client runs in `session_id` as `user`.
fn verify_client(pipe: &Pipe, session_id: u32, user: &Sid) -> Result<()> {
    let h = raw(&pipe.handle);
    let mut client_session = u32::MAX;
    // SAFETY: out-parameter only.
    if unsafe { GetNamedPipeClientSessionId(h, &mut client_session) } == 0 {
        return Err(last_error()).context("GetNamedPipeClientSessionId");
    }
    if client_session != session_id {
        bail!("client is in session {client_session}, not {session_id}");
    }
    // The client's token, seen through impersonation; the helper allows
    // identification only, enough to read who it is.
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: impersonation is undone before anything else happens on this
    // thread; if it cannot be undone the process must not go on.
    let opened = unsafe {
        if ImpersonateNamedPipeClient(h) == 0 {
            return Err(last_error()).context("ImpersonateNamedPipeClient");
        }
        let ok = OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, 1, &mut token);
        let err = last_error();
        if RevertToSelf() == 0 {
            tracing::error!(error = %last_error(), "RevertToSelf failed after impersonating a pipe client; aborting");
            std::process::abort();
        }
        if ok == 0 {
            Err(err)
        } else {
            owned(token)
        }
    };
    let token = opened.context("OpenThreadToken (client)")?;
    let client = token_user(raw(&token)).context("client token user")?;
    if &client != user {
        bail!("client runs as {client:?}, not as the session's user {user:?}");
    }
    Ok(())
}

/// Starts `exe session-helper` in the user's session, as the user.
fn launch_helper(token: &OwnedHandle, exe: &Path) -> io::Result<OwnedHandle> {
    let app = wide(exe);
    let mut cmd: OsString = OsString::from("\"");
    cmd.push(exe.as_os_str());
    cmd.push("\" session-helper");
    let mut cmd = wide(cmd);
    let mut desktop = wide("winsta0\\default");
    // SAFETY: every pointer passed lives until the call returns; the
    // environment block is destroyed after it; the thread handle is closed.
    unsafe {
        let mut env: *mut c_void = std::ptr::null_mut();
        // The user's environment (USERPROFILE, TEMP…), not LocalSystem's.
        let have_env = CreateEnvironmentBlock(&mut env, raw(token), 0) != 0;
        let mut si: STARTUPINFOW = std::mem::zeroed();
        si.cb = std::mem::size_of::<STARTUPINFOW>() as u32;
        si.lpDesktop = desktop.as_mut_ptr();
        let mut pi: PROCESS_INFORMATION = std::mem::zeroed();
        let flags = CREATE_NO_WINDOW | if have_env { CREATE_UNICODE_ENVIRONMENT } else { 0 };
        let ok = CreateProcessAsUserW(
            raw(token),
            app.as_ptr(),
            cmd.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            0,
            flags,
            if have_env { env } else { std::ptr::null_mut() },
            std::ptr::null(),
            &si,
            &mut pi,
        );
        let err = last_error();
        if have_env {
            DestroyEnvironmentBlock(env);
        }
        if ok == 0 {
            return Err(err);
        }
        drop(owned(pi.hThread));
        owned(pi.hProcess)
    }
}

fn still_running(process: &OwnedHandle) -> bool {
    // SAFETY: a zero-time wait on our own process handle.
    unsafe { WaitForSingleObject(raw(process), 0) == WAIT_TIMEOUT }
}

fn exit_code(process: &OwnedHandle) -> Option<u32> {
    let mut code = 0u32;
    // SAFETY: out-parameter only.
    (unsafe { GetExitCodeProcess(raw(process), &mut code) } != 0).then_some(code)
}

struct Worker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The service's helpers, one worker thread per session. Driven from the
/// service's main loop (one thread).
pub struct SessionServer {
    hub: Arc<Hub>,
    exe: PathBuf,
    workers: HashMap<u32, Worker>,
}

impl SessionServer {
    /// `exe`: this program, started in sessions as `exe session-helper`.
    pub fn new(hub: Arc<Hub>, exe: PathBuf) -> SessionServer {
        SessionServer { hub, exe, workers: HashMap::new() }
    }

    /// Starts helpers in the sessions already there (service start).
    pub fn start_existing(&mut self) {
        for id in user_sessions() {
            self.hub.set_user(id, session_user(id));
            self.start(id);
        }
    }

    /// Serves `session_id` unless already served; cheap to call again.
    pub fn start(&mut self, session_id: u32) {
        if session_id == 0 || self.hub.is_exiting() {
            return;
        }
        if let Some(w) = self.workers.get(&session_id) {
            if !w.thread.is_finished() && !w.stop.load(Ordering::Relaxed) {
                return;
            }
        }
        // The worker of an earlier logon on this id holds the pipe name: it
        // goes first.
        if let Some(old) = self.workers.remove(&session_id) {
            old.stop.store(true, Ordering::Relaxed);
            wait_finished(&old.thread, Duration::from_secs(3));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (hub, exe, worker_stop) = (Arc::clone(&self.hub), self.exe.clone(), Arc::clone(&stop));
        let spawned = std::thread::Builder::new()
            .name(format!("lanward-session-{session_id}"))
            .spawn(move || serve_session(session_id, &exe, &hub, &worker_stop));
        match spawned {
            Ok(thread) => {
                self.workers.insert(session_id, Worker { stop, thread });
            }
            Err(e) => tracing::warn!(session_id, error = %e, "cannot start the session thread"),
        }
    }

    /// The session ended (logoff): its worker stops.
    pub fn end(&mut self, session_id: u32) {
        if let Some(w) = self.workers.get(&session_id) {
            w.stop.store(true, Ordering::Relaxed);
        }
        self.workers.retain(|_, w| !w.thread.is_finished());
    }

    /// Tells every helper to exit and waits up to `grace` for them, then
    /// stops the workers (their pipes close; helpers still there exit).
    pub fn shutdown(&mut self, grace: Duration) {
        self.hub.begin_exit();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.workers.values().any(|w| !w.thread.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
        }
        for w in self.workers.values() {
            w.stop.store(true, Ordering::Relaxed);
        }
        for (_, w) in self.workers.drain() {
            wait_finished(&w.thread, Duration::from_secs(1));
        }
    }
}

fn wait_finished(thread: &JoinHandle<()>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serve_session(session_id: u32, exe: &Path, hub: &Hub, stop: &AtomicBool) {
    let token = match session_token(session_id) {
        Ok(t) => t,
        // Nobody logged on (the logon screen, a session connecting): nothing to serve.
        Err(e) if is_error(&e, ERROR_NO_TOKEN) => {
            tracing::debug!(session_id, "no user in this session");
            return;
        }
        Err(e) => {
            tracing::warn!(session_id, error = %e, "WTSQueryUserToken failed; no session helper");
            return;
        }
    };
    match serve_session_inner(session_id, token, exe, hub, stop) {
        Ok(()) => tracing::debug!(session_id, "session worker ended"),
        Err(e) => tracing::warn!(session_id, error = format!("{e:#}"), "no session helper for this session"),
    }
}

/// The user of the session now, if it is still `user`: a helper is only
/// started again while the same logon lasts (not during logoff, not for
/// the next user of a reused session id).
fn same_logon(session_id: u32, user: &Sid) -> Option<OwnedHandle> {
    let token = session_token(session_id).ok()?;
    (token_user(raw(&token)).ok()? == *user).then_some(token)
}

fn serve_session_inner(session_id: u32, token: OwnedHandle, exe: &Path, hub: &Hub, stop: &AtomicBool) -> Result<()> {
    let user = token_user(raw(&token)).context("session token user")?;
    let pipe = Pipe::create(session_id, &user)?;
    tracing::info!(session_id, user = ?user, "serving session helper pipe");

    let stopping = || stop.load(Ordering::Relaxed) || hub.is_exiting();
    let mut token = Some(token);
    let mut helper: Option<OwnedHandle> = None;
    let mut delay = Duration::from_secs(5);
    let mut next_launch = Instant::now();
    while !stopping() {
        if !helper.as_ref().is_some_and(still_running) && Instant::now() >= next_launch {
            if let Some(gone) = helper.take() {
                // Its own errors went to a console nobody sees: this is the trace.
                tracing::warn!(session_id, exit_code = ?exit_code(&gone), "session helper exited");
            }
            // The first start uses the logon's token; later ones check first
            // that the logon is still there.
            let Some(launch_token) = token.take().or_else(|| same_logon(session_id, &user)) else {
                tracing::info!(session_id, "the session's user has gone; not starting the helper again");
                return Ok(());
            };
            match launch_helper(&launch_token, exe) {
                Ok(process) => {
                    // SAFETY: plain query on our own process handle.
                    let pid = unsafe { GetProcessId(raw(&process)) };
                    tracing::info!(session_id, pid, "session helper started");
                    helper = Some(process);
                }
                Err(e) => tracing::warn!(session_id, error = %e, "cannot start the session helper"),
            }
            next_launch = Instant::now() + delay;
            delay = (delay * 2).min(MAX_RESTART_DELAY);
        }
        // Wait for the helper; look again when it died and may be restarted.
        let waited = pipe.accept(&mut || {
            if stopping() {
                Some(io::Error::new(io::ErrorKind::Interrupted, "stopping"))
            } else if Instant::now() >= next_launch && !helper.as_ref().is_some_and(still_running) {
                Some(io::Error::new(io::ErrorKind::TimedOut, "helper gone"))
            } else {
                None
            }
        });
        match waited {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::TimedOut) => continue,
            Err(e) => {
                // ERROR_NO_DATA: a client came and went before we looked.
                if !is_error(&e, ERROR_NO_DATA) {
                    tracing::warn!(session_id, error = %e, "waiting for the session helper failed");
                    std::thread::sleep(Duration::from_secs(1));
                }
                pipe.disconnect();
                continue;
            }
        }
        let since = Instant::now();
        match serve_connection(&pipe, session_id, &user, hub, stop) {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(session_id, error = format!("{e:#}"), "session helper connection ended");
                // A client that is refused must not be able to spin us.
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        pipe.disconnect();
        if since.elapsed() > Duration::from_secs(60) {
            delay = Duration::from_secs(5);
        }
    }
    // Dropping the pipe closes it: a helper still connected sees it break.
    Ok(())
}

fn serve_connection(pipe: &Pipe, session_id: u32, user: &Sid, hub: &Hub, stop: &AtomicBool) -> Result<()> {
    let first: Option<HelperMessage> = read_frame(&mut pipe.io(stop, Duration::from_secs(10)))?;
    let hello = match first {
        Some(m @ HelperMessage::Hello { .. }) => m,
        Some(_) => bail!("the first message was not hello"),
        None => return Ok(()),
    };
    // Who is there is checked before anything it says is used.
    verify_client(pipe, session_id, user).context("refused a pipe client")?;
    if let HelperMessage::Hello { pid, .. } = &hello {
        tracing::info!(session_id, pid, "session helper connected");
    }
    let mut reply = hub.handle(session_id, hello);
    loop {
        write_frame(&mut pipe.io(stop, Duration::from_secs(10)), &reply)?;
        if reply == ServiceMessage::Exit {
            // Let the helper read it before the pipe is disconnected (which
            // discards unread data): wait for it to close its end.
            let mut drain = pipe.io(stop, Duration::from_secs(3));
            while let Ok(Some(_)) = read_frame::<_, HelperMessage>(&mut drain) {}
            return Ok(());
        }
        let Some(msg) = read_frame(&mut pipe.io(stop, IDLE_TIMEOUT))? else { return Ok(()) };
        reply = hub.handle(session_id, msg);
    }
}

// ---------------------------------------------------------------------------
// The helper, in the user's session.

fn current_session() -> Result<u32> {
    let mut session = 0u32;
    // SAFETY: out-parameter only.
    if unsafe { ProcessIdToSessionId(GetCurrentProcessId(), &mut session) } == 0 {
        return Err(last_error()).context("ProcessIdToSessionId");
    }
    Ok(session)
}

/// Opens this session's pipe, waiting up to 30 s for the service to create it.
fn connect(session_id: u32) -> Result<std::fs::File> {
    let name = wide(pipe_name(session_id));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // SAFETY: `name` is NUL-terminated and lives across the call.
        let h = unsafe {
            CreateFileW(
                name.as_ptr(),
                CLIENT_ACCESS,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                // The service may learn who we are, not act as us.
                SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                std::ptr::null_mut(),
            )
        };
        match owned(h) {
            Ok(handle) => return Ok(std::fs::File::from(handle)),
            Err(e) if Instant::now() < deadline && is_error(&e, ERROR_PIPE_BUSY) => {
                // SAFETY: as above.
                unsafe { WaitNamedPipeW(name.as_ptr(), 2000) };
            }
            Err(e) if Instant::now() < deadline && is_error(&e, ERROR_FILE_NOT_FOUND) => std::thread::sleep(Duration::from_millis(500)),
            Err(e) => return Err(e).with_context(|| format!("サービスのパイプ {} に接続できません", pipe_name(session_id))),
        }
    }
}

/// The pipe's server must be in session 0, where services run: a process
/// of the user that grabbed the name first would be in the user's session.
fn verify_server(pipe: &std::fs::File) -> Result<()> {
    let mut server_session = u32::MAX;
    // SAFETY: out-parameter only.
    if unsafe { GetNamedPipeServerSessionId(pipe.as_raw_handle(), &mut server_session) } == 0 {
        return Err(last_error()).context("GetNamedPipeServerSessionId");
    }
    if server_session != 0 {
        bail!("パイプのサーバーがサービスではありません (pipe server in session {server_session}, not 0)");
    }
    Ok(())
}

/// `lanward-agent session-helper`: runs until the service says exit or the
/// pipe breaks (service stopped, logoff).
pub fn run_helper() -> Result<()> {
    let session_id = current_session()?;
    if session_id == 0 {
        bail!("session-helper はユーザーのセッションで動かすものです (session 0 has no user desktop)");
    }
    let mut pipe = connect(session_id)?;
    verify_server(&pipe)?;
    // SAFETY: plain call.
    let pid = unsafe { GetCurrentProcessId() };
    let (answers_tx, answers) = mpsc::channel::<HelperMessage>();
    let open_boxes = Arc::new(AtomicUsize::new(0));
    let exchange = |pipe: &mut std::fs::File, msg: &HelperMessage| -> Result<bool> {
        write_frame(pipe, msg)?;
        match read_frame::<_, ServiceMessage>(pipe)? {
            None | Some(ServiceMessage::Exit) => Ok(false),
            Some(ServiceMessage::Ok) => Ok(true),
            Some(ServiceMessage::Notice { id, text }) => {
                show_box(id, text, false, &open_boxes, &answers_tx);
                Ok(true)
            }
            Some(ServiceMessage::Consent { id, text }) => {
                show_box(id, text, true, &open_boxes, &answers_tx);
                Ok(true)
            }
        }
    };
    if !exchange(&mut pipe, &HelperMessage::Hello { version: PROTOCOL_VERSION, pid })? {
        return Ok(());
    }
    let mut tracker = ForegroundTracker::default();
    let mut names = ProcessNames::default();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let mut outgoing: Vec<HelperMessage> = tracker.observe(foreground_sample(&mut names), crate::now_ms()).into_iter().collect();
        outgoing.extend(answers.try_iter());
        if outgoing.is_empty() {
            outgoing.push(HelperMessage::Heartbeat);
        }
        for msg in &outgoing {
            if !exchange(&mut pipe, msg)? {
                return Ok(());
            }
        }
    }
}

/// Shows a message box on its own thread (it blocks until answered) and
/// sends a consent answer back through `answers`.
fn show_box(id: u64, text: String, consent: bool, open: &Arc<AtomicUsize>, answers: &mpsc::Sender<HelperMessage>) {
    if open.fetch_add(1, Ordering::SeqCst) >= MAX_OPEN_BOXES {
        open.fetch_sub(1, Ordering::SeqCst);
        if consent {
            let _ = answers.send(HelperMessage::ConsentAnswer { id, answer: Answer::Failed });
        }
        return;
    }
    let (box_open, box_answers) = (Arc::clone(open), answers.clone());
    let spawned = std::thread::Builder::new().name("lanward-message-box".into()).spawn(move || {
        let (title, style) = if consent {
            // No is the default button: an Enter pressed by chance does not consent.
            (CONSENT_TITLE, MB_YESNO | MB_ICONQUESTION | MB_DEFBUTTON2)
        } else {
            (NOTICE_TITLE, MB_OK | MB_ICONINFORMATION)
        };
        // SAFETY: both strings are NUL-terminated and live across the call.
        let pressed = unsafe { MessageBoxW(std::ptr::null_mut(), wide(&text).as_ptr(), wide(title).as_ptr(), style | MB_TOPMOST | MB_SETFOREGROUND) };
        box_open.fetch_sub(1, Ordering::SeqCst);
        if consent {
            let answer = match pressed {
                IDYES => Answer::Yes,
                IDNO => Answer::No,
                _ => Answer::Failed,
            };
            let _ = box_answers.send(HelperMessage::ConsentAnswer { id, answer });
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(id, error = %e, "cannot show a message box");
        open.fetch_sub(1, Ordering::SeqCst);
        if consent {
            let _ = answers.send(HelperMessage::ConsentAnswer { id, answer: Answer::Failed });
        }
    }
}

/// Image names of recently seen processes: a process is opened once, not
/// every second.
#[derive(Default)]
struct ProcessNames(HashMap<u32, String>);

impl ProcessNames {
    fn get(&mut self, pid: u32) -> String {
        if let Some(name) = self.0.get(&pid) {
            return name.clone();
        }
        let name = process_image_name(pid).unwrap_or_default();
        if self.0.len() >= 256 {
            // Process ids are reused: an old entry may be stale anyway.
            self.0.clear();
        }
        self.0.insert(pid, name.clone());
        name
    }
}

/// The file name (not the path: it may hold the user's name) of a process's image.
fn process_image_name(pid: u32) -> Option<String> {
    // SAFETY: the handle is owned and closed; the buffer length is passed in and updated.
    unsafe {
        let process = owned(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid)).ok()?;
        let mut buf = vec![0u16; 1024];
        let mut len = buf.len() as u32;
        if QueryFullProcessImageNameW(raw(&process), PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len) == 0 {
            return None;
        }
        let path = PathBuf::from(OsString::from_wide(&buf[..(len as usize).min(buf.len())]));
        path.file_name().map(|n| n.to_string_lossy().into_owned())
    }
}

fn foreground_sample(names: &mut ProcessNames) -> Option<WindowSample> {
    // SAFETY: window calls on a handle that may vanish at any time; they then
    // fail harmlessly. The title buffer length is passed in.
    unsafe {
        let hwnd = GetForegroundWindow();
        if hwnd.is_null() {
            return None;
        }
        let mut buf = [0u16; 512];
        let n = GetWindowTextW(hwnd, buf.as_mut_ptr(), buf.len() as i32).clamp(0, buf.len() as i32) as usize;
        let title = String::from_utf16_lossy(&buf[..n]);
        let mut pid = 0u32;
        GetWindowThreadProcessId(hwnd, &mut pid);
        Some(WindowSample { window: hwnd as usize as u64, pid, title, process: names.get(pid) })
    }
}
