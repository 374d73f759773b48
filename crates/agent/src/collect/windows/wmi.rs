//! WMI queries with a time limit.
//!
//! A WMI provider can hang (a stuck driver, winmgmt still starting at boot,
//! a broken repository), and a hung collector would stop the agent from
//! checking in at all. So every query runs on a WMI thread and the caller
//! waits at most `wmi_timeout_secs` (default 20) for its answer; on timeout
//! that thread is abandoned (left detached, it ends by itself if the query
//! ever returns) and the next query starts a fresh one.
//!
//! The thread is kept between queries rather than started for each: COM is
//! initialised once per thread (`COMLibrary`, never uninitialised by the wmi
//! crate), and connections to a namespace are reused.

use crate::collect::CollectConfig;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

pub const CIMV2: &str = r"ROOT\CIMV2";
pub const SECURITY_CENTER2: &str = r"ROOT\SecurityCenter2";
pub const STORAGE: &str = r"ROOT\Microsoft\Windows\Storage";
pub const STANDARD_CIMV2: &str = r"ROOT\StandardCimv2";

const DEFAULT_TIMEOUT_SECS: u64 = 20;

/// Work for the WMI thread.
type Job = Box<dyn FnOnce(&mut Connections) + Send>;

/// The current WMI thread (its generation and job queue); `None` until the
/// first query or after a timeout.
static WORKER: Mutex<Option<(u64, mpsc::Sender<Job>)>> = Mutex::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How long one query may take.
pub fn timeout(config: &CollectConfig) -> Duration {
    Duration::from_secs(if config.wmi_timeout_secs == 0 { DEFAULT_TIMEOUT_SECS } else { config.wmi_timeout_secs })
}

