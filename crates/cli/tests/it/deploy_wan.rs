//! A branch site behind a shaped WAN link, on one machine: the server runs
//! in its own network namespace joined to this one by a veth pair limited
//! to 10 Mbit/s with `tc`; 21 agents of the site (agent-library workers
//! with their own identities, in this process) share one site cache. Each
//! chunk crosses the WAN once. A cache that serves corrupt bytes is
//! detected by the PCs, which fetch from the server instead.

use crate::support::*;
use lanward_agent::deploy::DeployWorker;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A network namespace with a veth pair to this one; removed on drop.
struct Wan {
    ns: String,
    host_if: String,
    server_ip: String,
    shaped_delay: bool,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false)
}

impl Wan {
    fn new() -> Wan {
        // One link per test, even when tests of this binary run in parallel.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = (std::process::id() * 7 + NEXT.fetch_add(1, Ordering::Relaxed)) % 200 + 20;
        let (ns, host_if, peer_if) = (format!("lwwan{n}"), format!("lwh{n}"), format!("lwp{n}"));
        let (host_ip, server_ip) = (format!("10.231.{n}.2"), format!("10.231.{n}.1"));
        // Leftovers of a crashed earlier run (usually none: quiet).
        let _ = Command::new("ip").args(["netns", "del", &ns]).stderr(std::process::Stdio::null()).status();
        let _ = Command::new("ip").args(["link", "del", &host_if]).stderr(std::process::Stdio::null()).status();
        assert!(ip(&["netns", "add", &ns]), "ip netns add");
        assert!(ip(&["link", "add", &host_if, "type", "veth", "peer", "name", &peer_if]));
        assert!(ip(&["link", "set", &peer_if, "netns", &ns]));
        assert!(ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]));
        assert!(ip(&["link", "set", &host_if, "up"]));
        assert!(ip(&["netns", "exec", &ns, "ip", "addr", "add", &format!("{server_ip}/30"), "dev", &peer_if]));
        assert!(ip(&["netns", "exec", &ns, "ip", "link", "set", &peer_if, "up"]));
        assert!(ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]));
        // 10 Mbit/s each way, 20 ms when this kernel has netem; tbf alone otherwise.
        let mut shaped_delay = true;
        for (inside, dev) in [(false, host_if.as_str()), (true, peer_if.as_str())] {
            let tc = |q: &[&str]| {
                let mut c = if inside { let mut c = Command::new("ip"); c.args(["netns", "exec", &ns, "tc"]); c } else { Command::new("tc") };
                c.args(["qdisc", "add", "dev", dev, "root"]).args(q).stderr(std::process::Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
            };
            if !tc(&["netem", "delay", "20ms", "rate", "10mbit"]) {
                shaped_delay = false;
                assert!(tc(&["tbf", "rate", "10mbit", "burst", "32kbit", "latency", "400ms"]), "tc cannot shape {dev}");
            }
        }
        Wan { ns, host_if, server_ip, shaped_delay }
    }

    /// The real server, inside the namespace, on the far end of the link (HTTPS).
    fn server(&self, data: &Path) -> Server {
        let listen = format!("{}:0", self.server_ip);
        Server::start_wrapped(data, &["ip", "netns", "exec", &self.ns], &listen, &["--tls-name", &self.server_ip, "--deploy-poll", "1"])
    }

    /// Bytes that came from the server's side over the link.
    fn received_bytes(&self) -> u64 {
        std::fs::read_to_string(format!("/sys/class/net/{}/statistics/rx_bytes", self.host_if)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn can_use_netns() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root: network namespaces need it");
        eprintln!("skipped: network namespaces need root");
    }
    root
}

struct Site {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Site {
    fn run(&mut self, worker: DeployWorker) {
        let stop = self.stop.clone();
        self.threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let wait = worker.round();
                std::thread::sleep(wait.min(Duration::from_millis(500)));
            }
        }));
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Enrols a simulated PC of the site with its own key, name, serial and MAC.
fn enrol(server: &Server, token: &str, dir: &Path, i: usize) -> (lanward_agent::identity::Identity, std::path::PathBuf) {
    let data = dir.join(format!("pc{i:02}"));
    std::fs::create_dir_all(&data).unwrap();
    let id = lanward_agent::client::enroll(
        &server.url,
        token,
        &format!("KUN-PC-{i:02}"),
        "linux",
        (Some(format!("SN-WAN-{i:04}")), vec![format!("02:00:5e:10:01:{i:02x}")]),
        lanward_agent::identity::generate_key(),
    )
    .expect("enrol");
    id.save(&data).unwrap();
    (id, data)
}

