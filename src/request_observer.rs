//! A hook the HTTP clients of `crate::ontap` and `crate::proxmox` call once per request, so they can be observed
//! (metrics) without depending on what observes them. Paths are reduced to route templates here, because a
//! concrete path (a volume UUID, a VM id, a file path) as a label value would grow without bound.

use std::time::Duration;

/// Which API a request went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Ontap,
    Proxmox,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Ontap => "ontap",
            Backend::Proxmox => "proxmox",
        }
    }
}

/// How a request ended: a small fixed set, by HTTP status class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// 1xx–3xx.
    Ok,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No HTTP answer: connect failure, timeout, broken connection.
    TransportError,
}

impl Outcome {
    pub fn from_status(status: u16) -> Self {
        match status {
            500.. => Outcome::ServerError,
            400..=499 => Outcome::ClientError,
            _ => Outcome::Ok,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::TransportError => "transport_error",
        }
    }
}

/// One finished HTTP request.
#[derive(Clone, Debug)]
pub struct RequestEvent<'a> {
    pub backend: Backend,
    /// HTTP method (`GET`, `POST`, ...).
    pub method: &'a str,
    /// Route template, e.g. `/api/storage/volumes/{uuid}/snapshots`.
    pub endpoint: &'a str,
    pub outcome: Outcome,
    /// Time from sending the request until the response headers arrived (or the transport failed).
    pub duration: Duration,
}

