//! USB devices plugged in and out, from sysfs.
//!
//! Every few seconds the source lists `/sys/bus/usb/devices`: entries like
//! `1-1` or `2-1.4` are devices (with `idVendor`, `idProduct`,
//! `manufacturer`, `product`, `serial`), entries like `1-1:1.0` their
//! interfaces (`bInterfaceClass`, 08 = mass storage). Root hubs (`usb1`) and
//! hubs (device class 09) are left out. What appeared since the last look is
//! a `device_connect`, what went a `device_disconnect`, with the class
//! `usb_storage` when an interface is mass storage (`usb` otherwise). The
//! devices present when the agent starts are the baseline, not events.

use super::{EventSink, EventSource};
use crate::events::{Detail, EventKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// USB interface class: mass storage.
pub const CLASS_MASS_STORAGE: &str = "08";
/// USB device class: hub.
pub const CLASS_HUB: &str = "09";
/// Devices listed at most (a sane machine has a few dozen).
const MAX_DEVICES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    /// The sysfs name, e.g. `1-1.2` (bus and port path).
    pub name: String,
    pub vendor_id: String,
    pub product_id: String,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
    pub storage: bool,
}

impl UsbDevice {
    /// What the event says about the device.
    pub fn detail(&self) -> Detail {
        let named = |id: &str, name: &Option<String>| match name {
            Some(n) => format!("{n} ({id})"),
            None => id.to_string(),
        };
        Detail {
            device_class: Some(if self.storage { "usb_storage" } else { "usb" }.to_string()),
            vendor: Some(named(&self.vendor_id, &self.manufacturer)),
            product: Some(named(&self.product_id, &self.product)),
            serial: self.serial.clone(),
            path: Some(format!("usb {}", self.name)),
            ..Default::default()
        }
    }

    /// Same port, same device: a different stick in the same port is a
    /// disconnect and a connect.
    fn key(&self) -> (String, String, String, Option<String>) {
        (self.name.clone(), self.vendor_id.clone(), self.product_id.clone(), self.serial.clone())
    }
}

/// One attribute file, trimmed; `None` when missing, empty or unreadable.
fn attr(dir: &Path, name: &str) -> Option<String> {
    let bytes = std::fs::read(dir.join(name)).ok()?;
    let text: String = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).chars().filter(|c| !c.is_control()).collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The USB devices under `root` (normally `/sys/bus/usb/devices`), by name.
pub fn scan(root: &Path) -> std::io::Result<Vec<UsbDevice>> {
    let mut names: Vec<String> = std::fs::read_dir(root)?.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut storage_devices = std::collections::BTreeSet::new();
    for name in &names {
        if let Some((device, _)) = name.split_once(':') {
            if attr(&root.join(name), "bInterfaceClass").as_deref() == Some(CLASS_MASS_STORAGE) {
                storage_devices.insert(device.to_string());
            }
        }
    }
    let mut out = Vec::new();
    for name in names {
        if name.contains(':') || name.starts_with("usb") {
            continue;
        }
        let dir = root.join(&name);
        let Some(vendor_id) = attr(&dir, "idVendor") else { continue };
        if attr(&dir, "bDeviceClass").as_deref() == Some(CLASS_HUB) {
            continue;
        }
        out.push(UsbDevice {
            storage: storage_devices.contains(&name),
            vendor_id,
            product_id: attr(&dir, "idProduct").unwrap_or_default(),
            manufacturer: attr(&dir, "manufacturer"),
            product: attr(&dir, "product"),
            serial: attr(&dir, "serial"),
            name,
        });
        if out.len() >= MAX_DEVICES {
            break;
        }
    }
    Ok(out)
}

/// What connected and what disconnected between two looks.
pub fn diff(before: &[UsbDevice], now: &[UsbDevice]) -> (Vec<UsbDevice>, Vec<UsbDevice>) {
    let old: BTreeMap<_, _> = before.iter().map(|d| (d.key(), d)).collect();
    let new: BTreeMap<_, _> = now.iter().map(|d| (d.key(), d)).collect();
    let connected = now.iter().filter(|d| !old.contains_key(&d.key())).cloned().collect();
    let disconnected = before.iter().filter(|d| !new.contains_key(&d.key())).cloned().collect();
    (connected, disconnected)
}

pub struct UsbSource {
    pub root: PathBuf,
    pub interval: Duration,
    known: Vec<UsbDevice>,
}

impl UsbSource {
    pub fn new(root: PathBuf) -> Self {
        UsbSource { root, interval: Duration::from_secs(3), known: Vec::new() }
    }

    pub fn system() -> Self {
        Self::new("/sys/bus/usb/devices".into())
    }

    /// Takes the baseline: the devices present now.
    pub fn baseline(&mut self) -> std::io::Result<usize> {
        self.known = scan(&self.root)?;
        Ok(self.known.len())
    }

    /// Looks again and records the changes; returns how many.
    pub fn poll(&mut self, sink: &EventSink) -> std::io::Result<usize> {
        let now = scan(&self.root)?;
        let (connected, disconnected) = diff(&self.known, &now);
        for d in &disconnected {
            sink.record(None, EventKind::DeviceDisconnect, None, None, Some(d.detail()));
        }
        for d in &connected {
            sink.record(None, EventKind::DeviceConnect, None, None, Some(d.detail()));
        }
        self.known = now;
        Ok(connected.len() + disconnected.len())
    }
}

