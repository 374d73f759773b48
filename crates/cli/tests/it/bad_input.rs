//! Malformed, oversized, unauthenticated and hostile agent requests: each
//! gets a 4xx with a reason, and nothing of it is stored.

use crate::support::*;
use lanward_agent::client::ServerClient;
use lanward_agent::identity::Identity;

const CHECKIN: &str = "/api/v1/agent/checkin";

struct Resp {
    status: u16,
    body: serde_json::Value,
}

fn post(server: &Server, headers: &[(&str, String)], body: &[u8]) -> Resp {
    let mut req = server.http().post(&format!("{}{}", server.url, CHECKIN)).set("content-type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_bytes(body) {
        Ok(r) => Resp { status: r.status(), body: r.into_json().unwrap_or_default() },
        Err(ureq::Error::Status(s, r)) => Resp { status: s, body: r.into_json().unwrap_or_default() },
        Err(e) => panic!("transport error: {e}"),
    }
}

fn signed(id: &Identity, body: &[u8]) -> Vec<(&'static str, String)> {
    ServerClient::sign(&id.enrolment.agent_id, &id.key, "POST", CHECKIN, body).to_vec()
}

/// A check-in body whose sections are exactly the given JSON texts (the
/// hash covers these bytes).
fn report(sections: &[(&str, &str)], hash_override: Option<&str>) -> Vec<u8> {
    let hashes: Vec<String> = sections
        .iter()
        .map(|(n, j)| format!("\"{n}\":\"{}\"", hash_override.map(String::from).unwrap_or_else(|| lanward_proto::section_hash(j.as_bytes()))))
        .collect();
    let content: Vec<String> = sections.iter().map(|(n, j)| format!("\"{n}\":{j}")).collect();
    format!(
        "{{\"v\":\"test\",\"report\":{{\"collected_at_ms\":1,\"section_hashes\":{{{}}},\"sections\":{{{}}}}}}}",
        hashes.join(","),
        content.join(",")
    )
    .into_bytes()
}

#[test]
fn hostile_requests_are_refused_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("ORO", "1h", 5);
    let id = lanward_agent::client::enroll(&server.url, &token, "SUIDO-PC-0900", "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();
    let other = lanward_agent::client::enroll(&server.url, &token, "SUIDO-PC-0901", "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();

    // One good report first, so that "nothing partial" has something to compare with.
    let good = report(&[("os", r#"{"hostname":"SUIDO-PC-0900","family":"windows","name":"Microsoft Windows 11 Pro","version":"10.0.22631","build":"22631.4460","arch":"x86_64"}"#)], None);
    let r = post(&server, &signed(&id, &good), &good);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let snapshot = server.assets();

    // No signature at all.
    let r = post(&server, &[], &good);
    assert_eq!((r.status, r.body["code"].as_str()), (401, Some("signature_missing")));
    assert!(r.body["message"].as_str().unwrap().contains("署名"));

    // Signed by another agent's key under this agent's id.
    let mut h = signed(&other, &good);
    h[0].1 = id.enrolment.agent_id.clone();
    let r = post(&server, &h, &good);
    assert_eq!((r.status, r.body["code"].as_str()), (401, Some("signature_invalid")));

    // Body swapped after signing.
    let h = signed(&id, &good);
    let mut tampered = good.clone();
    let n = tampered.len();
    tampered[n - 3] = b' ';
    let r = post(&server, &h, &tampered);
    assert_eq!(r.status, 401);

    // Replay of an accepted request.
    let h = signed(&id, &good);
    assert_eq!(post(&server, &h, &good).status, 200);
    let r = post(&server, &h, &good);
    assert_eq!((r.status, r.body["code"].as_str()), (401, Some("replay")));

    // Malformed JSON: the reason names line and column.
    let bad = b"{\"v\": \"x\",\n \"report\": {oops}}";
    let r = post(&server, &signed(&id, bad), bad);
    assert_eq!((r.status, r.body["code"].as_str()), (400, Some("json_invalid")));
    assert!(r.body["message"].as_str().unwrap().contains("2 行"), "{:?}", r.body);

    // A section of the wrong shape: the reason names the field; the valid
    // section beside it is not stored either.
    let bad = report(&[("hardware", r#"{"memory_bytes":1}"#), ("software", r#"[{"name":"ok","source":"hklm"},{"name":5}]"#)], None);
    let r = post(&server, &signed(&id, &bad), &bad);
    assert_eq!((r.status, r.body["code"].as_str()), (400, Some("section_invalid")));
    assert!(r.body["message_en"].as_str().unwrap().contains("[1].name"), "{:?}", r.body);

    // Unknown section name.
    let bad = report(&[("secrets", "{}")], None);
    let r = post(&server, &signed(&id, &bad), &bad);
    assert_eq!(r.status, 400);

    // Hash that does not match the content.
    let bad = report(&[("hardware", r#"{"memory_bytes":2}"#)], Some("00000000000000000000000000000000"));
    let r = post(&server, &signed(&id, &bad), &bad);
    assert_eq!((r.status, r.body["code"].as_str()), (400, Some("section_hash_mismatch")));

    // Oversized: refused before it is read in full. The server answers 413
    // and closes; a client still writing may see the close (broken pipe)
    // before it reads the answer, which is a refusal too.
    let big = vec![b' '; 9 * 1024 * 1024];
    let mut req = server.http().post(&format!("{}{}", server.url, CHECKIN)).set("content-type", "application/json");
    for (k, v) in signed(&id, &big) {
        req = req.set(k, &v);
    }
    match req.send_bytes(&big) {
        Err(ureq::Error::Status(s, r)) => {
            let body: serde_json::Value = r.into_json().unwrap_or_default();
            assert_eq!((s, body["code"].as_str()), (413, Some("body_too_large")));
        }
        Err(ureq::Error::Transport(t)) => {
            let msg = t.to_string();
            assert!(msg.contains("Broken pipe") || msg.contains("reset"), "unexpected transport error: {msg}");
        }
        Ok(r) => panic!("oversized body accepted: {}", r.status()),
    }

    // Bad enrolment requests.
    let enroll = |body: &str| -> u16 {
        match server.http().post(&format!("{}/api/v1/enroll", server.url)).send_string(body) {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(enroll("not json"), 400);
    assert_eq!(enroll(&serde_json::json!({"token": token, "public_key": "AAAA", "hostname": "x", "os_family": "windows", "agent_version": "1"}).to_string()), 400);
    assert_eq!(enroll(&serde_json::json!({"token": "garbage", "public_key": "AAAA", "hostname": "x", "os_family": "windows", "agent_version": "1"}).to_string()), 401);

    // Nothing of the refused requests was stored.
    let now = server.assets();
    assert_eq!(now.len(), snapshot.len());
    let pick = |v: &Vec<serde_json::Value>| v.iter().map(|a| (a["hostname"].clone(), a["sections"].clone(), a["hardware"].clone())).collect::<Vec<_>>();
    let (a, b) = (pick(&snapshot), pick(&now));
    for (x, y) in a.iter().zip(b.iter()) {
        assert_eq!(x.0, y.0);
        assert_eq!(x.2, y.2, "hardware must not have been stored");
        assert_eq!(x.1.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()), y.1.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()));
    }
    // The server logged the refusals.
    let log = std::fs::read_to_string(server.data.with_extension("log")).unwrap();
    assert!(log.contains("request refused"), "refusals must be logged");
}
