//! ONTAP's error envelope: `{"error": {"message", "code", "target"?}}` with `code` as a string.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// Codes used by the simulator (from NetApp's per-operation error tables).
pub mod codes {
    pub const DUPLICATE: &str = "1";
    pub const INVALID_FIELD: &str = "2";
    pub const NOT_SUPPORTED: &str = "3";
    pub const NOT_FOUND: &str = "4";
    pub const NOT_AUTHORIZED: &str = "6";
    pub const UNEXPECTED_ARGUMENT: &str = "262179";
    pub const INVALID_FIELDS_VALUE: &str = "262197";
    pub const VOLUME_NAME_DUPLICATE: &str = "917526";
    pub const VOLUME_NAME_TOO_LONG: &str = "917886";
    pub const VOLUME_NAME_BAD_START: &str = "917887";
    pub const VOLUME_NAME_INVALID: &str = "917888";
    pub const NAS_PATH_INVALID: &str = "918252";
    pub const CLONE_PARENT_NOT_FOUND: &str = "524601";
    pub const CLONE_SNAPSHOT_MISMATCH: &str = "918243";
    pub const CLONE_INVALID_TYPE: &str = "918244";
    pub const CLONE_FIELD_NOT_ALLOWED: &str = "918247";
    pub const CLONE_CREATE_FAILED: &str = "524597";
    pub const VOLUME_HAS_CLONES: &str = "524615";
    pub const VOLUME_NOT_ONLINE: &str = "9437885";
    pub const SPLIT_INVALID: &str = "918248";
    pub const RESTORE_INVALID: &str = "918251";
    pub const RESTORE_FAILED: &str = "524511";
    pub const SVM_NOT_FOUND: &str = "2621462";
    pub const AGGREGATE_NOT_FOUND: &str = "917927";
    pub const JUNCTION_IN_USE: &str = "917820";
    pub const SNAPSHOT_DUPLICATE: &str = "525059";
    pub const SNAPSHOT_NAME_INVALID: &str = "1638518";
    pub const SNAPSHOT_VOLUME_OFFLINE: &str = "524479";
    pub const SNAPSHOT_MAX: &str = "525062";
    pub const SNAPSHOT_BUSY: &str = "1638555";
    pub const SNAPSHOT_NOT_FOUND: &str = "1638600";
    pub const FILE_CLONE_ABSOLUTE_DEST: &str = "917812";
    pub const FILE_CLONE_VOLUME_MISMATCH: &str = "918236";
    pub const FILE_CLONE_FAILED: &str = "13565952";
    pub const FILES_VOLUME_OFFLINE: &str = "917752";
    pub const FILES_VOLUME_NOT_FOUND: &str = "918235";
    pub const FILES_NO_SUCH_FILE: &str = "6684674";
    pub const FILES_EXISTS: &str = "6488118";
    pub const FILES_NO_PERMISSIONS: &str = "6488084";
    pub const FILES_NO_TYPE: &str = "6488085";
    pub const FILES_NOT_EMPTY: &str = "131138";
    pub const CLI_ERROR: &str = "262145";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct OntapError {
    #[serde(skip, default = "default_status")]
    pub status: u16,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
}

fn default_status() -> u16 {
    400
}

impl OntapError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> OntapError {
        OntapError {
            status,
            code: code.to_string(),
            message: message.into(),
            target: None,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> OntapError {
        Self::new(400, code, message)
    }

    pub fn with_target(mut self, target: impl Into<String>) -> OntapError {
        self.target = Some(target.into());
        self
    }

    /// The path object does not exist: 404, code 4, as ONTAP answers for a bad UUID in the path.
    pub fn not_found(target: &str) -> OntapError {
        Self::new(404, codes::NOT_FOUND, "entry doesn't exist").with_target(target)
    }

    pub fn missing_field(field: &str) -> OntapError {
        Self::bad_request(
            codes::INVALID_FIELD,
            format!("Missing value for field \"{field}\"."),
        )
        .with_target(field)
    }

    pub fn invalid_value(field: &str, value: &str) -> OntapError {
        Self::bad_request(
            codes::INVALID_FIELD,
            format!("The value \"{value}\" is invalid for field \"{field}\""),
        )
        .with_target(field)
    }

    pub fn unexpected_argument(name: &str) -> OntapError {
        Self::bad_request(
            codes::UNEXPECTED_ARGUMENT,
            format!("Unexpected argument \"{name}\"."),
        )
        .with_target(name)
    }

    pub fn body(&self) -> serde_json::Value {
        let mut e = serde_json::json!({ "message": self.message, "code": self.code });
        if let Some(t) = &self.target {
            e["target"] = serde_json::Value::String(t.clone());
        }
        serde_json::json!({ "error": e })
    }
}

impl IntoResponse for OntapError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(self.body())).into_response()
    }
}

pub type OntapResult<T> = Result<T, OntapError>;