impl EventSource for UsbSource {
    fn name(&self) -> &'static str {
        "usb_sysfs"
    }

    fn start(mut self: Box<Self>, sink: EventSink, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
        self.baseline().map_err(|e| format!("{}: {e}", self.root.display()))?;
        super::spawn_poller("usb", self.interval, stop, move || {
            if let Err(e) = self.poll(&sink) {
                tracing::debug!(error = %e, "cannot list USB devices");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{self, Journal};

    fn device(root: &Path, name: &str, attrs: &[(&str, &str)]) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (k, v) in attrs {
            std::fs::write(dir.join(k), format!("{v}\n")).unwrap();
        }
    }

    fn fake_sysfs(root: &Path) {
        device(root, "usb1", &[("idVendor", "1d6b"), ("idProduct", "0002"), ("bDeviceClass", "09")]);
        device(root, "1-0:1.0", &[("bInterfaceClass", "09")]);
        device(root, "1-1", &[("idVendor", "046d"), ("idProduct", "c077"), ("bDeviceClass", "00"), ("product", "USB Optical Mouse")]);
        device(root, "1-1:1.0", &[("bInterfaceClass", "03")]);
        device(root, "1-2", &[("idVendor", "05e3"), ("idProduct", "0610"), ("bDeviceClass", "09"), ("product", "USB2.0 Hub")]);
    }

    fn plug_stick(root: &Path) {
        device(
            root,
            "1-2.3",
            &[("idVendor", "0781"), ("idProduct", "5567"), ("bDeviceClass", "00"), ("manufacturer", "SanDisk"), ("product", "Cruzer Blade"), ("serial", "4C530001230101117415")],
        );
        device(root, "1-2.3:1.0", &[("bInterfaceClass", "08"), ("bInterfaceSubClass", "06")]);
    }

    #[test]
    fn scans_devices_marks_storage_and_skips_hubs() {
        let dir = tempfile::tempdir().unwrap();
        fake_sysfs(dir.path());
        plug_stick(dir.path());
        let devices = scan(dir.path()).unwrap();
        assert_eq!(devices.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["1-1", "1-2.3"]);
        assert!(!devices[0].storage);
        assert_eq!(devices[0].manufacturer, None);
        let stick = &devices[1];
        assert!(stick.storage);
        let d = stick.detail();
        assert_eq!(d.device_class.as_deref(), Some("usb_storage"));
        assert_eq!(d.vendor.as_deref(), Some("SanDisk (0781)"));
        assert_eq!(d.product.as_deref(), Some("Cruzer Blade (5567)"));
        assert_eq!(d.serial.as_deref(), Some("4C530001230101117415"));
        assert_eq!(d.path.as_deref(), Some("usb 1-2.3"));
        assert_eq!(devices[0].detail().device_class.as_deref(), Some("usb"));
        assert_eq!(devices[0].detail().vendor.as_deref(), Some("046d"));
    }

    #[test]
    fn plugging_and_unplugging_a_stick_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        fake_sysfs(&sys);
        let journal = events::shared(Journal::open(&dir.path().join("events"), events::DEFAULT_CAP_BYTES).unwrap());
        let sink = EventSink::new(Arc::clone(&journal));
        let mut src = UsbSource::new(sys.clone());
        assert_eq!(src.baseline().unwrap(), 1, "the mouse; present at start, not an event");
        assert_eq!(src.poll(&sink).unwrap(), 0);
        plug_stick(&sys);
        assert_eq!(src.poll(&sink).unwrap(), 1);
        assert_eq!(src.poll(&sink).unwrap(), 0);
        std::fs::remove_dir_all(sys.join("1-2.3")).unwrap();
        std::fs::remove_dir_all(sys.join("1-2.3:1.0")).unwrap();
        assert_eq!(src.poll(&sink).unwrap(), 1);
        let got = events::lock(&journal).read_all().unwrap();
        assert_eq!(got.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::DeviceConnect, EventKind::DeviceDisconnect]);
        for e in &got {
            let d = e.detail.as_ref().unwrap();
            assert_eq!((d.device_class.as_deref(), d.serial.as_deref()), (Some("usb_storage"), Some("4C530001230101117415")));
        }
    }

    #[test]
    fn another_stick_in_the_same_port_is_a_change() {
        let a = UsbDevice { name: "1-2".into(), vendor_id: "0781".into(), product_id: "5567".into(), manufacturer: None, product: None, serial: Some("A".into()), storage: true };
        let b = UsbDevice { serial: Some("B".into()), ..a.clone() };
        let (c, d) = diff(&[a.clone()], &[b.clone()]);
        assert_eq!((c, d), (vec![b], vec![a]));
    }

    #[test]
    fn no_sysfs_makes_the_source_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let journal = events::shared(Journal::open(&dir.path().join("events"), events::DEFAULT_CAP_BYTES).unwrap());
        let err = Box::new(UsbSource::new(dir.path().join("none"))).start(EventSink::new(journal), Arc::new(AtomicBool::new(true))).unwrap_err();
        assert!(err.contains("none"), "{err}");
    }
}
