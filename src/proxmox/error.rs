//! Errors of the Proxmox VE client, classified once at the HTTP boundary.
//!
//! Proxmox has no error codes: handler errors are HTTP 500 with the message as reason phrase (e.g. a missing VM is
//! `500 Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist`). The text is therefore matched here,
//! in one place, against the documented messages; callers only see the variants.

use std::collections::BTreeMap;

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProxmoxError {
    /// The VM, storage, volume or task does not exist (HTTP 404, or 500 "... does not exist").
    #[error("not found: {message}")]
    NotFound { message: String },
    /// The object already exists (e.g. `storage ID 'x' already defined`, VMID in use).
    #[error("already exists: {message}")]
    AlreadyExists { message: String },
    /// Authentication failed (HTTP 401): wrong token, user or password, or an expired ticket that could not be renewed.
    #[error("authentication failed: {message}")]
    Unauthorized { message: String },
    /// The credentials lack a privilege (HTTP 403).
    #[error("permission denied: {message}")]
    Forbidden { message: String },
    /// The request was rejected as invalid (HTTP 400 parameter verification, unknown option, ...).
    #[error("invalid request: {message}{}", format_param_errors(.errors))]
    Invalid {
        message: String,
        errors: BTreeMap<String, String>,
    },
    /// The VM is locked (`VM is locked (<reason>)`) or its config file lock timed out. Retry later.
    #[error("locked: {message}")]
    Locked { message: String },
    /// The config changed since it was read (digest mismatch). Re-read and retry.
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// The guest agent is not configured or not answering.
    #[error("guest agent unavailable: {message}")]
    AgentUnavailable { message: String },
    /// The VM is not in a state that allows the operation (not running, paused, already running).
    #[error("VM state does not allow this: {message}")]
    WrongState { message: String },
    /// Any other error the API handler raised (HTTP 500/501 with a message).
    #[error("Proxmox refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    /// Connection errors, timeouts, proxy errors (595–599), 502–504, 429. Retry with backoff.
    #[error("transient error: {message}")]
    Transient { message: String },
    /// An asynchronous task ended with an exit status other than `OK` / `WARNINGS: n`.
    #[error("task {upid} failed: {exitstatus}")]
    TaskFailed { upid: String, exitstatus: String },
    /// A response that is not what the API documents.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// Client configuration is unusable (bad CA bundle, malformed token, no endpoints).
    #[error("client configuration: {0}")]
    Config(String),
}

fn format_param_errors(errors: &BTreeMap<String, String>) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.trim()))
        .collect();
    format!(" ({})", parts.join("; "))
}

impl ProxmoxError {
    /// Worth retrying with backoff without any change to the request.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProxmoxError::Locked { .. }
                | ProxmoxError::Conflict { .. }
                | ProxmoxError::Transient { .. }
                | ProxmoxError::Protocol(_)
        )
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ProxmoxError::NotFound { .. })
    }

    /// A short static name for metrics labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            ProxmoxError::NotFound { .. } => "NotFound",
            ProxmoxError::AlreadyExists { .. } => "AlreadyExists",
            ProxmoxError::Unauthorized { .. } => "Unauthorized",
            ProxmoxError::Forbidden { .. } => "Forbidden",
            ProxmoxError::Invalid { .. } => "Invalid",
            ProxmoxError::Locked { .. } => "Locked",
            ProxmoxError::Conflict { .. } => "Conflict",
            ProxmoxError::AgentUnavailable { .. } => "AgentUnavailable",
            ProxmoxError::WrongState { .. } => "WrongState",
            ProxmoxError::Refused { .. } => "Refused",
            ProxmoxError::Transient { .. } => "Transient",
            ProxmoxError::TaskFailed { .. } => "TaskFailed",
            ProxmoxError::Protocol(_) => "Protocol",
            ProxmoxError::Config(_) => "Config",
        }
    }

    /// Classifies an HTTP error response. `message` is the reason phrase or the body's `message`; `errors` the
    /// per-parameter messages of a 400.
    pub fn from_response(
        status: u16,
        message: &str,
        errors: BTreeMap<String, String>,
    ) -> ProxmoxError {
        let message = message.trim().to_string();
        let lower = message.to_ascii_lowercase();
        match status {
            401 => ProxmoxError::Unauthorized { message },
            403 => ProxmoxError::Forbidden { message },
            404 => ProxmoxError::NotFound { message },
            429 | 502 | 503 | 504 | 595..=599 => ProxmoxError::Transient { message },
            // "no such task" right after a task was started is a race, not an absence.
            400 if errors
                .get("upid")
                .is_some_and(|e| e.contains("no such task"))
                || lower.contains("no such task") =>
            {
                ProxmoxError::Transient {
                    message: if message.is_empty() {
                        "no such task".into()
                    } else {
                        message
                    },
                }
            }
            400 => ProxmoxError::Invalid { message, errors },
            _ => classify_handler_error(status, message, &lower, errors),
        }
    }

    /// Classifies a request that got no HTTP response.
    pub fn from_transport(err: &reqwest::Error) -> ProxmoxError {
        // reqwest's Display includes the URL (no credentials: those travel in headers) and the cause chain.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        if err.is_builder() {
            ProxmoxError::Config(message)
        } else if err.is_decode() {
            ProxmoxError::Protocol(message)
        } else {
            ProxmoxError::Transient { message }
        }
    }
}

