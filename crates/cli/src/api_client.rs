//! The administrator's HTTP client: `--server` and `--token-file` (or
//! `LANWARD_SERVER` / `LANWARD_TOKEN`).

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::time::Duration;

pub struct ApiClient {
    base: String,
    token: String,
    http: ureq::Agent,
}

impl ApiClient {
    pub fn new(server: &str, token: &str, ca_file: Option<&std::path::Path>) -> Result<Self> {
        let mut b = ureq::AgentBuilder::new().timeout(Duration::from_secs(120));
        if let Some(ca) = ca_file {
            let pem = std::fs::read_to_string(ca).with_context(|| format!("cannot read {}", ca.display()))?;
            b = b.tls_config(lanward_agent::client::pinned_tls(&pem)?);
        } else if server.starts_with("http://") && !lanward_agent::client::is_loopback_http(server) {
            bail!("{server}: 平文 HTTP はループバックのみです。https:// を使ってください");
        }
        Ok(ApiClient { base: server.trim_end_matches('/').to_string(), token: token.trim().to_string(), http: b.build() })
    }

    fn handle(&self, r: Result<ureq::Response, ureq::Error>, what: &str) -> Result<Value> {
        match r {
            Ok(resp) => resp.into_json().with_context(|| format!("{what}: 応答を解釈できません")),
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                // Not every refusal is our JSON (413 from the body limit is plain text).
                let plain: String = text.trim().chars().take(200).collect();
                let msg = body.get("message").and_then(|m| m.as_str()).unwrap_or(&plain);
                let code = body.get("code").and_then(|m| m.as_str()).unwrap_or("");
                bail!("{what}: サーバーがエラーを返しました ({status} {code}): {msg}")
            }
            Err(e) => bail!("{what}: サーバーに接続できません ({}): {e}", self.base),
        }
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        let r = self.http.get(&format!("{}{}", self.base, path)).set("authorization", &format!("Bearer {}", self.token)).call();
        self.handle(r, path)
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self.http.request("PATCH", &format!("{}{}", self.base, path)).set("authorization", &format!("Bearer {}", self.token)).send_json(body);
        self.handle(r, path)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self.http.post(&format!("{}{}", self.base, path)).set("authorization", &format!("Bearer {}", self.token)).send_json(body);
        self.handle(r, path)
    }

    /// Posts raw bytes (an uploaded file) and reads a JSON answer.
    pub fn post_bytes(&self, path: &str, bytes: &[u8]) -> Result<Value> {
        let r = self
            .http
            .post(&format!("{}{}", self.base, path))
            .set("authorization", &format!("Bearer {}", self.token))
            .set("content-type", "application/octet-stream")
            .send_bytes(bytes);
        self.handle(r, path)
    }

    /// Streams a file as the request body (an installer of any size).
    pub fn post_file(&self, path: &str, file: &std::path::Path) -> Result<Value> {
        let f = std::fs::File::open(file).with_context(|| format!("{} を開けません", file.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let r = self
            .http
            .post(&format!("{}{}", self.base, path))
            .set("authorization", &format!("Bearer {}", self.token))
            .set("content-type", "application/octet-stream")
            .set("content-length", &len.to_string())
            .send(std::io::BufReader::new(f));
        self.handle(r, path.split('?').next().unwrap_or(path))
    }

    /// Downloads a file (at most `max` bytes).
    pub fn get_bytes(&self, path: &str, max: u64) -> Result<Vec<u8>> {
        use std::io::Read;
        let r = self.http.get(&format!("{}{}", self.base, path)).set("authorization", &format!("Bearer {}", self.token)).call();
        match r {
            Ok(resp) => {
                let mut out = Vec::new();
                resp.into_reader().take(max + 1).read_to_end(&mut out).with_context(|| format!("{path}: 受信が途中で切れました"))?;
                if out.len() as u64 > max {
                    bail!("{path}: 応答が大きすぎます (上限 {} MB)", max / 1024 / 1024);
                }
                Ok(out)
            }
            Err(e) => self.handle(Err(e), path).map(|_| Vec::new()),
        }
    }
}

/// Parses `7d`, `12h`, `30m`, `90s` or plain seconds.
pub fn parse_duration(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("期間 `{s}` を解釈できません (e.g. 7d, 12h, 30m)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("期間 `{s}` の単位 `{unit}` は使えません (s, m, h, d, w)"),
    };
    n.checked_mul(mult).context("期間が大きすぎます")
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("7d").unwrap(), 604_800);
        assert_eq!(super::parse_duration("90").unwrap(), 90);
        assert!(super::parse_duration("7y").is_err());
        assert!(super::parse_duration("d").is_err());
    }
}
