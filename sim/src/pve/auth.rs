//! Authentication (tickets + CSRF tokens, API tokens) and privilege checks, after pve-access-control.

use std::collections::BTreeSet;

use axum::http::{header, HeaderMap, Method};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{PveError, PveResult};
use super::scenario::AclEntry;
use super::state::Pve;

/// Every privilege PVE 8 knows; `*` in an ACL grants them all.
pub const ALL_PRIVILEGES: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Group.Allocate",
    "Mapping.Audit",
    "Mapping.Modify",
    "Mapping.Use",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Incoming",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.Migrate",
    "VM.Monitor",
    "VM.PowerMgmt",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];

/// Who is calling: a user (by ticket) or a user's API token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub userid: String,
    pub tokenid: Option<String>,
}

impl Identity {
    /// `user@realm` or `user@realm!token`: the `authuser` PVE compares and writes into UPIDs.
    pub fn ident(&self) -> String {
        match &self.tokenid {
            Some(t) => format!("{}!{t}", self.userid),
            None => self.userid.clone(),
        }
    }

    /// `root@pam` itself; its tokens are not root for root-only options, as in PVE.
    pub fn is_root(&self) -> bool {
        self.tokenid.is_none() && self.userid == "root@pam"
    }
}

fn sign(key: &str, data: &str) -> String {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(b"\0");
    h.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(h.finalize())
}

/// `PVE:<userid>:<8 hex time>::<signature>`.
pub fn create_ticket(pve: &Pve, userid: &str, now: i64) -> String {
    let data = format!("PVE:{userid}:{now:08X}");
    format!("{data}::{}", sign(&pve.auth_key, &data))
}

/// `<8 hex time>:<signature>`, bound to the user.
pub fn create_csrf(pve: &Pve, userid: &str, now: i64) -> String {
    let ts = format!("{now:08X}");
    format!("{ts}:{}", sign(&pve.auth_key, &format!("{ts}:{userid}")))
}

fn within_lifetime(ts_hex: &str, now: i64, lifetime: i64) -> bool {
    i64::from_str_radix(ts_hex, 16).is_ok_and(|t| now - t >= -300 && now - t < lifetime)
}

/// Returns the user id a valid ticket belongs to.
pub fn verify_ticket(pve: &Pve, ticket: &str, now: i64, lifetime: i64) -> Option<String> {
    let (data, sig) = ticket.split_once("::")?;
    let rest = data.strip_prefix("PVE:")?;
    let (userid, ts) = rest.rsplit_once(':')?;
    if sign(&pve.auth_key, data) != sig || !within_lifetime(ts, now, lifetime) {
        return None;
    }
    Some(userid.to_string())
}

pub fn verify_csrf(pve: &Pve, token: &str, userid: &str, now: i64, lifetime: i64) -> bool {
    let Some((ts, sig)) = token.split_once(':') else {
        return false;
    };
    sign(&pve.auth_key, &format!("{ts}:{userid}")) == sig && within_lifetime(ts, now, lifetime)
}

fn cookie_ticket(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some(v) = pair.trim().strip_prefix("PVEAuthCookie=") {
                return Some(
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
            }
        }
    }
    None
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Whether the request carries an API token (used to refuse token use on `/access/ticket`).
pub fn has_token_header(headers: &HeaderMap) -> bool {
    authorization(headers).is_some_and(|a| a.starts_with("PVEAPIToken"))
}

/// `PVEAPIToken=<user>@<realm>!<tokenid>=<secret>` (a space may replace the first `=`).
fn parse_token_header(value: &str) -> Option<(String, String, String)> {
    let rest = value.strip_prefix("PVEAPIToken")?;
    let rest = rest
        .strip_prefix('=')
        .or_else(|| rest.strip_prefix(' '))?
        .trim_start();
    let (full_id, secret) = rest.split_once('=')?;
    let (userid, tokenid) = full_id.split_once('!')?;
    Some((
        userid.to_string(),
        tokenid.to_string(),
        secret.trim().to_string(),
    ))
}

/// Authenticates a request the way PVE's `auth_handler` does.
pub fn authenticate(
    pve: &Pve,
    headers: &HeaderMap,
    method: &Method,
    now: i64,
    lifetime: i64,
) -> PveResult<Identity> {
    if let Some(auth) = authorization(headers).filter(|a| a.starts_with("PVEAPIToken")) {
        let (userid, tokenid, secret) =
            parse_token_header(auth).ok_or_else(|| PveError::unauthorized("invalid API token"))?;
        let user = pve
            .user(&userid)
            .ok_or_else(|| PveError::unauthorized(format!("no such user ('{userid}')")))?;
        if !user.enabled {
            return Err(PveError::unauthorized(format!(
                "user '{userid}' is disabled"
            )));
        }
        let token = user
            .tokens
            .iter()
            .find(|t| t.id == tokenid)
            .ok_or_else(|| {
                PveError::unauthorized(format!("no such token '{tokenid}' for user '{userid}'"))
            })?;
        if token.expire > 0 && token.expire < now {
            return Err(PveError::unauthorized("token expired"));
        }
        if token.secret != secret {
            return Err(PveError::unauthorized("invalid token value!"));
        }
        return Ok(Identity {
            userid,
            tokenid: Some(tokenid),
        });
    }
    let ticket = cookie_ticket(headers)
        .or_else(|| {
            authorization(headers)
                .and_then(|a| a.strip_prefix("PVEAuthCookie="))
                .map(str::to_string)
        })
        .ok_or_else(|| PveError::unauthorized("No ticket"))?;
    let userid = verify_ticket(pve, &ticket, now, lifetime)
        .ok_or_else(|| PveError::unauthorized("permission denied - invalid PVE ticket"))?;
    match pve.user(&userid) {
        Some(u) if u.enabled => {}
        _ => {
            return Err(PveError::unauthorized(
                "permission denied - invalid PVE ticket",
            ))
        }
    }
    if method != Method::GET && method != Method::HEAD {
        let csrf = headers
            .get("CSRFPreventionToken")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !verify_csrf(pve, csrf, &userid, now, lifetime) {
            return Err(PveError::unauthorized(
                "Permission denied - invalid csrf token",
            ));
        }
    }
    Ok(Identity {
        userid,
        tokenid: None,
    })
}

