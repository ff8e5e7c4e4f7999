//! Errors of the ONTAP client, classified once from the HTTP status and ONTAP's numeric `error.code`
//! (codes from NetApp's per-operation error tables in the ONTAP REST API reference).

use thiserror::Error;

/// ONTAP error codes the client classifies. The REST API sends them as JSON strings; jobs as integers.
pub mod codes {
    pub const DUPLICATE: u64 = 1;
    pub const INVALID_FIELD: u64 = 2;
    pub const NOT_SUPPORTED: u64 = 3;
    pub const NOT_FOUND: u64 = 4;
    pub const PERMISSION_DENIED: u64 = 6;
    pub const RESOURCE_IN_USE: u64 = 8;
    /// Volume name is a duplicate.
    pub const VOLUME_NAME_DUPLICATE: u64 = 917_526;
    /// Another volume with this name is currently being created.
    pub const VOLUME_BEING_CREATED: u64 = 13_107_405;
    /// FlexClone parent volume not found.
    pub const CLONE_PARENT_NOT_FOUND: u64 = 524_601;
    /// Junction path already used by another volume.
    pub const JUNCTION_IN_USE: u64 = 917_820;
    /// Volume has one or more FlexClones and cannot be deleted.
    pub const VOLUME_HAS_CLONES: u64 = 524_615;
    /// Volume busy while being taken offline (retry).
    pub const VOLUME_BUSY_OFFLINING: u64 = 524_486;
    /// Snapshot name already exists.
    pub const SNAPSHOT_DUPLICATE: u64 = 525_059;
    /// Snapshot has not expired or is locked (e.g. it backs a FlexClone).
    pub const SNAPSHOT_BUSY: u64 = 1_638_555;
    /// Snapshot not deleted because the volume is locked or fenced.
    pub const SNAPSHOT_VOLUME_LOCKED: u64 = 524_481;
    /// Snapshot has an owner.
    pub const SNAPSHOT_HAS_OWNER: u64 = 1_638_543;
    /// Snapshot does not exist.
    pub const SNAPSHOT_NOT_FOUND: u64 = 1_638_600;
    /// Files API: volume UUID not found.
    pub const FILES_VOLUME_NOT_FOUND: u64 = 918_235;
    /// Files API: no such file or directory.
    pub const FILES_NO_SUCH_FILE: u64 = 6_684_674;
    /// Files API: file exists.
    pub const FILES_EXISTS: u64 = 6_488_118;
    /// Files API: directory not empty.
    pub const FILES_DIR_NOT_EMPTY: u64 = 131_138;
    /// SVM not found.
    pub const SVM_NOT_FOUND: u64 = 2_621_462;
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OntapError {
    /// The object does not exist.
    #[error("not found: {message} (ONTAP code {code})")]
    NotFound { code: u64, message: String },
    /// An object with this name (or junction path) already exists. Callers verify ownership before adopting it.
    #[error("already exists: {message} (ONTAP code {code})")]
    AlreadyExists { code: u64, message: String },
    /// The object is in use (a snapshot backing a FlexClone, a volume with clones).
    #[error("busy: {message} (ONTAP code {code})")]
    Busy { code: u64, message: String },
    /// Wrong username or password (HTTP 401).
    #[error("authentication failed: {message}")]
    Unauthorized { message: String },
    /// The account's role does not allow the call (HTTP 403, code 6).
    #[error("permission denied: {message}")]
    Forbidden { message: String },
    /// The request is invalid (HTTP 4xx).
    #[error("invalid request: {message} (ONTAP code {code}{})", target.as_deref().map(|t| format!(", target {t}")).unwrap_or_default())]
    Invalid {
        code: u64,
        message: String,
        target: Option<String>,
    },
    /// Connection errors, timeouts, 429, 5xx without a known permanent code. Retry with backoff.
    #[error("transient error: {message}")]
    Transient { message: String },
    /// A job ended in `failure` with a code not classified above.
    #[error("ONTAP job failed: {message} (code {code})")]
    JobFailed { code: u64, message: String },
    /// A response that is not what the API documents.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// Client configuration is unusable (bad CA bundle, bad endpoint).
    #[error("client configuration: {0}")]
    Config(String),
}

pub type Result<T, E = OntapError> = std::result::Result<T, E>;

impl OntapError {
    pub fn is_transient(&self) -> bool {
        matches!(self, OntapError::Transient { .. } | OntapError::Protocol(_))
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, OntapError::NotFound { .. })
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, OntapError::AlreadyExists { .. })
    }

    pub fn is_busy(&self) -> bool {
        matches!(self, OntapError::Busy { .. })
    }

    /// The ONTAP error code, when there is one.
    pub fn code(&self) -> Option<u64> {
        match self {
            OntapError::NotFound { code, .. }
            | OntapError::AlreadyExists { code, .. }
            | OntapError::Busy { code, .. }
            | OntapError::Invalid { code, .. }
            | OntapError::JobFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A short static name for metrics labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            OntapError::NotFound { .. } => "NotFound",
            OntapError::AlreadyExists { .. } => "AlreadyExists",
            OntapError::Busy { .. } => "Busy",
            OntapError::Unauthorized { .. } => "Unauthorized",
            OntapError::Forbidden { .. } => "Forbidden",
            OntapError::Invalid { .. } => "Invalid",
            OntapError::Transient { .. } => "Transient",
            OntapError::JobFailed { .. } => "JobFailed",
            OntapError::Protocol(_) => "Protocol",
            OntapError::Config(_) => "Config",
        }
    }

    /// Classifies an HTTP error response with ONTAP's error envelope.
    pub fn from_response(
        status: u16,
        code: Option<u64>,
        message: &str,
        target: Option<String>,
    ) -> OntapError {
        let message = message.trim().to_string();
        if status == 401 {
            return OntapError::Unauthorized { message };
        }
        if status == 403 || code == Some(codes::PERMISSION_DENIED) {
            return OntapError::Forbidden { message };
        }
        if status == 429 {
            return OntapError::Transient { message };
        }
        // Generic codes (1–8) on a 5xx describe the failed request loosely; only specific documented codes
        // outrank the "server error, retry" reading of a 5xx.
        let decisive = code.filter(|c| status < 500 || *c > codes::RESOURCE_IN_USE);
        if let Some(code) = decisive {
            if let Some(e) = classify_code(code, &message) {
                return e;
            }
        }
        match (status, code) {
            (404, c) => OntapError::NotFound {
                code: c.unwrap_or(codes::NOT_FOUND),
                message,
            },
            (409, c) => OntapError::AlreadyExists {
                code: c.unwrap_or(codes::DUPLICATE),
                message,
            },
            (500..=599, _) => OntapError::Transient {
                message: format!("HTTP {status}: {message}"),
            },
            (_, c) => OntapError::Invalid {
                code: c.unwrap_or(0),
                message,
                target,
            },
        }
    }

    /// Classifies a job that ended in `failure`.
    pub fn from_job_failure(code: u64, message: &str) -> OntapError {
        classify_code(code, message).unwrap_or_else(|| OntapError::JobFailed {
            code,
            message: message.trim().to_string(),
        })
    }

    pub(crate) fn from_transport(err: &reqwest::Error) -> OntapError {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        if err.is_builder() {
            OntapError::Config(message)
        } else if err.is_decode() {
            OntapError::Protocol(message)
        } else {
            OntapError::Transient { message }
        }
    }
}

