//! ONTAP collection semantics over JSON records: query filters (`*`, `|`, `!`, `<`/`>`, `null`), `fields`
//! (default set, `*`, `**`, explicit paths), `order_by`, `max_records` with `_links.next`, `return_records`.

use serde_json::{Map, Value};

use super::error::{codes, OntapError, OntapResult};

/// What one resource type looks like to the collection machinery.
pub struct Schema {
    /// Fields every record carries whatever `fields` says (identity).
    pub keys: &'static [&'static str],
    /// Added to `keys` in a collection GET without `fields`.
    pub default_fields: &'static [&'static str],
    /// Left out of `fields=*` (only returned when named or with `**`).
    pub expensive: &'static [&'static str],
    /// Every known field path (objects may be named by their prefix).
    pub known: &'static [&'static str],
    /// Natural order of the collection.
    pub sort_keys: &'static [&'static str],
}

/// The query string as ordered (name, value) pairs.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> QueryParams {
        QueryParams(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn bool(&self, name: &str) -> OntapResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(OntapError::invalid_value(name, v)),
        }
    }

    pub fn u64(&self, name: &str) -> OntapResult<Option<u64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| OntapError::invalid_value(name, v)),
        }
    }

    /// `return_timeout`: 0..=120 seconds (default 0).
    pub fn return_timeout(&self) -> OntapResult<u64> {
        let t = self.u64("return_timeout")?.unwrap_or(0);
        if t > 120 {
            return Err(OntapError::bad_request(
                codes::INVALID_FIELD,
                format!("The value \"{t}\" is invalid for field \"return_timeout\" (must be between 0 and 120)"),
            )
            .with_target("return_timeout"));
        }
        Ok(t)
    }

    /// Refuses parameters that are neither in `allowed` nor (when `filters` is given) a known field of the schema.
    pub fn check(&self, allowed: &[&str], filters: Option<&Schema>) -> OntapResult<()> {
        for (k, _) in &self.0 {
            if allowed.contains(&k.as_str()) || k.starts_with("start.") {
                continue;
            }
            if let Some(schema) = filters {
                if is_known(schema, k) {
                    continue;
                }
            }
            return Err(OntapError::unexpected_argument(k));
        }
        Ok(())
    }
}

/// Parameters every collection GET understands besides filters.
pub const COLLECTION_PARAMS: &[&str] = &[
    "fields",
    "max_records",
    "return_records",
    "return_timeout",
    "order_by",
    "ignore_unknown_fields",
];

pub fn is_known(schema: &Schema, field: &str) -> bool {
    schema.known.iter().any(|k| {
        *k == field
            || (k.len() > field.len() && k.starts_with(field) && k.as_bytes()[field.len()] == b'.')
            || (field.len() > k.len() && field.starts_with(k) && field.as_bytes()[k.len()] == b'.')
    }) || schema.keys.contains(&field)
}

pub fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.as_object()?.get(part)?;
    }
    Some(cur)
}

pub fn set_path(v: &mut Value, path: &str, value: Value) {
    let mut cur = v;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("made an object above");
        if i == parts.len() - 1 {
            obj.insert(part.to_string(), value);
            return;
        }
        cur = obj
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

pub fn remove_path(v: &mut Value, path: &str) {
    let (parent, last) = match path.rfind('.') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    let target = if parent.is_empty() {
        Some(v)
    } else {
        let mut cur = Some(v);
        for part in parent.split('.') {
            cur = cur
                .and_then(|c| c.as_object_mut())
                .and_then(|o| o.get_mut(part));
        }
        cur
    };
    if let Some(Value::Object(o)) = target {
        o.remove(last);
    }
}

/// The `fields` selection.
#[derive(Debug, Clone, Default)]
pub struct FieldSel {
    pub star: bool,
    pub star_star: bool,
    pub named: Vec<String>,
    pub given: bool,
}

impl FieldSel {
    pub fn parse(q: &QueryParams, schema: &Schema) -> OntapResult<FieldSel> {
        let mut sel = FieldSel::default();
        let Some(raw) = q.get("fields") else {
            return Ok(sel);
        };
        let ignore_unknown = q.get("ignore_unknown_fields").is_some_and(|v| v == "true");
        sel.given = true;
        for f in raw.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            match f {
                "*" => sel.star = true,
                "**" => sel.star_star = true,
                f if is_known(schema, f) || f == "_links" => sel.named.push(f.to_string()),
                f if ignore_unknown => {
                    let _ = f;
                }
                f => {
                    return Err(OntapError::bad_request(
                        codes::INVALID_FIELDS_VALUE,
                        format!("The value \"{f}\" is invalid for field \"fields\""),
                    )
                    .with_target("fields"))
                }
            }
        }
        Ok(sel)
    }

    /// Projects a full record. `instance` = GET of one object (default set is `*`).
    pub fn project(&self, full: &Value, schema: &Schema, instance: bool) -> Value {
        if self.star_star {
            return full.clone();
        }
        let star = self.star || (!self.given && instance);
        let mut out = if star {
            let mut v = full.clone();
            for e in schema.expensive {
                remove_path(&mut v, e);
            }
            v
        } else {
            let mut v = Value::Object(Map::new());
            let defaults: &[&str] = if self.given {
                &[]
            } else {
                schema.default_fields
            };
            for k in schema.keys.iter().chain(defaults.iter()) {
                if let Some(x) = get_path(full, k) {
                    set_path(&mut v, k, x.clone());
                }
            }
            v
        };
        for k in schema.keys {
            if let Some(x) = get_path(full, k) {
                set_path(&mut out, k, x.clone());
            }
        }
        for f in &self.named {
            if let Some(x) = get_path(full, f) {
                set_path(&mut out, f, x.clone());
            }
        }
        if let Some(l) = full.get("_links") {
            set_path(&mut out, "_links", l.clone());
        }
        out
    }
}

