//! PVE's error responses: status code, the first line of the message as the HTTP reason phrase, and a JSON
//! body `{"data": null, "errors": {...}, "message": "..."}` (pve-http-server `Formatter/Standard.pm`).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {message}")]
pub struct PveError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Option<BTreeMap<String, String>>,
}

impl PveError {
    /// A plain `die` inside a handler: HTTP 500 with the message.
    pub fn internal(message: impl Into<String>) -> Self {
        PveError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            errors: None,
        }
    }

    /// `raise_param_exc`: HTTP 400 `Parameter verification failed.` with per-parameter texts.
    pub fn params<I, K, V>(errors: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        PveError {
            status: StatusCode::BAD_REQUEST,
            message: "Parameter verification failed.".into(),
            errors: Some(
                errors
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    pub fn param(key: &str, message: impl Into<String>) -> Self {
        Self::params([(key.to_string(), message.into())])
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        PveError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
            errors: None,
        }
    }

    /// `Permission check failed (<path>, <privilege>)`.
    pub fn forbidden(path: &str, privilege: &str) -> Self {
        PveError {
            status: StatusCode::FORBIDDEN,
            message: format!("Permission check failed ({path}, {privilege})"),
            errors: None,
        }
    }

    pub fn forbidden_text(detail: impl Into<String>) -> Self {
        PveError {
            status: StatusCode::FORBIDDEN,
            message: format!("Permission check failed ({})", detail.into()),
            errors: None,
        }
    }

    pub fn not_implemented(method: &str, path: &str) -> Self {
        PveError {
            status: StatusCode::NOT_IMPLEMENTED,
            message: format!("Method '{method} {path}' not implemented"),
            errors: None,
        }
    }

    /// The exception text as PVE holds it, with the trailing newline its `die "...\n"` adds.
    pub fn text(&self) -> String {
        format!("{}\n", self.message)
    }
}

/// Reason phrases must be a single line of visible ASCII; PVE uses the first line of the message.
fn reason_phrase(message: &str) -> Option<hyper::ext::ReasonPhrase> {
    let line: String = message
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' || c == '\t' {
                c
            } else {
                '?'
            }
        })
        .collect();
    hyper::ext::ReasonPhrase::try_from(line.into_bytes()).ok()
}

impl IntoResponse for PveError {
    fn into_response(self) -> Response {
        let mut body = json!({ "data": null, "message": self.text() });
        if let Some(errors) = &self.errors {
            body["errors"] = json!(errors);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(reason) = reason_phrase(&self.message) {
            response.extensions_mut().insert(reason);
        }
        // PVE closes the keep-alive connection after every error response.
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        response
    }
}

pub type PveResult<T> = Result<T, PveError>;