fn worker(id: &lanward_agent::identity::Identity, data: &Path, stop: &Arc<AtomicBool>) -> DeployWorker {
    let client = lanward_agent::client::ServerClient::for_identity(id).expect("client");
    DeployWorker::new(client, data, id.enrolment.package_key.as_deref(), stop.clone()).expect("worker")
}

fn tag_as_cache(server: &Server, hostname: &str) {
    let asset = server.assets().into_iter().find(|a| a["hostname"] == hostname).expect("asset");
    let id = asset["id"].as_i64().unwrap();
    server
        .http()
        .request("PATCH", &format!("{}/api/v1/assets/{id}", server.url))
        .set("authorization", &format!("Bearer {}", server.token()))
        .send_json(json!({"fields": {"tags": "site-cache"}}))
        .expect("tag the cache");
}

fn wait_settled(server: &Server, id: i64, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = server.get_json(&format!("/api/v1/deployments/{id}"));
        let c = &v["counts"];
        if c["active"] == 0 && c["not_started"] == 0 {
            return v;
        }
        assert!(Instant::now() < deadline, "deployment {id} did not finish: {}", v["counts"]);
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn add_package(server: &Server, dir: &Path, name: &str, mib: usize) -> u64 {
    let bytes: Vec<u8> = (0..mib * 1024 * 1024).map(|_| rand::random::<u8>()).collect();
    let file = dir.join(format!("{name}.bin"));
    std::fs::write(&file, &bytes).unwrap();
    server.cli_ok(&["package", "add", file.to_str().unwrap(), "--name", name, "--version", "1.0", "--command", "/bin/true {file}", "--detection", "none"]);
    bytes.len() as u64
}

fn deploy(server: &Server, name: &str, hosts: &[String]) -> i64 {
    let out = server.cli_ok(&["deploy", "create", "--package", name, "--targets", &hosts.join(","), "--site-concurrency", "25", "--spread-minutes", "0"]);
    out.split_whitespace().nth(1).and_then(|id| id.parse().ok()).expect("deployment id")
}

#[test]
fn twenty_pcs_behind_a_10_mbit_wan_pull_each_chunk_across_it_once() {
    if !can_use_netns() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let wan = Wan::new();
    let server = wan.server(&tmp.path().join("srv"));
    let token = server.create_token("HQ", "1h", 30);
    let stop = Arc::new(AtomicBool::new(false));
    let mut site = Site { stop: stop.clone(), threads: Vec::new() };
    let pcs: Vec<_> = (0..21).map(|i| enrol(&server, &token, tmp.path(), i)).collect();
    tag_as_cache(&server, "KUN-PC-00");
    // The cache starts first and tells the server where it serves.
    let (cid, cdata) = &pcs[0];
    site.run(worker(cid, cdata, &stop).with_cache_listen("127.0.0.1:0".parse().unwrap(), None));
    std::thread::sleep(Duration::from_secs(3));

    let size = add_package(&server, tmp.path(), "wan-test", 24);
    let hosts: Vec<String> = (0..21).map(|i| format!("KUN-PC-{i:02}")).collect();
    let before = wan.received_bytes();
    let id = deploy(&server, "wan-test", &hosts);
    for (i, (pid, pdata)) in pcs.iter().enumerate().skip(1) {
        let _ = i;
        site.run(worker(pid, pdata, &stop));
    }
    let view = wait_settled(&server, id, 300);
    let over_the_link = wan.received_bytes() - before;
    drop(site);
    assert_eq!(view["counts"]["succeeded"], 21, "{}", view["targets"]);
    let site_bytes = view["sites"][0]["server_bytes"].as_u64().unwrap();
    eprintln!("package {size} B; server counted {site_bytes} B for the site (cache {}); link carried {over_the_link} B; netem delay: {}", view["sites"][0]["cache_bytes"], wan.shaped_delay);
    assert!(site_bytes as f64 <= 1.05 * size as f64, "server sent {site_bytes} B for a {size} B package");
    // The link also carries TLS, polls and reports: 5% of the package and 1 MiB more.
    assert!((over_the_link as f64) <= 1.05 * size as f64 + 1024.0 * 1024.0, "the WAN carried {over_the_link} B for a {size} B package");
}

#[test]
fn a_cache_serving_corrupt_chunks_is_bypassed_and_the_install_still_succeeds() {
    // On loopback: what is tested is the PCs' check of every chunk.
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &["--deploy-poll", "1"]);
    let token = server.create_token("HQ", "1h", 5);
    let stop = Arc::new(AtomicBool::new(false));
    let mut site = Site { stop: stop.clone(), threads: Vec::new() };
    let pcs: Vec<_> = (0..2).map(|i| enrol(&server, &token, tmp.path(), i)).collect();
    // A "cache" that answers every chunk with the wrong bytes.
    let evil = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let evil_url = format!("http://{}", evil.local_addr().unwrap());
    let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for stream in evil.incoming().flatten() {
            use std::io::{BufRead, Write};
            let mut s = stream;
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            counter.fetch_add(1, Ordering::Relaxed);
            let body = vec![0x5a_u8; 4 * 1024 * 1024];
            let _ = s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes());
            let _ = s.write_all(&body);
        }
    });
    tag_as_cache(&server, "KUN-PC-00");
    // The tagged PC announces the evil URL as its cache address.
    let (cid, cdata) = &pcs[0];
    site.run(worker(cid, cdata, &stop).with_cache_listen("127.0.0.1:0".parse().unwrap(), Some(evil_url)));
    std::thread::sleep(Duration::from_secs(3));
    let size = add_package(&server, tmp.path(), "checked", 9);
    let id = deploy(&server, "checked", &["KUN-PC-01".to_string()]);
    let (pid, pdata) = &pcs[1];
    site.run(worker(pid, pdata, &stop));
    let view = wait_settled(&server, id, 120);
    drop(site);
    assert_eq!(view["targets"][0]["state"], "installed", "{}", view["targets"]);
    assert!(served.load(Ordering::Relaxed) >= 1, "the PC tried the cache first");
    // It fell back to the server for the content: all of it came from there.
    assert!(view["targets"][0]["server_bytes"].as_u64().unwrap() >= size, "{}", view["targets"][0]);
}

