//! USB devices plugged in and out on Windows.
//!
//! How: a hidden message-only window registered with
//! `RegisterDeviceNotificationW` for two device interface classes, USB
//! devices (`GUID_DEVINTERFACE_USB_DEVICE`) and disks
//! (`GUID_DEVINTERFACE_DISK`). Chosen over WMI
//! `__InstanceCreationEvent ... WITHIN 2` because that query makes WMI poll
//! every `Win32_PnPEntity` every 2 s on 680 PCs, and its enumerator blocks
//! in `Next(WBEM_INFINITE)` until the next device event, so a stop would
//! wait for the next plug. The window's loop wakes every 500 ms, sees the
//! stop at once, and notifications arrive as they happen.
//!
//! A notification names the device interface
//! (`\\?\USB#VID_0781&PID_5567#4C53...#{a5dcbf10-...}`), which becomes the
//! device instance ID (`USB\VID_0781&PID_5567\4C53...`); vendor and product
//! ids and the serial come from that ID, the description and driver from
//! the device's key under `HKLM\SYSTEM\CurrentControlSet\Enum`.
//!
//! A USB stick shows up twice: as the USB device (driver `USBSTOR`, ids
//! but no names) and, once its driver runs, as a disk
//! (`USBSTOR\Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00\<serial>&0`, names,
//! no ids). [`DeviceTracker`] holds a storage device back for up to
//! [`PAIR_WAIT_MS`] to pair it with its disk and records one event with
//! both; a storage device whose disk never appears (USB storage blocked by
//! policy, say) is still recorded, alone. Hubs and interfaces of composite
//! devices are left out; devices present when the agent starts are not
//! events (as on Linux).

use crate::events::{Detail, EventKind};
use std::collections::HashMap;

/// How long a USB storage device waits for its disk before it is recorded
/// alone (the first plug of a new stick installs drivers: a few seconds).
pub const PAIR_WAIT_MS: i64 = 8_000;
/// Devices remembered at most (a sane machine has a few dozen).
const MAX_TRACKED: usize = 512;

/// What a device instance ID says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceId {
    /// `USB\VID_xxxx&PID_xxxx\SERIAL`: a USB device (ids in lower case, as
    /// Linux shows them).
    Usb { vid: String, pid: String, serial: Option<String> },
    /// `USBSTOR\Disk&Ven_..&Prod_..&Rev_..\SERIAL&0`: the disk of a USB
    /// storage device.
    UsbDisk { vendor: Option<String>, product: Option<String>, serial: Option<String> },
}

/// `\\?\USB#VID_0781&PID_5567#SERIAL#{guid}` → `USB\VID_0781&PID_5567\SERIAL`;
/// `None` for anything not shaped like an interface path.
pub fn interface_path_to_instance_id(path: &str) -> Option<String> {
    let rest = path.strip_prefix(r"\\?\").or_else(|| path.strip_prefix(r"\??\"))?;
    // The interface class GUID is the last part.
    let (device, guid) = rest.rsplit_once('#')?;
    if !(guid.starts_with('{') && guid.ends_with('}')) || device.split('#').count() != 3 || device.split('#').any(str::is_empty) {
        return None;
    }
    Some(device.replace('#', "\\").to_ascii_uppercase())
}

/// A serial Windows made up because the device has none: such IDs contain
/// `&` (`7&2a8d1c3&0&1`) and change from port to port, so they are no
/// serial.
fn real_serial(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && !s.contains('&')).then(|| s.to_string())
}

