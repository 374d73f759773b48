//! The site cache: an agent the operator tagged `site-cache` serves
//! package chunks to the other PCs of its site over the LAN, fetching each
//! chunk across the WAN once.
//!
//! Plain HTTP on the LAN is enough: every chunk is named by its SHA-256 and
//! the fetching agent checks it, so a cache (or anyone between) can at worst
//! make a PC fall back to the server, never make it install other bytes.
//! Only `GET /chunks/{sha256}` is served; anything else is 404.

use crate::client::{ClientError, ServerClient};
use lanward_package::{ChunkId, ChunkStore};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Port of the cache unless configured (`LANWARD_AGENT_CACHE_LISTEN`).
pub const DEFAULT_PORT: u16 = 8470;

pub struct SiteCache {
    store: ChunkStore,
    client: ServerClient,
    /// One WAN fetch per chunk at a time: 20 PCs asking for the same chunk
    /// wait for the first fetch instead of making 20.
    inflight: Mutex<HashMap<ChunkId, Arc<Mutex<()>>>>,
    /// Chunks fetched from the server (tests and the log read it).
    pub fetched_from_server: std::sync::atomic::AtomicU64,
}

impl SiteCache {
    pub fn open(data_dir: &Path, client: ServerClient) -> anyhow::Result<Arc<SiteCache>> {
        let store = ChunkStore::open(data_dir.join("deploy").join("cache")).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Arc::new(SiteCache { store, client, inflight: Mutex::new(HashMap::new()), fetched_from_server: Default::default() }))
    }

    /// The chunk's bytes, from disk or (once) from the server.
    pub fn chunk(&self, id: &ChunkId) -> Result<Vec<u8>, String> {
        if let Ok(b) = self.store.read_verified(id) {
            return Ok(b);
        }
        let gate = {
            let mut m = self.inflight.lock().map_err(|_| "cache lock".to_string())?;
            m.entry(*id).or_default().clone()
        };
        let _one = gate.lock().map_err(|_| "cache lock".to_string())?;
        // Someone else may have fetched it while we waited.
        if let Ok(b) = self.store.read_verified(id) {
            return Ok(b);
        }
        let _ = self.store.remove(id);
        let bytes = self.client.get_bytes(&format!("/api/v1/agent/chunks/{}", id.to_hex())).map_err(|e| match e {
            ClientError::Rejected { status: 403, message } => format!("403 {message}"),
            other => other.to_string(),
        })?;
        self.store.put_verified(id, &bytes).map_err(|e| e.to_string())?;
        self.fetched_from_server.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.inflight.lock() {
            m.remove(id);
        }
        Ok(bytes)
    }

    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(120)));
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut line = String::new();
        if reader.by_ref().take(8192).read_line(&mut line).is_err() {
            return;
        }
        // Skip the headers (bounded).
        let mut header = String::new();
        for _ in 0..100 {
            header.clear();
            match reader.by_ref().take(8192).read_line(&mut header) {
                Ok(0) | Err(_) => break,
                Ok(_) if header == "\r\n" || header == "\n" => break,
                Ok(_) => {}
            }
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let id = path.strip_prefix("/chunks/").and_then(|h| h.parse::<ChunkId>().ok());
        let mut out = stream;
        let (status, body) = match (method, id) {
            ("GET", Some(id)) => match self.chunk(&id) {
                Ok(b) => ("200 OK", b),
                Err(e) => {
                    tracing::warn!(chunk = %id, error = %e, "site cache cannot serve a chunk");
                    ("502 Bad Gateway", e.into_bytes())
                }
            },
            _ => ("404 Not Found", b"not found".to_vec()),
        };
        let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(&body)).and_then(|_| out.flush());
    }
}

use std::io::Read as _;

/// Listens and serves until `stop`; returns the URL the site's PCs should use.
pub fn start(cache: Arc<SiteCache>, listen: SocketAddr, advertised: Option<String>, stop: Arc<AtomicBool>) -> anyhow::Result<String> {
    let listener = TcpListener::bind(listen).map_err(|e| anyhow::anyhow!("サイトキャッシュが {listen} で待ち受けできません: {e}"))?;
    let local = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let url = advertised.unwrap_or_else(|| {
        let ip = if local.ip().is_unspecified() { lan_address().unwrap_or(local.ip()) } else { local.ip() };
        format!("http://{}", SocketAddr::new(ip, local.port()))
    });
    std::thread::Builder::new().name("site-cache".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let c = cache.clone();
                    let _ = std::thread::Builder::new().name("site-cache-conn".into()).spawn(move || c.serve(stream));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => {
                    tracing::warn!(error = %e, "site cache accept failed");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    })?;
    tracing::info!(%url, "serving as the site cache");
    Ok(url)
}

/// The first non-loopback IPv4 address: what the site's PCs can reach.
fn lan_address() -> Option<std::net::IpAddr> {
    #[cfg(any(unix, windows))]
    {
        if_addrs::get_if_addrs().ok()?.into_iter().map(|i| i.ip()).find(|ip| ip.is_ipv4() && !ip.is_loopback())
    }
}

/// Fetches a chunk from a cache (plain HTTP on the LAN); the caller verifies it.
pub fn fetch_from(http: &ureq::Agent, source: &str, id: &ChunkId) -> Result<Vec<u8>, String> {
    let url = format!("{}/chunks/{}", source.trim_end_matches('/'), id.to_hex());
    let resp = http.get(&url).call().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    resp.into_reader().take(lanward_package::MAX_CHUNK_SIZE + 1).read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}
