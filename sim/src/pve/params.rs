//! Request parameters the way pve-http-server collects them: the query string plus a
//! `application/x-www-form-urlencoded` or `application/json` body, the query winning on conflicts.
//! Everything is kept as text, like the Perl side sees it before schema validation.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap};

use super::error::{PveError, PveResult};

#[derive(Debug, Clone, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    pub fn from_request(
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> PveResult<Params> {
        let mut values = BTreeMap::new();
        if !body.is_empty() {
            let is_json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.trim_start().starts_with("application/json"));
            if is_json {
                let parsed: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                    PveError::param("_root", format!("unable to parse JSON body - {e}"))
                })?;
                let serde_json::Value::Object(map) = parsed else {
                    return Err(PveError::param("_root", "JSON body must be an object"));
                };
                for (k, v) in map {
                    let text = match v {
                        serde_json::Value::Null => continue,
                        serde_json::Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    values.insert(k, text);
                }
            } else {
                for (k, v) in url::form_urlencoded::parse(body) {
                    values.insert(k.into_owned(), v.into_owned());
                }
            }
        }
        if let Some(q) = query {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                values.insert(k.into_owned(), v.into_owned());
            }
        }
        Ok(Params { values })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn take(&mut self, key: &str) -> Option<String> {
        self.values.remove(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.values
    }

    /// PVE's top-level boolean check: only `0`/`1` (JSON booleans were turned into those above).
    pub fn take_bool(&mut self, key: &str) -> PveResult<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                "1" => Ok(Some(true)),
                "0" => Ok(Some(false)),
                _ => Err(PveError::param(
                    key,
                    format!("type check ('boolean') failed - got '{v}'"),
                )),
            },
        }
    }

    pub fn take_int(&mut self, key: &str, min: Option<i64>) -> PveResult<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => {
                let n: i64 = v.parse().map_err(|_| {
                    PveError::param(key, format!("type check ('integer') failed - got '{v}'"))
                })?;
                if let Some(min) = min {
                    if n < min {
                        return Err(PveError::param(
                            key,
                            format!("value must have a minimum value of {min}"),
                        ));
                    }
                }
                Ok(Some(n))
            }
        }
    }

    /// Fails like PVE's schema validator when parameters outside `allowed` remain.
    pub fn reject_unknown(&self, allowed: &[&str]) -> PveResult<()> {
        let unknown: Vec<(String, String)> = self
            .values
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| {
                (k.clone(), "property is not defined in schema and the schema does not allow additional properties".into())
            })
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(PveError::params(unknown))
        }
    }

    pub fn require(&mut self, key: &str) -> PveResult<String> {
        self.take(key)
            .ok_or_else(|| PveError::param(key, "property is missing and it is not optional"))
    }
}