fn hex4(s: &str) -> Option<String> {
    (s.len() == 4 && s.chars().all(|c| c.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// `Ven_SanDisk` → `SanDisk` (Windows writes spaces as `_`).
fn id_text(s: &str) -> Option<String> {
    let t = s.replace('_', " ");
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Parses a device instance ID; `None` for what is not a USB device or a
/// USB disk (hubs without ids, interfaces of composite devices `&MI_xx`,
/// other buses). Never panics on any input.
pub fn parse_instance_id(id: &str) -> Option<DeviceId> {
    let mut parts = id.split('\\');
    let (bus, hardware, instance) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    if bus.eq_ignore_ascii_case("USB") {
        let mut vid = None;
        let mut pid = None;
        for field in hardware.split('&') {
            let upper = field.to_ascii_uppercase();
            if let Some(v) = upper.strip_prefix("VID_") {
                vid = hex4(v);
            } else if let Some(p) = upper.strip_prefix("PID_") {
                pid = hex4(p);
            } else if upper.starts_with("MI_") {
                // One interface of a composite device: its parent is the device.
                return None;
            }
        }
        return Some(DeviceId::Usb { vid: vid?, pid: pid?, serial: real_serial(instance) });
    }
    if bus.eq_ignore_ascii_case("USBSTOR") {
        let mut vendor = None;
        let mut product = None;
        for field in hardware.split('&') {
            match field.split_once('_') {
                Some((k, v)) if k.eq_ignore_ascii_case("Ven") => vendor = id_text(v),
                Some((k, v)) if k.eq_ignore_ascii_case("Prod") => product = id_text(v),
                _ => {}
            }
        }
        // The serial ends in `&<LUN>`.
        let serial = match instance.rsplit_once('&') {
            Some((s, lun)) if !lun.is_empty() && lun.chars().all(|c| c.is_ascii_digit()) => real_serial(s),
            _ => real_serial(instance),
        };
        return Some(DeviceId::UsbDisk { vendor, product, serial });
    }
    None
}

/// A registry `DeviceDesc` as people read it: `@usb.inf,%usb.desc%;USB
/// Composite Device` → `USB Composite Device`.
pub fn device_desc_text(raw: &str) -> Option<String> {
    let text = if raw.starts_with('@') { raw.rsplit_once(';').map(|(_, t)| t).unwrap_or("") } else { raw };
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The drivers that make a USB device a storage device (`USBSTOR`, and
/// `UASPStor` for USB-attached SCSI).
pub fn is_storage_service(service: &str) -> bool {
    service.eq_ignore_ascii_case("USBSTOR") || service.eq_ignore_ascii_case("UASPStor")
}

/// Hub drivers (`usbhub`, `USBHUB3`...): hubs are not events.
pub fn is_hub_service(service: &str) -> bool {
    service.to_ascii_lowercase().starts_with("usbhub")
}

/// What is known about a device when its notification arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device instance ID, e.g. `USB\VID_0781&PID_5567\4C53...`.
    pub instance: String,
    pub id: DeviceId,
    /// `DeviceDesc` from the registry.
    pub description: Option<String>,
    /// Driver service from the registry (`USBSTOR`, `HidUsb`...).
    pub service: Option<String>,
}

impl DeviceInfo {
    fn is_storage(&self) -> bool {
        match &self.id {
            DeviceId::UsbDisk { .. } => true,
            DeviceId::Usb { .. } => self.service.as_deref().is_some_and(is_storage_service),
        }
    }

    fn serial(&self) -> Option<&str> {
        match &self.id {
            DeviceId::Usb { serial, .. } | DeviceId::UsbDisk { serial, .. } => serial.as_deref(),
        }
    }

    /// The event's detail for this device alone.
    pub fn detail(&self) -> Detail {
        let (vendor, product) = match &self.id {
            DeviceId::Usb { vid, pid, .. } => (Some(vid.clone()), Some(match &self.description {
                Some(d) => format!("{d} ({pid})"),
                None => pid.clone(),
            })),
            DeviceId::UsbDisk { vendor, product, .. } => (vendor.clone(), product.clone().or(self.description.clone())),
        };
        Detail {
            device_class: Some(if self.is_storage() { "usb_storage" } else { "usb" }.to_string()),
            vendor,
            product,
            serial: self.serial().map(str::to_string),
            path: Some(self.instance.clone()),
            ..Default::default()
        }
    }
}

/// One USB storage device and its disk in one detail: names from the disk,
/// ids from the device (`SanDisk (0781)`, as on Linux), the disk's ID as
/// the path.
pub fn paired_detail(usb: &DeviceInfo, disk: &DeviceInfo) -> Detail {
    let mut d = disk.detail();
    if let DeviceId::Usb { vid, pid, serial } = &usb.id {
        d.vendor = Some(match d.vendor {
            Some(v) => format!("{v} ({vid})"),
            None => vid.clone(),
        });
        d.product = Some(match d.product {
            Some(p) => format!("{p} ({pid})"),
            None => pid.clone(),
        });
        if d.serial.is_none() {
            d.serial = serial.clone();
        }
    }
    d
}

/// One event to record: when, what, about which device.
pub type DeviceEvent = (i64, EventKind, Detail);

/// Turns arrivals and removals into connect/disconnect events, pairing
/// each USB storage device with its disk (see the module comment).
#[derive(Debug, Default)]
pub struct DeviceTracker {
    /// Storage devices waiting for their disk, with their arrival time.
    pending: Vec<(DeviceInfo, i64)>,
    /// Recorded as connected, by instance ID: the detail a disconnect repeats.
    present: HashMap<String, Detail>,
    /// Disk instance → the USB device it was paired with.
    paired: HashMap<String, String>,
}

impl DeviceTracker {
    /// A device arrived at `now_ms`.
    pub fn arrived(&mut self, dev: DeviceInfo, now_ms: i64) -> Vec<DeviceEvent> {
        let mut out = self.expire(now_ms);
        if self.present.contains_key(&dev.instance) || self.pending.iter().any(|(p, _)| p.instance == dev.instance) {
            // The same device through a second interface, or twice.
            return out;
        }
        if self.present.len() >= MAX_TRACKED {
            self.present.clear();
            self.paired.clear();
        }
        match &dev.id {
            DeviceId::Usb { .. } if dev.service.as_deref().is_some_and(is_hub_service) => {}
            DeviceId::Usb { .. } if dev.is_storage() => self.pending.push((dev, now_ms)),
            DeviceId::Usb { .. } => {
                let d = dev.detail();
                self.present.insert(dev.instance, d.clone());
                out.push((now_ms, EventKind::DeviceConnect, d));
            }
            DeviceId::UsbDisk { .. } => {
                // Its device: same serial, or else the oldest storage device
                // waiting without a serial (a stick without one gets a made-up
                // ID on each side).
                let at = self
                    .pending
                    .iter()
                    .position(|(p, _)| dev.serial().is_some() && p.serial() == dev.serial())
                    .or_else(|| self.pending.iter().position(|(p, _)| p.serial().is_none()));
                match at {
                    Some(i) => {
                        let (usb, arrived_ms) = self.pending.remove(i);
                        let d = paired_detail(&usb, &dev);
                        self.paired.insert(dev.instance.clone(), usb.instance.clone());
                        self.present.insert(usb.instance, d.clone());
                        out.push((arrived_ms, EventKind::DeviceConnect, d));
                    }
                    None => {
                        let d = dev.detail();
                        self.present.insert(dev.instance, d.clone());
                        out.push((now_ms, EventKind::DeviceConnect, d));
                    }
                }
            }
        }
        out
    }

    /// A device went at `now_ms`. `dev` is what can still be learnt about
    /// it (the notification's ID, the registry), used when it was present
    /// before the agent started.
    pub fn removed(&mut self, dev: DeviceInfo, now_ms: i64) -> Vec<DeviceEvent> {
        let mut out = self.expire(now_ms);
        if let Some(i) = self.pending.iter().position(|(p, _)| p.instance == dev.instance) {
            // Gone before its disk appeared: it was there all the same.
            let (usb, arrived_ms) = self.pending.remove(i);
            let d = usb.detail();
            out.push((arrived_ms, EventKind::DeviceConnect, d.clone()));
            out.push((now_ms, EventKind::DeviceDisconnect, d));
            return out;
        }
        if self.paired.remove(&dev.instance).is_some() {
            // The disk of a recorded device: its device's removal says it.
            return out;
        }
        if let Some(d) = self.present.remove(&dev.instance) {
            self.paired.retain(|_, usb| *usb != dev.instance);
            out.push((now_ms, EventKind::DeviceDisconnect, d));
            return out;
        }
        // Unknown (present at start). Disks are left to their USB device.
        match &dev.id {
            DeviceId::Usb { .. } if !dev.service.as_deref().is_some_and(is_hub_service) => {
                out.push((now_ms, EventKind::DeviceDisconnect, dev.detail()));
            }
            _ => {}
        }
        out
    }

    /// Storage devices that waited long enough for a disk, recorded alone.
    pub fn expire(&mut self, now_ms: i64) -> Vec<DeviceEvent> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if now_ms - self.pending[i].1 >= PAIR_WAIT_MS || now_ms < self.pending[i].1 {
                let (usb, arrived_ms) = self.pending.remove(i);
                let mut d = usb.detail();
                d.reason = Some("no disk appeared".into());
                self.present.insert(usb.instance, d.clone());
                out.push((arrived_ms, EventKind::DeviceConnect, d));
            } else {
                i += 1;
            }
        }
        out
    }
}

#[cfg(windows)]
pub use sys::WinDeviceSource;

#[cfg(windows)]
mod sys {
    use super::{interface_path_to_instance_id, parse_instance_id, DeviceInfo, DeviceTracker};
    use crate::oplog::win_common::{console_session, create_message_window, pump_messages, wide_z_to_string};
    use crate::oplog::{EventSink, EventSource};
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::thread::JoinHandle;
    use std::time::Duration;
    use windows_sys::core::GUID;
    use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
    use windows_sys::Win32::UI::WindowsAndMessaging as wm;

    const GUID_DEVINTERFACE_USB_DEVICE: GUID = GUID::from_u128(0xa5dcbf10_6530_11d2_901f_00c04fb951ed);
    const GUID_DEVINTERFACE_DISK: GUID = GUID::from_u128(0x53f56307_b6bf_11d0_94f2_00a0c91efb8b);

    thread_local! {
        /// Notifications the window procedure saw: (arrival?, interface path).
        static SEEN: RefCell<Vec<(bool, String)>> = const { RefCell::new(Vec::new()) };
    }

    unsafe extern "system" fn wndproc(hwnd: HWND, msg: u32, wparam: WPARAM, lparam: LPARAM) -> LRESULT {
        if msg == wm::WM_DEVICECHANGE && lparam != 0 {
            let arrival = wparam as u32 == wm::DBT_DEVICEARRIVAL;
            if arrival || wparam as u32 == wm::DBT_DEVICEREMOVECOMPLETE {
                // SAFETY: for these two codes lparam points to a
                // DEV_BROADCAST_HDR whose size covers the whole structure.
                let hdr = unsafe { &*(lparam as *const wm::DEV_BROADCAST_HDR) };
                if hdr.dbch_devicetype == wm::DBT_DEVTYP_DEVICEINTERFACE {
                    let base = lparam as *const u8;
                    let offset = std::mem::offset_of!(wm::DEV_BROADCAST_DEVICEINTERFACE_W, dbcc_name);
                    let chars = (hdr.dbch_size as usize).saturating_sub(offset) / 2;
                    // SAFETY: the name is NUL-terminated within dbch_size.
                    let name = unsafe { wide_z_to_string(base.add(offset) as *const u16, chars) };
                    SEEN.with(|s| s.borrow_mut().push((arrival, name)));
                }
            }
            return 1;
        }
        unsafe { wm::DefWindowProcW(hwnd, msg, wparam, lparam) }
    }

    /// What the registry says about a device (`Enum\<instance>`).
    fn device_info(instance: String) -> Option<DeviceInfo> {
        let id = parse_instance_id(&instance)?;
        let key = crate::collect::windows::reg::open(&crate::collect::windows::reg::hklm(), "HKLM", &format!(r"SYSTEM\CurrentControlSet\Enum\{instance}")).ok().flatten();
        let (description, service) = match &key {
            Some(k) => (
                crate::collect::windows::reg::string(k, "DeviceDesc").and_then(|d| super::device_desc_text(&d)),
                crate::collect::windows::reg::string(k, "Service"),
            ),
            None => (None, None),
        };
        Some(DeviceInfo { instance, id, description, service })
    }

    pub struct WinDeviceSource;

    impl EventSource for WinDeviceSource {
        fn name(&self) -> &'static str {
            "win_devices"
        }

        fn start(self: Box<Self>, sink: EventSink, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
            let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
            let handle = std::thread::Builder::new()
                .name("oplog-win_devices".into())
                .spawn(move || {
                    // The window and its notifications belong to this thread.
                    let window = match create_message_window("lanward-oplog-devices", wndproc) {
                        Ok(w) => w,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let mut registrations = Vec::new();
                    for guid in [GUID_DEVINTERFACE_USB_DEVICE, GUID_DEVINTERFACE_DISK] {
                        let filter = wm::DEV_BROADCAST_DEVICEINTERFACE_W {
                            dbcc_size: std::mem::size_of::<wm::DEV_BROADCAST_DEVICEINTERFACE_W>() as u32,
                            dbcc_devicetype: wm::DBT_DEVTYP_DEVICEINTERFACE,
                            dbcc_classguid: guid,
                            ..Default::default()
                        };
                        // SAFETY: a valid window of this thread and a filter that lives through the call.
                        let h = unsafe { wm::RegisterDeviceNotificationW(window.hwnd(), &filter as *const _ as *const _, wm::DEVICE_NOTIFY_WINDOW_HANDLE) };
                        if h.is_null() {
                            let _ = ready_tx.send(Err(format!("RegisterDeviceNotification: {}", std::io::Error::last_os_error())));
                            return;
                        }
                        registrations.push(h);
                    }
                    let _ = ready_tx.send(Ok(()));
                    let mut tracker = DeviceTracker::default();
                    while !stop.load(Ordering::Relaxed) {
                        pump_messages(&[], Duration::from_millis(500));
                        let seen = SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()));
                        let now = crate::now_ms();
                        let mut events = Vec::new();
                        for (arrival, path) in seen {
                            let Some(info) = interface_path_to_instance_id(&path).and_then(device_info) else { continue };
                            events.extend(if arrival { tracker.arrived(info, now) } else { tracker.removed(info, now) });
                        }
                        events.extend(tracker.expire(now));
                        if !events.is_empty() {
                            // Plugging a device in takes someone at the console.
                            let (session, user) = console_session();
                            for (at, kind, detail) in events {
                                sink.record(Some(at), kind, session, user.as_deref(), Some(detail));
                            }
                        }
                    }
                    for h in registrations {
                        // SAFETY: handles from RegisterDeviceNotificationW above.
                        unsafe { wm::UnregisterDeviceNotification(h) };
                    }
                })
                .map_err(|e| format!("cannot start a thread: {e}"))?;
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(())) => Ok(handle),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("the device window did not start within 30 s".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(instance: &str, description: Option<&str>, service: Option<&str>) -> DeviceInfo {
        DeviceInfo { instance: instance.into(), id: parse_instance_id(instance).unwrap(), description: description.map(Into::into), service: service.map(Into::into) }
    }

    const STICK: &str = r"USB\VID_0781&PID_5567\4C530001230101117415";
    const STICK_DISK: &str = r"USBSTOR\DISK&VEN_SANDISK&PROD_CRUZER_BLADE&REV_1.00\4C530001230101117415&0";

    #[test]
    fn interface_paths_become_instance_ids() {
        assert_eq!(
            interface_path_to_instance_id(r"\\?\USB#VID_0781&PID_5567#4C530001230101117415#{a5dcbf10-6530-11d2-901f-00c04fb951ed}").as_deref(),
            Some(STICK)
        );
        assert_eq!(
            interface_path_to_instance_id(r"\\?\USBSTOR#Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00#4C530001230101117415&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}").as_deref(),
            Some(STICK_DISK)
        );
        for bad in ["", r"\\?\", r"\\?\USB#VID_1#{x}", r"USB#VID_0781&PID_5567#X#{g}", r"\\?\USB#VID_0781&PID_5567#X#nogu", r"\\?\USB##X#{g}", "\\\\?\\#\u{3042}#{}"] {
            assert_eq!(interface_path_to_instance_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn instance_ids_give_ids_names_and_real_serials_only() {
        assert_eq!(parse_instance_id(STICK), Some(DeviceId::Usb { vid: "0781".into(), pid: "5567".into(), serial: Some("4C530001230101117415".into()) }));
        assert_eq!(
            parse_instance_id(STICK_DISK),
            Some(DeviceId::UsbDisk { vendor: Some("SANDISK".into()), product: Some("CRUZER BLADE".into()), serial: Some("4C530001230101117415".into()) })
        );
        assert_eq!(
            parse_instance_id(r"USBSTOR\Disk&Ven_BUFFALO&Prod_USB_Flash_Disk&Rev_4000\7&2a8d1c3&0&1&0"),
            Some(DeviceId::UsbDisk { vendor: Some("BUFFALO".into()), product: Some("USB Flash Disk".into()), serial: None })
        );
        // No serial: Windows makes one up from the port.
        assert_eq!(parse_instance_id(r"USB\VID_046D&PID_C077\5&1a2b3c4d&0&2"), Some(DeviceId::Usb { vid: "046d".into(), pid: "c077".into(), serial: None }));
        for skipped in [r"USB\VID_046D&PID_C52B&MI_00\7&1&0&0000", r"USB\ROOT_HUB30\4&2d&0&0", r"PCI\VEN_8086&DEV_A36D\3&11", r"USB\VID_XYZ&PID_5567\1", "USB\\VID_0781", r"USB\VID_0781&PID_5567\A\B", ""] {
            assert_eq!(parse_instance_id(skipped), None, "{skipped:?}");
        }
    }

    #[test]
    fn descriptions_drop_the_inf_reference() {
        assert_eq!(device_desc_text("@usb.inf,%usb\\compositeclass.devicedesc%;USB Composite Device").as_deref(), Some("USB Composite Device"));
        assert_eq!(device_desc_text("USB 大容量記憶装置").as_deref(), Some("USB 大容量記憶装置"));
        assert_eq!(device_desc_text("@usb.inf,%x%"), None);
        assert_eq!(device_desc_text("  "), None);
    }

    #[test]
    fn a_stick_and_its_disk_are_one_connect_and_one_disconnect() {
        let mut t = DeviceTracker::default();
        assert!(t.arrived(info(STICK, Some("USB 大容量記憶装置"), Some("USBSTOR")), 1_000).is_empty(), "waits for its disk");
        let got = t.arrived(info(STICK_DISK, Some("SanDisk Cruzer Blade USB Device"), Some("disk")), 2_500);
        assert_eq!(got.len(), 1);
        let (at, kind, d) = &got[0];
        assert_eq!((*at, *kind), (1_000, EventKind::DeviceConnect));
        assert_eq!(d.device_class.as_deref(), Some("usb_storage"));
        assert_eq!((d.vendor.as_deref(), d.product.as_deref()), (Some("SANDISK (0781)"), Some("CRUZER BLADE (5567)")));
        assert_eq!(d.serial.as_deref(), Some("4C530001230101117415"));
        assert_eq!(d.path.as_deref(), Some(STICK_DISK));
        // The same device through a second interface: nothing new.
        assert!(t.arrived(info(STICK, None, Some("USBSTOR")), 2_600).is_empty());
        // Removal: the disk first, then the device; one disconnect.
        assert!(t.removed(info(STICK_DISK, None, None), 9_000).is_empty());
        let got = t.removed(info(STICK, None, Some("USBSTOR")), 9_010);
        assert_eq!(got, vec![(9_010, EventKind::DeviceDisconnect, d.clone())]);
        assert!(t.expire(100_000).is_empty());
    }

    #[test]
    fn a_blocked_stick_is_recorded_without_its_disk() {
        let mut t = DeviceTracker::default();
        assert!(t.arrived(info(STICK, Some("USB 大容量記憶装置"), Some("USBSTOR")), 1_000).is_empty());
        assert!(t.expire(1_000 + PAIR_WAIT_MS - 1).is_empty());
        let got = t.expire(1_000 + PAIR_WAIT_MS);
        assert_eq!(got.len(), 1);
        let (at, kind, d) = &got[0];
        assert_eq!((*at, *kind), (1_000, EventKind::DeviceConnect));
        assert_eq!((d.device_class.as_deref(), d.vendor.as_deref(), d.product.as_deref()), (Some("usb_storage"), Some("0781"), Some("USB 大容量記憶装置 (5567)")));
        assert_eq!(d.reason.as_deref(), Some("no disk appeared"));
        assert_eq!(t.removed(info(STICK, None, Some("USBSTOR")), 20_000)[0].1, EventKind::DeviceDisconnect);
    }

    #[test]
    fn pulled_before_its_disk_appeared_is_a_connect_and_a_disconnect() {
        let mut t = DeviceTracker::default();
        t.arrived(info(STICK, None, Some("USBSTOR")), 1_000);
        let got = t.removed(info(STICK, None, Some("USBSTOR")), 2_000);
        assert_eq!(got.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(), [(1_000, EventKind::DeviceConnect), (2_000, EventKind::DeviceDisconnect)]);
    }

    #[test]
    fn sticks_without_serials_pair_with_the_waiting_one() {
        let mut t = DeviceTracker::default();
        t.arrived(info(r"USB\VID_0411&PID_01E8\5&1a2b&0&3", None, Some("USBSTOR")), 1_000);
        let got = t.arrived(info(r"USBSTOR\Disk&Ven_BUFFALO&Prod_USB_Flash_Disk&Rev_4000\7&2a8d1c3&0&1&0", None, None), 1_500);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].2.vendor.as_deref(), Some("BUFFALO (0411)"));
        assert_eq!(got[0].2.serial, None);
    }

    #[test]
    fn mice_connect_at_once_hubs_never_and_unknown_removals_still_count() {
        let mut t = DeviceTracker::default();
        let mouse = info(r"USB\VID_046D&PID_C077\5&1a2b3c4d&0&2", Some("USB 入力デバイス"), Some("HidUsb"));
        let got = t.arrived(mouse.clone(), 5);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].2.device_class.as_deref(), got[0].2.product.as_deref()), (Some("usb"), Some("USB 入力デバイス (c077)")));
        assert!(t.arrived(info(r"USB\VID_05E3&PID_0610\6&1&0&1", Some("Generic USB Hub"), Some("USBHUB3")), 6).is_empty());
        assert!(t.removed(info(r"USB\VID_05E3&PID_0610\6&1&0&1", None, Some("USBHUB3")), 7).is_empty());
        assert_eq!(t.removed(mouse, 8).len(), 1);
        // Plugged in before the agent started.
        let got = t.removed(info(STICK, None, Some("USBSTOR")), 9);
        assert_eq!((got[0].1, got[0].2.serial.as_deref()), (EventKind::DeviceDisconnect, Some("4C530001230101117415")));
        assert!(t.removed(info(STICK_DISK, None, None), 10).is_empty(), "left to its device");
    }

    #[test]
    fn a_disk_without_a_waiting_device_is_recorded_alone() {
        let mut t = DeviceTracker::default();
        let got = t.arrived(info(STICK_DISK, Some("SanDisk Cruzer Blade USB Device"), None), 1);
        assert_eq!((got[0].2.vendor.as_deref(), got[0].2.device_class.as_deref()), (Some("SANDISK"), Some("usb_storage")));
        assert_eq!(t.removed(info(STICK_DISK, None, None), 2)[0].1, EventKind::DeviceDisconnect);
    }
}
