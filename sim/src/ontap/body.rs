//! Request bodies: JSON objects, dotted keys expanded (`{"svm.name": "vs1"}` = `{"svm": {"name": "vs1"}}`).

use axum::extract::{FromRequest, Request};
use serde_json::Value;

use super::error::{codes, OntapError, OntapResult};
use super::state::{Ontap, Svm};

/// A JSON object body (an empty body counts as `{}`).
pub struct Body(pub Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = OntapError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                OntapError::bad_request(codes::INVALID_FIELD, format!("Invalid request body: {e}"))
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Value::Object(Default::default())));
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            OntapError::bad_request(codes::INVALID_FIELD, format!("Invalid JSON input: {e}"))
        })?;
        if !v.is_object() {
            return Err(OntapError::bad_request(
                codes::INVALID_FIELD,
                "The request body must be a JSON object.",
            ));
        }
        Ok(Body(super::query::expand_dotted(v)))
    }
}

/// Refuses top-level body fields the operation does not know.
pub fn check_fields(b: &Value, allowed: &[&str]) -> OntapResult<()> {
    if let Some(obj) = b.as_object() {
        for k in obj.keys() {
            if k != "_links" && !allowed.contains(&k.as_str()) {
                return Err(OntapError::unexpected_argument(k));
            }
        }
    }
    Ok(())
}

/// Resolves `{"name": …}` / `{"uuid": …}` to an SVM.
pub fn resolve_svm(o: &Ontap, v: Option<&Value>, field: &str) -> OntapResult<Svm> {
    let v = v.ok_or_else(|| OntapError::missing_field(&format!("{field}.name")))?;
    let by_uuid = v.get("uuid").and_then(Value::as_str);
    let by_name = v.get("name").and_then(Value::as_str);
    let svm = match (by_uuid, by_name) {
        (Some(u), n) => o.svm_by_uuid(u).filter(|s| n.is_none_or(|n| s.name == n)),
        (None, Some(n)) => o.svm_by_name(n),
        (None, None) => return Err(OntapError::missing_field(&format!("{field}.name"))),
    };
    svm.cloned().ok_or_else(|| {
        OntapError::bad_request(
            "2621462",
            format!(
                "The specified SVM \"{}\" does not exist.",
                by_name.or(by_uuid).unwrap_or_default()
            ),
        )
        .with_target(field)
    })
}
