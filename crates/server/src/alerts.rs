//! Alert rules on incoming operation-log events (issue 5 item 5): "USB
//! storage connected in a department where it is forbidden", "a denied
//! application started". The rules are few and kept in memory; each newly
//! stored event is checked against them on its way in.

use lanward_oplog::{IncomingEvent, StoredEvent};
use lanward_store::{AlertRule, NewAlert};

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn texts(e: &StoredEvent) -> impl Iterator<Item = &str> {
    let d = &e.detail;
    [&d.title, &d.process, &d.command_line, &d.parent, &d.path, &d.target_path, &d.vendor, &d.product, &d.serial, &d.printer, &d.document, &d.reason]
        .into_iter()
        .flatten()
        .map(String::as_str)
}

/// One line saying what happened, for the alert list and e-mail.
pub fn summary(e: &StoredEvent) -> String {
    let d = &e.detail;
    let parts: Vec<&str> = [&d.vendor, &d.product, &d.serial, &d.process, &d.command_line, &d.path, &d.target_path, &d.document, &d.title].into_iter().flatten().map(String::as_str).collect();
    lanward_proto::oplog::clip(&parts.join(" / "))
}

/// Whether `rule` matches the event on a PC at `location` (site, department).
pub fn matches(rule: &AlertRule, e: &StoredEvent, location: Option<&(String, Option<String>)>) -> bool {
    if !rule.enabled {
        return false;
    }
    if rule.kind.as_deref().is_some_and(|k| k != e.kind.as_str()) {
        return false;
    }
    if let Some(site) = &rule.site {
        if location.map(|l| &l.0) != Some(site) {
            return false;
        }
    }
    if let Some(dept) = &rule.department {
        if location.and_then(|l| l.1.as_ref()) != Some(dept) {
            return false;
        }
    }
    if let Some(class) = &rule.device_class {
        if e.detail.device_class.as_deref() != Some(class.as_str()) {
            return false;
        }
    }
    if let Some(p) = &rule.process_contains {
        if !e.detail.process.as_deref().is_some_and(|proc_| contains_ci(proc_, p)) {
            return false;
        }
    }
    if let Some(t) = &rule.text_contains {
        if !texts(e).any(|s| contains_ci(s, t)) {
            return false;
        }
    }
    true
}

/// The alerts a batch of newly stored events raises.
pub fn evaluate(rules: &[AlertRule], events: &[IncomingEvent], asset_id: i64, location: Option<&(String, Option<String>)>) -> Vec<NewAlert> {
    let mut out = Vec::new();
    for ev in events {
        for rule in rules {
            if matches(rule, &ev.event, location) {
                out.push(NewAlert {
                    rule_id: rule.id,
                    rule_name: rule.name.clone(),
                    at_ms: ev.event.time_ms,
                    pc: ev.event.pc.clone(),
                    asset_id: Some(asset_id),
                    user_name: ev.event.user.clone(),
                    kind: ev.event.kind.as_str().to_string(),
                    summary: summary(&ev.event),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanward_oplog::{Detail, EventKind};

    fn rule(f: impl FnOnce(&mut AlertRule)) -> AlertRule {
        let mut r = AlertRule {
            id: 1,
            name: "r".into(),
            kind: None,
            site: None,
            department: None,
            process_contains: None,
            text_contains: None,
            device_class: None,
            enabled: true,
            created_by: "user:op".into(),
            created_at_ms: 0,
            recipients: Vec::new(),
        };
        f(&mut r);
        r
    }

    fn event(kind: EventKind, detail: Detail) -> IncomingEvent {
        IncomingEvent { seq: 1, event: StoredEvent { time_ms: 5, pc: "SUIDO-PC-0001".into(), user: Some("SUIDO\\tanaka".into()), kind, detail } }
    }

    #[test]
    fn every_condition_given_must_hold() {
        let usb = event(EventKind::DeviceConnect, Detail { device_class: Some("usb_storage".into()), vendor: Some("BUFFALO".into()), product: Some("RUF3-K".into()), ..Default::default() });
        let setup = event(EventKind::ProcessStart, Detail { process: Some(r"C:\Users\tanaka\Downloads\Setup.EXE".into()), ..Default::default() });
        let haisui = ("HQ".to_string(), Some("配水課".to_string()));
        let soumu = ("HQ".to_string(), Some("総務課".to_string()));
        let usb_rule = rule(|r| {
            r.kind = Some("device_connect".into());
            r.device_class = Some("usb_storage".into());
            r.department = Some("配水課".into());
        });
        assert_eq!(evaluate(std::slice::from_ref(&usb_rule), &[usb.clone(), setup.clone()], 7, Some(&haisui)).len(), 1);
        assert!(evaluate(std::slice::from_ref(&usb_rule), std::slice::from_ref(&usb), 7, Some(&soumu)).is_empty(), "another department");
        assert!(evaluate(std::slice::from_ref(&usb_rule), std::slice::from_ref(&usb), 7, None).is_empty(), "unknown department never matches a department rule");
        let downloads = rule(|r| r.process_contains = Some(r"\downloads\setup.exe".into()));
        let found = evaluate(std::slice::from_ref(&downloads), &[usb.clone(), setup.clone()], 7, None);
        assert_eq!(found.len(), 1, "case-insensitive");
        assert!(found[0].summary.contains("Setup.EXE"));
        let off = rule(|r| {
            r.enabled = false;
        });
        assert!(evaluate(&[off], std::slice::from_ref(&usb), 7, None).is_empty());
        let text = rule(|r| r.text_contains = Some("buffalo".into()));
        assert_eq!(evaluate(&[text], &[usb, setup], 7, None).len(), 1);
    }
}