/// Codes whose meaning does not depend on the HTTP status (they also appear inside failed jobs).
fn classify_code(code: u64, message: &str) -> Option<OntapError> {
    use codes::*;
    let message = message.trim().to_string();
    Some(match code {
        NOT_FOUND
        | CLONE_PARENT_NOT_FOUND
        | SNAPSHOT_NOT_FOUND
        | FILES_VOLUME_NOT_FOUND
        | FILES_NO_SUCH_FILE
        | SVM_NOT_FOUND => OntapError::NotFound { code, message },
        DUPLICATE | VOLUME_NAME_DUPLICATE | SNAPSHOT_DUPLICATE | FILES_EXISTS | JUNCTION_IN_USE => {
            OntapError::AlreadyExists { code, message }
        }
        RESOURCE_IN_USE
        | SNAPSHOT_BUSY
        | SNAPSHOT_HAS_OWNER
        | VOLUME_HAS_CLONES
        | SNAPSHOT_VOLUME_LOCKED => OntapError::Busy { code, message },
        VOLUME_BUSY_OFFLINING | VOLUME_BEING_CREATED => OntapError::Transient {
            message: format!("{message} (ONTAP code {code})"),
        },
        PERMISSION_DENIED => OntapError::Forbidden { message },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_classes() {
        assert!(matches!(
            OntapError::from_response(401, None, "", None),
            OntapError::Unauthorized { .. }
        ));
        assert!(matches!(
            OntapError::from_response(403, Some(6), "not authorized for that command", None),
            OntapError::Forbidden { .. }
        ));
        assert!(OntapError::from_response(
            404,
            Some(4),
            "entry doesn't exist",
            Some("uuid".into())
        )
        .is_not_found());
        assert!(OntapError::from_response(429, None, "slow down", None).is_transient());
        assert!(OntapError::from_response(503, None, "", None).is_transient());
        assert!(OntapError::from_response(500, Some(123_456), "internal", None).is_transient());
        assert!(
            OntapError::from_response(503, Some(1), "service unavailable", None).is_transient()
        );
        let e = OntapError::from_response(
            400,
            Some(262_197),
            "The value \"x\" is invalid for field \"fields\"",
            Some("fields".into()),
        );
        assert!(matches!(e, OntapError::Invalid { code: 262_197, .. }));
        assert!(!e.is_transient());
    }

    #[test]
    fn documented_codes_win_over_status() {
        assert!(
            OntapError::from_response(400, Some(917_526), "duplicate volume name", None)
                .is_already_exists()
        );
        assert!(
            OntapError::from_response(409, Some(525_059), "snapshot exists", None)
                .is_already_exists()
        );
        assert!(
            OntapError::from_response(400, Some(6_684_674), "No such file or directory", None)
                .is_not_found()
        );
        // A documented permanent code on a 500 is not retried blindly.
        assert!(OntapError::from_response(500, Some(524_615), "volume has clones", None).is_busy());
        assert!(OntapError::from_response(400, Some(524_486), "volume busy", None).is_transient());
    }

    #[test]
    fn job_failures() {
        let busy = OntapError::from_job_failure(
            1_638_555,
            "Snapshot copy \"s\" of volume \"v\" has not expired or is locked.",
        );
        assert!(busy.is_busy());
        assert_eq!(busy.code(), Some(1_638_555));
        assert!(OntapError::from_job_failure(4, "entry doesn't exist").is_not_found());
        let other = OntapError::from_job_failure(13_565_952, "Clone start failed");
        assert_eq!(
            other,
            OntapError::JobFailed {
                code: 13_565_952,
                message: "Clone start failed".into()
            }
        );
        assert_eq!(
            other.to_string(),
            "ONTAP job failed: Clone start failed (code 13565952)"
        );
    }
}