/// Matches one record value against a query expression.
pub fn matches(value: Option<&Value>, expr: &str) -> bool {
    expr.split('|').any(|alt| matches_one(value, alt))
}

fn matches_one(value: Option<&Value>, expr: &str) -> bool {
    let present = value.is_some_and(|v| !v.is_null());
    if expr == "null" {
        return !present;
    }
    if expr == "!null" {
        return present;
    }
    if let Some(rest) = expr.strip_prefix('!') {
        return present && !matches_one(value, rest);
    }
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return false;
    };
    if let Value::Array(items) = value {
        return items.iter().any(|i| matches_one(Some(i), expr));
    }
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    for (op, ord) in [
        ("<=", [true, true, false]),
        (">=", [false, true, true]),
        ("<", [true, false, false]),
        (">", [false, false, true]),
    ] {
        if let Some(rhs) = expr.strip_prefix(op) {
            let cmp = match (text.parse::<f64>(), rhs.parse::<f64>()) {
                (Ok(a), Ok(b)) => a.partial_cmp(&b),
                _ => Some(text.as_str().cmp(rhs)),
            };
            return match cmp {
                Some(std::cmp::Ordering::Less) => ord[0],
                Some(std::cmp::Ordering::Equal) => ord[1],
                Some(std::cmp::Ordering::Greater) => ord[2],
                None => false,
            };
        }
    }
    glob_ci(expr, &text)
}

/// Case-insensitive glob where `*` matches any run of characters.
pub fn glob_ci(pattern: &str, text: &str) -> bool {
    crate::faults::glob(&pattern.to_lowercase(), &text.to_lowercase())
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(x), Some(y)) => value_text(x).cmp(&value_text(y)),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs a collection GET over full records: filters, order, paging, projection, envelope.
pub fn collection(
    path: &str,
    q: &QueryParams,
    schema: &Schema,
    records: Vec<Value>,
    extra_params: &[&str],
) -> OntapResult<Value> {
    collection_with(
        path,
        q,
        schema,
        records,
        |_, view| view.clone(),
        extra_params,
    )
}

/// The fields a query filters or sorts on (to decide whether a cheap view of the records suffices).
pub fn referenced_fields<'a>(q: &'a QueryParams, extra_params: &[&str]) -> Vec<&'a str> {
    let mut out: Vec<&str> =
        q.0.iter()
            .filter(|(k, _)| {
                !COLLECTION_PARAMS.contains(&k.as_str())
                    && !extra_params.contains(&k.as_str())
                    && !k.starts_with("start.")
            })
            .map(|(k, _)| k.as_str())
            .collect();
    if let Some(ob) = q.get("order_by") {
        out.extend(ob.split(',').filter_map(|p| p.split_whitespace().next()));
    }
    out
}

