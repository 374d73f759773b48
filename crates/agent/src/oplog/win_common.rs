//! Small Win32 helpers shared by the Windows event sources: a hidden
//! message-only window and its message pump, wide strings, the console
//! session's user.

use std::ffi::OsStr;
use std::os::windows::ffi::OsStrExt;
use std::time::Duration;
use windows_sys::Win32::Foundation::{HANDLE, HWND, LPARAM, LRESULT, WAIT_OBJECT_0, WPARAM};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::UI::WindowsAndMessaging as wm;

/// NUL-terminated UTF-16.
pub fn wide(s: impl AsRef<OsStr>) -> Vec<u16> {
    s.as_ref().encode_wide().chain(Some(0)).collect()
}

/// Text from a UTF-16 buffer of at most `max` characters, up to its first
/// NUL; invalid UTF-16 replaced.
///
/// # Safety
/// `p` must be valid for reads of `max` u16 (or up to a NUL before that).
pub unsafe fn wide_z_to_string(p: *const u16, max: usize) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller promises `max` readable characters.
    while len < max && unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` characters were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A hidden message-only window (`HWND_MESSAGE`): device notifications
/// need a window, and such a window needs no desktop (it works in session
/// 0, where the service runs). Destroyed on drop, on the thread that made it.
pub struct MessageWindow(HWND);

impl MessageWindow {
    pub fn hwnd(&self) -> HWND {
        self.0
    }
}

impl Drop for MessageWindow {
    fn drop(&mut self) {
        // SAFETY: our own window, destroyed once.
        unsafe { wm::DestroyWindow(self.0) };
    }
}

/// Creates a message-only window on the calling thread whose messages go
/// to `wndproc`. The window is of the system's `STATIC` class with its
/// procedure replaced: no class of our own to register (and no GDI types).
/// `name` tells our windows apart when debugging.
pub fn create_message_window(name: &str, wndproc: unsafe extern "system" fn(HWND, u32, WPARAM, LPARAM) -> LRESULT) -> Result<MessageWindow, String> {
    let class_w = wide("STATIC");
    let name_w = wide(name);
    // SAFETY: plain Win32 calls with valid, NUL-terminated strings that outlive them.
    unsafe {
        let instance = GetModuleHandleW(std::ptr::null());
        let hwnd = wm::CreateWindowExW(0, class_w.as_ptr(), name_w.as_ptr(), 0, 0, 0, 0, 0, wm::HWND_MESSAGE, std::ptr::null_mut(), instance, std::ptr::null());
        if hwnd.is_null() {
            return Err(format!("cannot create a message window: {}", std::io::Error::last_os_error()));
        }
        let window = MessageWindow(hwnd);
        // `as _`: isize on 64-bit Windows, i32 (SetWindowLongW) on 32-bit.
        wm::SetWindowLongPtrW(hwnd, wm::GWLP_WNDPROC, wndproc as usize as _);
        Ok(window)
    }
}

/// Waits up to `timeout` for one of `handles` or a window message,
/// dispatches every waiting message (sent ones included: a device query
/// arrives as a sent message) and returns the index of a signalled handle.
pub fn pump_messages(handles: &[HANDLE], timeout: Duration) -> Option<usize> {
    let n = handles.len().min(63) as u32;
    // SAFETY: `handles` holds `n` valid handles; MSG is plain data.
    unsafe {
        let r = wm::MsgWaitForMultipleObjects(n, handles.as_ptr(), 0, timeout.as_millis().min(u32::MAX as u128) as u32, wm::QS_ALLINPUT);
        let mut msg: wm::MSG = std::mem::zeroed();
        while wm::PeekMessageW(&mut msg, std::ptr::null_mut(), 0, 0, wm::PM_REMOVE) != 0 {
            wm::TranslateMessage(&msg);
            wm::DispatchMessageW(&msg);
        }
        let i = r.wrapping_sub(WAIT_OBJECT_0) as usize;
        (i < n as usize).then_some(i)
    }
}

/// The session at the physical console and its user: who plugs in a stick
/// or writes to it sits there (a remote user's drives are redirected, not
/// removable). `(None, None)` without a console session.
pub fn console_session() -> (Option<u32>, Option<String>) {
    // SAFETY: no arguments, no pointers.
    let session = unsafe { windows_sys::Win32::System::RemoteDesktop::WTSGetActiveConsoleSessionId() };
    if session == u32::MAX {
        return (None, None);
    }
    (Some(session), crate::session::windows::session_user(session))
}