/// Receives every request a client makes. Implementations must be cheap: they run on the request path.
pub trait RequestObserver: Send + Sync {
    fn observe(&self, event: &RequestEvent<'_>);
}

/// Reports one request to `observer`, if there is one.
pub(crate) fn report(
    observer: Option<&dyn RequestObserver>,
    backend: Backend,
    method: &str,
    endpoint: &str,
    outcome: Outcome,
    duration: Duration,
) {
    if let Some(o) = observer {
        o.observe(&RequestEvent {
            backend,
            method,
            endpoint,
            outcome,
            duration,
        });
    }
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Replaces the variable segments of `path` (the segment after a collection named in `params`; with `rest`, every
/// segment after it) and any UUID or number left, then drops the query.
fn template(path: &str, params: &[(&str, &str, bool)]) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut out = String::with_capacity(path.len());
    let mut expect: Option<(&str, bool)> = None;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if let Some((name, rest)) = expect {
            out.push_str(name);
            if rest {
                // The placeholder stands for everything after it (file paths may hold raw `/`).
                return out;
            }
            expect = None;
            continue;
        }
        if is_uuid(seg) {
            out.push_str("{uuid}");
        } else if is_number(seg) {
            out.push_str("{id}");
        } else {
            out.push_str(seg);
            expect = params
                .iter()
                .find(|(collection, _, _)| *collection == seg)
                .map(|(_, name, rest)| (*name, *rest));
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The route template of an ONTAP REST path (`/api/...`).
pub fn ontap_endpoint(path: &str) -> String {
    template(
        path,
        &[
            ("volumes", "{uuid}", false),
            ("snapshots", "{uuid}", false),
            ("jobs", "{uuid}", false),
            ("svms", "{uuid}", false),
            ("interfaces", "{uuid}", false),
            ("aggregates", "{uuid}", false),
            ("files", "{path}", true),
        ],
    )
}

/// The route template of a Proxmox VE API path, from `/api2/json` on (any base path before it is dropped).
pub fn proxmox_endpoint(path: &str) -> String {
    let path = match path.find("/api2/json") {
        Some(i) => &path[i..],
        None => path,
    };
    template(
        path,
        &[
            ("nodes", "{node}", false),
            ("qemu", "{vmid}", false),
            ("lxc", "{vmid}", false),
            ("storage", "{storage}", false),
            ("tasks", "{upid}", false),
            ("content", "{volume}", true),
            ("pools", "{poolid}", false),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ontap_templates() {
        let u = "6a1f0e2c-1b2d-11ef-9e3a-005056bb6f3e";
        let s = "0d7b3a1e-0000-4c4c-8a8a-123456789abc";
        let cases = [
            ("/api/cluster", "/api/cluster"),
            ("/api/svm/svms", "/api/svm/svms"),
            ("/api/storage/volumes", "/api/storage/volumes"),
            (
                &format!("/api/storage/volumes/{u}"),
                "/api/storage/volumes/{uuid}",
            ),
            (
                &format!("/api/storage/volumes/{u}/snapshots"),
                "/api/storage/volumes/{uuid}/snapshots",
            ),
            (
                &format!("/api/storage/volumes/{u}/snapshots/{s}"),
                "/api/storage/volumes/{uuid}/snapshots/{uuid}",
            ),
            (
                &format!("/api/storage/volumes/{u}/files"),
                "/api/storage/volumes/{uuid}/files",
            ),
            (
                &format!("/api/storage/volumes/{u}/files/images%2F100%2Fvm-100-disk-0%2Eraw"),
                "/api/storage/volumes/{uuid}/files/{path}",
            ),
            (
                "/api/storage/volumes/vol-1/files/a/b/c",
                "/api/storage/volumes/{uuid}/files/{path}",
            ),
            ("/api/storage/file/clone", "/api/storage/file/clone"),
            (
                &format!("/api/cluster/jobs/{u}"),
                "/api/cluster/jobs/{uuid}",
            ),
            (
                "/api/private/cli/volume/recovery-queue/purge",
                "/api/private/cli/volume/recovery-queue/purge",
            ),
            (
                "/api/storage/volumes?svm.name=svm1&name=v*",
                "/api/storage/volumes",
            ),
        ];
        for (path, want) in cases {
            assert_eq!(ontap_endpoint(path), want, "{path}");
        }
    }

    #[test]
    fn proxmox_templates() {
        let cases = [
            ("/api2/json/version", "/api2/json/version"),
            ("/api2/json/nodes", "/api2/json/nodes"),
            ("/api2/json/cluster/resources", "/api2/json/cluster/resources"),
            ("/api2/json/storage", "/api2/json/storage"),
            ("/api2/json/storage/ontap-nfs1", "/api2/json/storage/{storage}"),
            (
                "/api2/json/nodes/pve-a/qemu/100/config",
                "/api2/json/nodes/{node}/qemu/{vmid}/config",
            ),
            (
                "/api2/json/nodes/pve-a/qemu/100/status/current",
                "/api2/json/nodes/{node}/qemu/{vmid}/status/current",
            ),
            (
                "/api2/json/nodes/pve-a/qemu/100/agent/fsfreeze-freeze",
                "/api2/json/nodes/{node}/qemu/{vmid}/agent/fsfreeze-freeze",
            ),
            ("/api2/json/nodes/pve-a/qemu", "/api2/json/nodes/{node}/qemu"),
            (
                "/api2/json/nodes/pve-a/storage/nfs1/content",
                "/api2/json/nodes/{node}/storage/{storage}/content",
            ),
            (
                "/api2/json/nodes/pve-a/storage/nfs1/content/nfs1%3A100%2Fvm-100-disk-0.raw",
                "/api2/json/nodes/{node}/storage/{storage}/content/{volume}",
            ),
            (
                "/api2/json/nodes/pve-a/tasks/UPID:pve-a:0000A1B2:00C0FFEE:65A0B1C2:qmstart:100:root@pam:/status",
                "/api2/json/nodes/{node}/tasks/{upid}/status",
            ),
            (
                "/prefix/api2/json/nodes/n1/qemu/101/pending",
                "/api2/json/nodes/{node}/qemu/{vmid}/pending",
            ),
            ("/api2/json/access/ticket", "/api2/json/access/ticket"),
        ];
        for (path, want) in cases {
            assert_eq!(proxmox_endpoint(path), want, "{path}");
        }
    }

    #[test]
    fn outcomes_by_status() {
        assert_eq!(Outcome::from_status(200), Outcome::Ok);
        assert_eq!(Outcome::from_status(202), Outcome::Ok);
        assert_eq!(Outcome::from_status(404), Outcome::ClientError);
        assert_eq!(Outcome::from_status(500), Outcome::ServerError);
        assert_eq!(Outcome::from_status(503).as_str(), "server_error");
    }
}