/// Like `collection`, but filters and sorts on `views` and renders the full record (`full(index, view)`) only
/// for the records of the returned page, so large collections stay cheap.
pub fn collection_with(
    path: &str,
    q: &QueryParams,
    schema: &Schema,
    views: Vec<Value>,
    full: impl Fn(usize, &Value) -> Value,
    extra_params: &[&str],
) -> OntapResult<Value> {
    let mut allowed: Vec<&str> = COLLECTION_PARAMS.to_vec();
    allowed.extend_from_slice(extra_params);
    q.check(&allowed, Some(schema))?;
    let sel = FieldSel::parse(q, schema)?;
    let filters: Vec<(&str, &str)> =
        q.0.iter()
            .filter(|(k, _)| !allowed.contains(&k.as_str()) && !k.starts_with("start."))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
    let mut matched: Vec<(usize, Value)> = views
        .into_iter()
        .enumerate()
        .filter(|(_, r)| filters.iter().all(|(k, v)| matches(get_path(r, k), v)))
        .collect();

    let order_by = q.get("order_by");
    let mut order: Vec<(String, bool)> = Vec::new();
    if let Some(ob) = order_by {
        for part in ob.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.split_whitespace();
            let field = it.next().unwrap_or_default().to_string();
            let desc = match it.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => return Err(OntapError::invalid_value("order_by", other)),
            };
            if !is_known(schema, &field) {
                return Err(OntapError::invalid_value("order_by", &field));
            }
            order.push((field, desc));
        }
    }
    for k in schema.sort_keys {
        order.push((k.to_string(), false));
    }
    matched.sort_by(|(_, a), (_, b)| {
        for (field, desc) in &order {
            let c = compare_values(get_path(a, field), get_path(b, field));
            let c = if *desc { c.reverse() } else { c };
            if c != std::cmp::Ordering::Equal {
                return c;
            }
        }
        std::cmp::Ordering::Equal
    });

    let return_records = q.bool("return_records")?.unwrap_or(true);
    let total = matched.len();
    let self_href = href_with_query(path, q, &[]);
    if !return_records {
        return Ok(
            serde_json::json!({ "num_records": total, "_links": { "self": { "href": self_href } } }),
        );
    }

    // Paging: `start.offset` is an opaque continuation token carried by `_links.next`.
    let offset = q.u64("start.offset")?.unwrap_or(0) as usize;
    let max = q.u64("max_records")?.map(|m| m as usize);
    if max == Some(0) {
        return Err(OntapError::invalid_value("max_records", "0"));
    }
    let records: Vec<Value> = matched
        .iter()
        .skip(offset)
        .take(max.unwrap_or(usize::MAX))
        .map(|(i, view)| sel.project(&full(*i, view), schema, false))
        .collect();
    let next_offset = offset + records.len();
    let mut body = serde_json::json!({
        "records": records,
        "num_records": records.len(),
        "_links": { "self": { "href": self_href } },
    });
    if next_offset < total {
        let next = href_with_query(path, q, &[("start.offset", next_offset.to_string())]);
        body["_links"]["next"] = serde_json::json!({ "href": next });
    }
    Ok(body)
}

/// Rebuilds `/api/...?<query>` with some parameters replaced.
pub fn href_with_query(path: &str, q: &QueryParams, replace: &[(&str, String)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.0 {
        if replace.iter().any(|(r, _)| r == k) {
            continue;
        }
        ser.append_pair(k, v);
    }
    for (k, v) in replace {
        ser.append_pair(k, v);
    }
    let qs = ser.finish();
    if qs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{qs}")
    }
}

/// Turns dotted keys of a request body (`{"svm.name": "vs1"}`, as Ansible sends) into nested objects.
pub fn expand_dotted(body: Value) -> Value {
    match body {
        Value::Object(map) => {
            let mut out = Value::Object(Map::new());
            for (k, v) in map {
                let v = expand_dotted(v);
                merge_at(&mut out, &k, v);
            }
            out
        }
        Value::Array(items) => Value::Array(items.into_iter().map(expand_dotted).collect()),
        other => other,
    }
}

fn merge_at(out: &mut Value, path: &str, v: Value) {
    match (get_path(out, path).cloned(), v) {
        (Some(Value::Object(mut existing)), Value::Object(new)) => {
            existing.extend(new);
            set_path(out, path, Value::Object(existing));
        }
        (_, v) => set_path(out, path, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_expressions() {
        let v = json!("pve_images");
        assert!(matches(Some(&v), "pve_*"));
        assert!(matches(Some(&v), "x|pve_images"));
        assert!(!matches(Some(&v), "!pve_*"));
        assert!(matches(Some(&v), "!data*"));
        assert!(matches(None, "null"));
        assert!(!matches(None, "pve*"));
        let n = json!(100);
        assert!(matches(Some(&n), ">50"));
        assert!(matches(Some(&n), "<=100"));
        assert!(!matches(Some(&n), "<100"));
        assert!(matches(Some(&json!(true)), "true"));
        assert!(matches(Some(&json!(["data_nfs", "data_core"])), "data_nfs"));
    }

    #[test]
    fn dotted_bodies() {
        let b = expand_dotted(
            json!({"svm.name": "vs1", "name": "v", "nas": {"path": "/v"}, "nas.security_style": "unix"}),
        );
        assert_eq!(
            b,
            json!({"svm": {"name": "vs1"}, "name": "v", "nas": {"path": "/v", "security_style": "unix"}})
        );
    }
}
