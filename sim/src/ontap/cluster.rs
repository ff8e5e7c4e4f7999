//! Read-only cluster objects: `/api/cluster`, `/api/svm/svms`, `/api/network/ip/interfaces`,
//! `/api/protocols/nfs/export-policies`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::OntapError;
use super::query::{collection, FieldSel, QueryParams, Schema};
use super::state::Ontap;
use crate::world::Sim;

const CLUSTER_SCHEMA: Schema = Schema {
    keys: &[],
    default_fields: &[],
    expensive: &[],
    known: &[
        "name",
        "uuid",
        "version.full",
        "version.generation",
        "version.major",
        "version.minor",
        "location",
        "contact",
    ],
    sort_keys: &[],
};

pub async fn get_cluster(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    q.check(&["fields", "return_timeout", "ignore_unknown_fields"], None)?;
    let sel = FieldSel::parse(&q, &CLUSTER_SCHEMA)?;
    let full = sim.read(|w| {
        let c = &w.ontap.cluster;
        let (g, ma, mi) = c.version_parts();
        json!({
            "name": c.name,
            "uuid": c.uuid,
            "version": {
                "full": format!("NetApp Release {}: Mon Sep 23 12:00:00 UTC 2024", c.version),
                "generation": g,
                "major": ma,
                "minor": mi,
            },
            "location": "",
            "contact": "",
            "_links": { "self": { "href": "/api/cluster" } },
        })
    });
    Ok(Json(sel.project(&full, &CLUSTER_SCHEMA, true)))
}

const SVM_SCHEMA: Schema = Schema {
    keys: &["uuid", "name"],
    default_fields: &[],
    expensive: &[],
    known: &[
        "uuid",
        "name",
        "state",
        "subtype",
        "language",
        "nfs.enabled",
        "cifs.enabled",
        "iscsi.enabled",
        "ip_interfaces",
        "aggregates",
    ],
    sort_keys: &["name"],
};

fn svms(o: &Ontap) -> Vec<Value> {
    o.svms
        .iter()
        .map(|s| {
            let lifs: Vec<Value> = o
                .interfaces
                .iter()
                .filter(|i| i.svm_uuid == s.uuid)
                .map(|i| json!({ "name": i.name, "uuid": i.uuid, "ip": { "address": i.ip }, "services": i.services }))
                .collect();
            json!({
                "uuid": s.uuid,
                "name": s.name,
                "state": "running",
                "subtype": "default",
                "language": "c.utf_8",
                "nfs": { "enabled": true },
                "cifs": { "enabled": false },
                "iscsi": { "enabled": false },
                "ip_interfaces": lifs,
                "aggregates": o.aggregates.iter().map(|a| json!({ "name": a.name, "uuid": a.uuid })).collect::<Vec<_>>(),
                "_links": { "self": { "href": format!("/api/svm/svms/{}", s.uuid) } },
            })
        })
        .collect()
}

/// GET of one record by its key: the query may only select fields; a missing record is ONTAP's 404 on `target`.
fn one_record(
    raw: Option<&str>,
    schema: &Schema,
    target: &str,
    find: impl FnOnce() -> Option<Value>,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw);
    q.check(&["fields", "ignore_unknown_fields"], None)?;
    let sel = FieldSel::parse(&q, schema)?;
    let rec = find().ok_or_else(|| OntapError::not_found(target))?;
    Ok(Json(sel.project(&rec, schema, true)))
}

pub async fn get_svms(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let records = sim.read(|w| svms(&w.ontap));
    collection("/api/svm/svms", &q, &SVM_SCHEMA, records, &[]).map(Json)
}

pub async fn get_svm(
    State(sim): State<Arc<Sim>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    one_record(raw.as_deref(), &SVM_SCHEMA, "uuid", || {
        sim.read(|w| {
            svms(&w.ontap)
                .into_iter()
                .find(|r| r["uuid"] == uuid.as_str())
        })
    })
}

const LIF_SCHEMA: Schema = Schema {
    keys: &["uuid", "name"],
    default_fields: &[],
    expensive: &[],
    known: &[
        "uuid",
        "name",
        "ip.address",
        "ip.netmask",
        "ip.family",
        "scope",
        "svm.name",
        "svm.uuid",
        "state",
        "enabled",
        "services",
        "service_policy.name",
        "location.home_node.name",
        "location.node.name",
        "location.is_home",
        "ipspace.name",
    ],
    sort_keys: &["name"],
};

fn lifs(o: &Ontap) -> Vec<Value> {
    o.interfaces
        .iter()
        .map(|i| {
            json!({
                "uuid": i.uuid,
                "name": i.name,
                "ip": { "address": i.ip, "netmask": i.netmask, "family": "ipv4" },
                "scope": "svm",
                "svm": { "name": i.svm_name, "uuid": i.svm_uuid, "_links": { "self": { "href": format!("/api/svm/svms/{}", i.svm_uuid) } } },
                "state": if i.up { "up" } else { "down" },
                "enabled": i.up,
                "services": i.services,
                "service_policy": { "name": "default-data-files" },
                "ipspace": { "name": "Default" },
                "location": { "home_node": { "name": "sim-cluster-01" }, "node": { "name": "sim-cluster-01" }, "is_home": true },
                "_links": { "self": { "href": format!("/api/network/ip/interfaces/{}", i.uuid) } },
            })
        })
        .collect()
}

pub async fn get_interfaces(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let records = sim.read(|w| lifs(&w.ontap));
    collection("/api/network/ip/interfaces", &q, &LIF_SCHEMA, records, &[]).map(Json)
}

pub async fn get_interface(
    State(sim): State<Arc<Sim>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    one_record(raw.as_deref(), &LIF_SCHEMA, "uuid", || {
        sim.read(|w| {
            lifs(&w.ontap)
                .into_iter()
                .find(|r| r["uuid"] == uuid.as_str())
        })
    })
}

const POLICY_SCHEMA: Schema = Schema {
    keys: &["id", "name"],
    default_fields: &[],
    expensive: &[],
    known: &["id", "name", "svm.name", "svm.uuid", "rules"],
    sort_keys: &["svm.name", "name"],
};

fn policies(o: &Ontap) -> Vec<Value> {
    o.export_policies
        .iter()
        .map(|p| {
            let rules: Vec<Value> = p
                .rules
                .iter()
                .map(|r| {
                    json!({
                        "index": r.index,
                        "clients": r.clients.iter().map(|c| json!({ "match": c })).collect::<Vec<_>>(),
                        "protocols": r.protocols,
                        "ro_rule": r.ro_rule,
                        "rw_rule": r.rw_rule,
                        "superuser": r.superuser,
                        "anonymous_user": "65534",
                    })
                })
                .collect();
            json!({
                "id": p.id,
                "name": p.name,
                "svm": { "name": p.svm_name, "uuid": p.svm_uuid },
                "rules": rules,
                "_links": { "self": { "href": format!("/api/protocols/nfs/export-policies/{}", p.id) } },
            })
        })
        .collect()
}

pub async fn get_policies(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    let q = QueryParams::parse(raw.as_deref());
    let records = sim.read(|w| policies(&w.ontap));
    collection(
        "/api/protocols/nfs/export-policies",
        &q,
        &POLICY_SCHEMA,
        records,
        &[],
    )
    .map(Json)
}

pub async fn get_policy(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, OntapError> {
    one_record(raw.as_deref(), &POLICY_SCHEMA, "id", || {
        sim.read(|w| {
            policies(&w.ontap)
                .into_iter()
                .find(|r| r["id"].as_u64().is_some_and(|x| x.to_string() == id))
        })
    })
}