fn classify_handler_error(
    status: u16,
    message: String,
    lower: &str,
    errors: BTreeMap<String, String>,
) -> ProxmoxError {
    if lower.contains("does not exist")
        || lower.contains("no such vm")
        || lower.starts_with("no such ")
        || lower.contains("unable to find configuration file")
    {
        ProxmoxError::NotFound { message }
    } else if lower.contains("vm is locked") || lower.contains("can't lock file") {
        ProxmoxError::Locked { message }
    } else if lower.contains("checksum mismatch")
        || lower.contains("detected modified configuration")
    {
        ProxmoxError::Conflict { message }
    } else if lower.contains("already defined") || lower.contains("already exists") {
        ProxmoxError::AlreadyExists { message }
    } else if lower.contains("no qemu guest agent configured")
        || lower.contains("guest agent is not running")
    {
        ProxmoxError::AgentUnavailable { message }
    } else if lower.contains("not running")
        || lower.contains("already running")
        || lower.contains("vm is paused")
    {
        ProxmoxError::WrongState { message }
    } else if lower.contains("permission check failed") {
        ProxmoxError::Forbidden { message }
    } else if lower.contains("connection timed out")
        || lower.contains("connection refused")
        || lower.contains("is not online")
    {
        // Proxied calls to another node surface like this even as plain 500s on older servers; "storage 'x' is not
        // online" means the NFS server did not answer (showmount/rpcinfo) and may well answer later.
        ProxmoxError::Transient { message }
    } else if !errors.is_empty() {
        ProxmoxError::Invalid { message, errors }
    } else {
        ProxmoxError::Refused { status, message }
    }
}

pub type Result<T, E = ProxmoxError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, msg: &str) -> ProxmoxError {
        ProxmoxError::from_response(status, msg, BTreeMap::new())
    }

    #[test]
    fn missing_vm_is_not_found() {
        let e = classify(
            500,
            "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist",
        );
        assert!(e.is_not_found(), "{e:?}");
        assert!(!e.is_transient());
        assert!(classify(500, "storage 'nfs9' does not exist").is_not_found());
        assert!(classify(404, "").is_not_found());
    }

    #[test]
    fn locks_and_digest_conflicts_are_transient() {
        for m in [
            "VM is locked (backup)",
            "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout",
            "checksum mismatch (file change by other user?)",
            "update storage failed: detected modified configuration - file changed by other user? Try again.",
        ] {
            let e = classify(500, m);
            assert!(e.is_transient(), "{m}: {e:?}");
        }
        assert!(matches!(
            classify(500, "VM is locked (suspended)"),
            ProxmoxError::Locked { .. }
        ));
    }

    #[test]
    fn status_codes() {
        assert!(matches!(
            classify(401, "authentication failure"),
            ProxmoxError::Unauthorized { .. }
        ));
        assert!(matches!(
            classify(403, "Permission check failed (/vms/100, VM.PowerMgmt)"),
            ProxmoxError::Forbidden { .. }
        ));
        for s in [429, 502, 503, 504, 595, 596, 597, 599] {
            assert!(classify(s, "x").is_transient(), "{s}");
        }
        let mut errs = BTreeMap::new();
        errs.insert("vmid".to_string(), "invalid format".to_string());
        let e = ProxmoxError::from_response(400, "Parameter verification failed.", errs);
        assert!(matches!(e, ProxmoxError::Invalid { .. }));
        assert_eq!(
            e.to_string(),
            "invalid request: Parameter verification failed. (vmid: invalid format)"
        );
    }

    #[test]
    fn no_such_task_right_after_start_is_transient() {
        let mut errs = BTreeMap::new();
        errs.insert("upid".to_string(), "no such task".to_string());
        assert!(
            ProxmoxError::from_response(400, "Parameter verification failed.", errs).is_transient()
        );
    }

    #[test]
    fn handler_errors() {
        assert!(matches!(
            classify(
                500,
                "create storage failed: storage ID 'c1' already defined"
            ),
            ProxmoxError::AlreadyExists { .. }
        ));
        assert!(matches!(
            classify(500, "No QEMU guest agent configured"),
            ProxmoxError::AgentUnavailable { .. }
        ));
        assert!(matches!(
            classify(500, "QEMU guest agent is not running"),
            ProxmoxError::AgentUnavailable { .. }
        ));
        assert!(matches!(
            classify(500, "VM 100 not running"),
            ProxmoxError::WrongState { .. }
        ));
        assert!(matches!(
            classify(500, "VM is paused - cannot shutdown"),
            ProxmoxError::WrongState { .. }
        ));
        assert!(classify(500, "create storage failed: storage 'c1' is not online").is_transient());
        assert!(classify(
            500,
            "unable to find configuration file for VM 100 on node 'pve1'"
        )
        .is_not_found());
        let e = classify(500, "unexpected property 'shared'");
        assert!(matches!(e, ProxmoxError::Refused { status: 500, .. }));
        assert!(!e.is_transient());
    }
}