/// Runs a WQL query in `namespace` and deserializes each row into `T`
/// (fields named like the WMI properties; properties may be NULL, so use
/// `Option`). Errors name the query and the reason, timeouts included.
pub fn query<T>(config: &CollectConfig, namespace: &str, wql: &str) -> Result<Vec<T>, String>
where
    T: DeserializeOwned + Send + 'static,
{
    let limit = timeout(config);
    let (tx, rx) = mpsc::channel();
    let (ns, q) = (namespace.to_string(), wql.to_string());
    let job: Job = Box::new(move |conns: &mut Connections| {
        // The caller may have given up already; then nobody listens.
        let _ = tx.send(conns.query::<T>(&ns, &q));
    });
    let generation = submit(job).map_err(|e| format!("WMI query `{wql}` in {namespace}: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(result) => result.map_err(|e| format!("WMI query `{wql}` in {namespace}: {e}")),
        Err(RecvTimeoutError::Timeout) => {
            abandon(generation);
            Err(format!("WMI query `{wql}` in {namespace} timed out after {}s", limit.as_secs()))
        }
        Err(RecvTimeoutError::Disconnected) => {
            abandon(generation);
            Err(format!("WMI query `{wql}` in {namespace}: the WMI thread ended without an answer"))
        }
    }
}

/// Hands a job to the WMI thread, starting one if there is none (or the
/// last one died). Returns the thread's generation.
fn submit(job: Job) -> Result<u64, String> {
    let mut worker = WORKER.lock().unwrap_or_else(|p| p.into_inner());
    let mut job = job;
    if let Some((generation, tx)) = worker.as_ref() {
        match tx.send(job) {
            Ok(()) => return Ok(*generation),
            // The thread is gone (it panicked); start another with the job.
            Err(mpsc::SendError(returned)) => job = returned,
        }
    }
    let (tx, rx) = mpsc::channel::<Job>();
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
    std::thread::Builder::new()
        .name(format!("lanward-wmi-{generation}"))
        .spawn(move || {
            let mut conns = Connections::default();
            // Ends when the sender is dropped (after a timeout) and the queue is empty.
            while let Ok(job) = rx.recv() {
                job(&mut conns);
            }
        })
        .map_err(|e| format!("cannot start the WMI thread: {e}"))?;
    tx.send(job).map_err(|_| "the WMI thread ended at once".to_string())?;
    *worker = Some((generation, tx));
    Ok(generation)
}

/// Forgets the WMI thread of `generation` (stuck on a query) so that the
/// next query starts a new one; a newer thread is left alone.
fn abandon(generation: u64) {
    let mut worker = WORKER.lock().unwrap_or_else(|p| p.into_inner());
    if worker.as_ref().is_some_and(|(g, _)| *g == generation) {
        *worker = None;
        tracing::warn!(generation, "WMI thread abandoned after a timeout");
    }
}

/// COM and the open connections of one WMI thread.
#[derive(Default)]
struct Connections {
    com: Option<::wmi::COMLibrary>,
    by_namespace: HashMap<String, ::wmi::WMIConnection>,
}

impl Connections {
    fn query<T: DeserializeOwned>(&mut self, namespace: &str, wql: &str) -> Result<Vec<T>, String> {
        let key = namespace.to_ascii_uppercase();
        let result = self.connection(namespace, &key)?.raw_query::<T>(wql).map_err(|e| describe(&e, namespace));
        if result.is_err() {
            // The connection may be what broke (e.g. winmgmt restarted): reconnect next time.
            self.by_namespace.remove(&key);
        }
        result
    }

    fn connection(&mut self, namespace: &str, key: &str) -> Result<&::wmi::WMIConnection, String> {
        let com = match self.com {
            Some(com) => com,
            None => {
                // Without process-wide security if something else set it up differently.
                let com = ::wmi::COMLibrary::new()
                    .or_else(|_| ::wmi::COMLibrary::without_security())
                    .map_err(|e| format!("cannot initialise COM: {e}"))?;
                self.com = Some(com);
                com
            }
        };
        if !self.by_namespace.contains_key(key) {
            let con = ::wmi::WMIConnection::with_namespace_path(namespace, com).map_err(|e| describe(&e, namespace))?;
            self.by_namespace.insert(key.to_string(), con);
        }
        self.by_namespace.get(key).ok_or_else(|| format!("no connection to {namespace}"))
    }
}

/// A WMI error in words; the common HRESULTs are named.
fn describe(e: &::wmi::WMIError, namespace: &str) -> String {
    if let ::wmi::WMIError::HResultError { hres } = e {
        let code = *hres as u32;
        let what = match code {
            0x8004_100E => format!("WMI namespace {namespace} does not exist on this machine"),
            0x8004_1010 => "WMI class not found".to_string(),
            0x8004_1003 | 0x8007_0005 => "access denied".to_string(),
            0x8004_1017 => "invalid query".to_string(),
            0x8004_1002 => "not found".to_string(),
            0x8007_06BA | 0x8001_0108 => "the WMI service is not available".to_string(),
            _ => return format!("HRESULT 0x{code:08X}"),
        };
        return format!("{what} (HRESULT 0x{code:08X})");
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[derive(serde::Deserialize)]
    struct Os {
        #[serde(rename = "Caption")]
        caption: Option<String>,
    }

    const Q: &str = "SELECT Caption FROM Win32_OperatingSystem";

    #[test]
    fn a_hung_query_times_out_and_the_next_query_gets_a_new_thread() {
        let config = CollectConfig { wmi_timeout_secs: 1, ..Default::default() };
        // Block the WMI thread the way a hung provider would.
        let stuck = submit(Box::new(|_| std::thread::sleep(Duration::from_secs(4)))).unwrap();
        let started = Instant::now();
        let err = query::<Os>(&config, CIMV2, Q).err().unwrap_or_default();
        assert!(err.contains("timed out after 1s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3), "waited {:?}", started.elapsed());

        let rows = query::<Os>(&config, CIMV2, Q).unwrap();
        assert!(rows.iter().any(|r| r.caption.is_some()));
        let current = WORKER.lock().unwrap().as_ref().map(|(g, _)| *g).unwrap_or(0);
        assert!(current > stuck, "a new WMI thread should have been started");
    }

    #[test]
    fn missing_namespace_is_named() {
        let err = query::<Os>(&CollectConfig::default(), r"ROOT\NoSuchNamespace", Q).err().unwrap_or_default();
        assert!(err.contains("does not exist"), "{err}");
    }
}