#[test]
fn a_download_over_the_wan_survives_a_dropped_link_and_a_killed_agent() {
    if !can_use_netns() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let wan = Wan::new();
    let server = wan.server(&tmp.path().join("srv"));
    let token = server.create_token("HQ", "1h", 2);
    let data = tmp.path().join("agent");
    let out = agent(&["enroll", "--server", &server.url, "--token", &token], &data);
    assert!(out.status.success(), "enrol: {}", stderr(&out));
    let start = |log: &Path| {
        Command::new(agent_bin())
            .args(["run", "--splay", "0", "--data"])
            .arg(&data)
            .env("LANWARD_LOG", "info")
            .env("LANWARD_AGENT_REBOOT_FLAG", data.join("no-reboot-flag"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
            .spawn()
            .unwrap()
    };
    let log = tmp.path().join("agent.log");
    let mut child = start(&log);
    let host = server.assets()[0]["hostname"].as_str().unwrap().to_string();
    let size = add_package(&server, tmp.path(), "wan-resume", 16);
    let id = deploy(&server, "wan-resume", &[host]);
    let percent = || server.get_json(&format!("/api/v1/deployments/{id}"))["targets"][0]["percent"].as_u64().unwrap_or(0);
    let wait_for = |p: u64| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while percent() < p {
            assert!(Instant::now() < deadline, "download stuck below {p}%: {}", std::fs::read_to_string(&log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // The link goes down for a while mid-download, then the PC is switched off.
    wait_for(20);
    assert!(ip(&["link", "set", &wan.host_if, "down"]));
    std::thread::sleep(Duration::from_secs(4));
    assert!(ip(&["link", "set", &wan.host_if, "up"]));
    wait_for(50);
    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_secs(1));
    let mut child = start(&log);
    let view = wait_settled(&server, id, 240);
    let _ = child.kill();
    let _ = child.wait();
    let t = &view["targets"][0];
    assert_eq!(t["state"], "installed", "{t}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let wan_bytes = t["server_bytes"].as_u64().unwrap();
    eprintln!("package {size} B; WAN bytes {wan_bytes} after a dropped link and a killed agent");
    assert!(wan_bytes >= size && wan_bytes <= size + 2 * 4 * 1024 * 1024, "{wan_bytes} B for {size} B and two interruptions");
}
