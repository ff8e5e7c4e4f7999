//! Reading our objects' status generically (every kind has `phase`, `conditions`, `observedGeneration`,
//! `message`) and putting it into words: progress lines, ages, tables.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The common status of any of our kinds, read from its JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    pub phase: String,
    /// Ready condition's status, reason and message.
    pub ready: Option<(String, String, String)>,
    /// `status.observedGeneration == metadata.generation`.
    pub current: bool,
    pub message: String,
    /// `DeletionBlocked` condition's reason and message.
    pub blocked: Option<(String, String)>,
}

pub fn common(obj: &Value) -> Common {
    let st = &obj["status"];
    let condition = |type_: &str| {
        st["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == type_)
            .cloned()
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let generation = obj["metadata"]["generation"].as_i64();
    Common {
        phase: st["phase"].as_str().unwrap_or("Pending").to_owned(),
        ready: condition("Ready")
            .map(|c| (text(&c["status"]), text(&c["reason"]), text(&c["message"]))),
        current: generation.is_some() && st["observedGeneration"].as_i64() == generation,
        message: text(&st["message"]),
        blocked: condition("DeletionBlocked")
            .filter(|c| c["status"] == "True")
            .map(|c| (text(&c["reason"]), text(&c["message"]))),
    }
}

impl Common {
    /// Ready for the object's current generation.
    pub fn is_ready(&self) -> bool {
        self.current
            && self.phase == "Ready"
            && self.ready.as_ref().is_some_and(|(s, _, _)| s == "True")
    }

    /// Failed for the object's current generation: the controller will not try again until the spec changes.
    pub fn is_failed(&self) -> bool {
        self.current && self.phase == "Failed"
    }

    pub fn reason(&self) -> &str {
        self.ready
            .as_ref()
            .map(|(_, r, _)| r.as_str())
            .unwrap_or("")
    }

    /// The Ready condition's message, else `status.message`.
    pub fn detail(&self) -> &str {
        match &self.ready {
            Some((_, _, m)) if !m.is_empty() => m,
            _ => &self.message,
        }
    }
}

/// What the VMs of a consistency window or a restore are going through, from `status.restore` (undo recorded
/// before each change), `status.window.vms` and `status.vmTask`/`vmTasks`.
pub fn vm_states(obj: &Value) -> Vec<String> {
    let st = &obj["status"];
    let mut out: Vec<(u64, String)> = Vec::new();
    for r in st["restore"].as_array().into_iter().flatten() {
        let state = match r["action"].as_str() {
            Some("Thaw") => "frozen",
            Some("Resume") => "paused",
            Some("Start") => "stopped",
            _ => "changed",
        };
        if let Some(vmid) = r["vmid"].as_u64() {
            out.push((vmid, format!("VM {vmid} {state}")));
        }
    }
    for vm in st["window"]["vms"].as_array().into_iter().flatten() {
        let Some(vmid) = vm["vmid"].as_u64() else {
            continue;
        };
        if out.iter().any(|(id, _)| *id == vmid) {
            continue;
        }
        let state = if vm["alreadyQuiet"] == true {
            "already quiet"
        } else {
            "in window"
        };
        out.push((vmid, format!("VM {vmid} {state}")));
    }
    let tasks = st["vmTasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .chain(
            st["window"]["tasks"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        )
        .chain(st.get("vmTask").filter(|t| !t.is_null()).cloned());
    for t in tasks {
        if let (Some(vmid), Some(step)) = (t["vmid"].as_u64(), t["step"].as_str()) {
            out.push((vmid, format!("VM {vmid} task {step}")));
        }
    }
    out.sort_by_key(|(id, _)| *id);
    out.into_iter().map(|(_, s)| s).collect()
}

/// One progress line: `Kind/name: Phase (Reason) stage: message [VM 100 paused]`.
pub fn progress_line(kind: &str, obj: &Value) -> String {
    let c = common(obj);
    let name = name(obj);
    let mut line = format!("{kind}/{name}: {}", c.phase);
    if !c.reason().is_empty() && c.reason() != c.phase {
        line.push_str(&format!(" ({})", c.reason()));
    }
    if let Some(stage) = obj["status"]["stage"].as_str() {
        line.push_str(&format!(" stage {stage}"));
    }
    if let Some((reason, message)) = &c.blocked {
        line.push_str(&format!(" — deletion blocked ({reason}): {message}"));
    } else if !c.detail().is_empty() {
        line.push_str(&format!(": {}", c.detail()));
    }
    let vms = vm_states(obj);
    if !vms.is_empty() {
        line.push_str(&format!(" [{}]", vms.join(", ")));
    }
    line
}

/// `kubectl`'s age format: `45s`, `12m`, `5h`, `3d`.
pub fn age(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(since) = since else {
        return "-".into();
    };
    let secs = (now - since).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

pub fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()?.parse().ok()
}

/// `metadata.creationTimestamp`.
pub fn created(obj: &Value) -> Option<DateTime<Utc>> {
    time(&obj["metadata"]["creationTimestamp"])
}

/// Columns padded to their widest cell, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `metadata.name` of an object, empty when it has none.
pub fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn or_dash(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(status: Value) -> Value {
        json!({ "metadata": { "name": "x", "generation": 2 }, "status": status })
    }

    #[test]
    fn ready_needs_the_current_generation() {
        let ready = json!({ "phase": "Ready", "observedGeneration": 2,
            "conditions": [{ "type": "Ready", "status": "True", "reason": "Ready", "message": "done" }] });
        assert!(common(&obj(ready.clone())).is_ready());
        let mut stale = ready;
        stale["observedGeneration"] = json!(1);
        assert!(!common(&obj(stale)).is_ready());
        let failed = json!({ "phase": "Failed", "observedGeneration": 2,
            "conditions": [{ "type": "Ready", "status": "False", "reason": "NotFound", "message": "VM 4242 does not exist" }] });
        let c = common(&obj(failed));
        assert!(c.is_failed());
        assert_eq!(c.detail(), "VM 4242 does not exist");
    }

    #[test]
    fn progress_names_phase_reason_and_vms() {
        let o = obj(json!({ "phase": "InProgress", "observedGeneration": 2,
            "conditions": [{ "type": "Ready", "status": "False", "reason": "WaitingForWindow", "message": "pausing" }],
            "restore": [{ "vmid": 100, "node": "pve1", "action": "Resume" }],
            "window": { "vms": [{ "vmid": 100, "node": "pve1" }, { "vmid": 101, "node": "pve2", "alreadyQuiet": true }] } }));
        assert_eq!(
            progress_line("VolumeSnapshot", &o),
            "VolumeSnapshot/x: InProgress (WaitingForWindow): pausing [VM 100 paused, VM 101 already quiet]"
        );
    }

    #[test]
    fn ages_and_tables() {
        let now: DateTime<Utc> = "2026-01-05T12:00:00Z".parse().unwrap();
        assert_eq!(age(Some(now - chrono::Duration::seconds(30)), now), "30s");
        assert_eq!(age(Some(now - chrono::Duration::minutes(30)), now), "30m");
        assert_eq!(age(Some(now - chrono::Duration::hours(30)), now), "30h");
        assert_eq!(age(Some(now - chrono::Duration::days(9)), now), "9d");
        assert_eq!(age(None, now), "-");
        assert_eq!(
            table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]),
            "A    BB\nxyz  1\n"
        );
    }
}