fn acl_privs(acl: &[AclEntry], path: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in acl {
        let base = e.path.trim_end_matches('/');
        let matches = e.path == path
            || (e.propagate
                && (base.is_empty() || path == base || path.starts_with(&format!("{base}/"))));
        if !matches {
            continue;
        }
        for p in &e.privileges {
            if p == "*" || p == "Administrator" {
                out.extend(ALL_PRIVILEGES.iter().map(|s| s.to_string()));
            } else {
                out.insert(p.clone());
            }
        }
    }
    out
}

/// The privileges an identity holds on an ACL path.
pub fn privileges(pve: &Pve, who: &Identity, path: &str) -> BTreeSet<String> {
    let all = || {
        ALL_PRIVILEGES
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    };
    let Some(user) = pve.user(&who.userid) else {
        return BTreeSet::new();
    };
    let user_privs = if who.userid == "root@pam" {
        all()
    } else {
        match &user.acl {
            None => all(),
            Some(acl) => acl_privs(acl, path),
        }
    };
    match &who.tokenid {
        None => user_privs,
        Some(tid) => match user.tokens.iter().find(|t| &t.id == tid) {
            Some(t) if t.privsep => acl_privs(&t.acl, path)
                .intersection(&user_privs)
                .cloned()
                .collect(),
            Some(_) => user_privs,
            None => BTreeSet::new(),
        },
    }
}

pub fn has(pve: &Pve, who: &Identity, path: &str, privilege: &str) -> bool {
    privileges(pve, who, path).contains(privilege)
}

/// `check(['perm', path, [privs]])`: all listed privileges are needed.
pub fn check(pve: &Pve, who: &Identity, path: &str, privs: &[&str]) -> PveResult<()> {
    let held = privileges(pve, who, path);
    for p in privs {
        if !held.contains(*p) {
            return Err(PveError::forbidden(path, p));
        }
    }
    Ok(())
}

/// `check(['perm', path, [privs], any => 1])`.
pub fn check_any(pve: &Pve, who: &Identity, path: &str, privs: &[&str]) -> PveResult<()> {
    let held = privileges(pve, who, path);
    if privs.iter().any(|p| held.contains(*p)) {
        Ok(())
    } else {
        Err(PveError::forbidden(path, &privs.join("|")))
    }
}

/// The `cap` map of the login answer: privileges per top-level ACL area.
pub fn capabilities(pve: &Pve, who: &Identity) -> serde_json::Value {
    let area = |path: &str, prefixes: &[&str]| {
        let privs = privileges(pve, who, path);
        let map: serde_json::Map<String, serde_json::Value> = privs
            .into_iter()
            .filter(|p| prefixes.iter().any(|pre| p.starts_with(pre)))
            .map(|p| (p, serde_json::json!(1)))
            .collect();
        serde_json::Value::Object(map)
    };
    serde_json::json!({
        "vms": area("/vms", &["VM."]),
        "storage": area("/storage", &["Datastore."]),
        "nodes": area("/nodes", &["Sys."]),
        "dc": area("/", &["Sys.Audit", "SDN.", "Sys.Modify"]),
        "access": area("/access", &["User.", "Group.", "Permissions.", "Realm."]),
        "sdn": area("/sdn", &["SDN."]),
        "mapping": area("/mapping", &["Mapping."]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_header_forms() {
        assert_eq!(
            parse_token_header("PVEAPIToken=root@pam!ci=abc-def"),
            Some(("root@pam".into(), "ci".into(), "abc-def".into()))
        );
        assert_eq!(
            parse_token_header("PVEAPIToken root@pam!ci=abc"),
            Some(("root@pam".into(), "ci".into(), "abc".into()))
        );
        assert_eq!(parse_token_header("PVEAPIToken=root@pam=abc"), None);
    }

    #[test]
    fn acl_propagation() {
        let acl = vec![
            AclEntry {
                path: "/vms".into(),
                privileges: vec!["VM.Audit".into()],
                propagate: true,
            },
            AclEntry {
                path: "/storage".into(),
                privileges: vec!["Datastore.Audit".into()],
                propagate: false,
            },
        ];
        assert!(acl_privs(&acl, "/vms/100").contains("VM.Audit"));
        assert!(acl_privs(&acl, "/storage").contains("Datastore.Audit"));
        assert!(acl_privs(&acl, "/storage/ONTAP01").is_empty());
        assert!(acl_privs(&acl, "/vmsx").is_empty());
    }
}
